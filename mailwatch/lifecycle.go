package mailwatch

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/ackd/ackd/internal/addrspec"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// Event kinds the store does not name; the rest are store.Event*.
const (
	EventResumed  = "resumed"
	EventNote     = "note"
	EventActivity = "activity"
	// EventUnproven: a mail in the name of staff, a lead, the assignee or
	// the department that nothing proved; kept as information only.
	EventUnproven = "unproven"
	// EventUnprovenNotice: the notice about it went to that address
	// (Actor); at most one per address and request a day.
	EventUnprovenNotice = "unproven-notice"
	// EventSkippedTooOld: a scheduled step was due more than max_age ago
	// and went out to nobody.
	EventSkippedTooOld = "skipped-too-old"
)

// unprovenNoticeEvery is how often one address may be told, per request,
// that a mail in its name was not acted on.
const unprovenNoticeEvery = 24 * time.Hour

// authority says whether a staff-looking mail is proven to come from its
// From address, found by the processor before planning (it may ask the
// store), and how, or why not.
type authority struct {
	proven bool
	how    string
	// noticed: the From address was told about an unproven mail on this
	// request within unprovenNoticeEvery.
	noticed bool
}

// plan is what one message or one clock tick does to a request: the row
// after the change, the mail to queue and the history to append. Plans are
// computed outside the store's transaction from a snapshot; apply refuses a
// plan whose snapshot went stale and the caller plans again.
type plan struct {
	next   store.Request
	mails  []store.NewMail
	events []store.Event
	// what for logs and Outcome.Action
	what string
}

func (pl *plan) event(kind string, at time.Time, actor, detail string, level int) {
	pl.events = append(pl.events, store.Event{Kind: kind, At: at, Actor: actor, Detail: detail, Level: level})
}

// applyPlan writes a plan if the request is still at the version it was
// planned from (store.ErrStale otherwise: the caller plans again), with the
// request's next wake-up computed from the row after the change.
func applyPlan(ctx context.Context, st store.Store, d *rules.Department, snapshot store.Request, pl plan, key string, f *Fetched, keys []string) (store.Request, error) {
	c := store.Change{RequestID: snapshot.ID, Version: snapshot.Version, MessageKey: key, ThreadKeys: keys, Events: pl.events}
	if f != nil {
		c.Mailbox, c.UID = f.Mailbox, f.UID
	}
	n := pl.next
	n.NextWake = nextWake(d, n)
	c.Update = func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.DueAt, r.CycleStart = n.State, n.DueAt, n.CycleStart
		r.FirstResponseAt, r.AnsweredAt = n.FirstResponseAt, n.AnsweredAt
		r.EscalationLevel, r.Reminders, r.AssignedTo = n.EscalationLevel, n.Reminders, n.AssignedTo
		r.LateNoticeFor, r.WaitingSince, r.ResolvedAt, r.LastActivityAt = n.LateNoticeFor, n.WaitingSince, n.ResolvedAt, n.LastActivityAt
		r.NextWake = n.NextWake
		return pl.mails, nil
	}
	return st.Apply(ctx, c)
}

// role is who wrote a message on a request's thread.
type role int

const (
	roleOther role = iota
	roleRequester
	roleRecipient // one of the request's own To/Cc recipients
	roleStaff
)

func inList(list []string, addr string) bool {
	for _, a := range list {
		if rules.EqualAddress(a, addr) {
			return true
		}
	}
	return false
}

func isDeptAddress(d *rules.Department, addr string) bool {
	return rules.EqualAddress(d.Address, addr) || inList(d.Aliases, addr)
}

// roleOf: staff, leads, the request's assignee and the department's own
// address (mail written by a person from the shared account; ackd's own
// mail never gets this far) look like staff, which their mail must still
// prove (see authority); the requester is the requester, the request's
// own recipients are recipients; anyone else on the thread is other.
func roleOf(d *rules.Department, req store.Request, from string) role {
	switch {
	case inList(d.Staff, from) || inList(d.Leads, from) || isDeptAddress(d, from) ||
		req.AssignedTo != "" && rules.EqualAddress(req.AssignedTo, from):
		return roleStaff
	case rules.EqualAddress(req.Requester, from):
		return roleRequester
	case inList(req.Recipients, from):
		return roleRecipient
	default:
		return roleOther
	}
}

func addressed(m *rules.Message, addr string) bool {
	for _, list := range [][]rules.Address{m.To, m.Cc} {
		for _, a := range list {
			if rules.EqualAddress(a.Address, addr) {
				return true
			}
		}
	}
	return false
}

func category(d *rules.Department, name string) *rules.Category {
	if c, ok := d.Categories[name]; ok {
		return c
	}
	return d.Categories[rules.DefaultCategory]
}

// newCycle restarts the commitment clock at `at` with commitment cm.
func newCycle(d *rules.Department, r *store.Request, at time.Time, cm rules.Commitment) {
	r.CycleStart = at
	r.DueAt = d.Calendar.Due(at, cm)
	r.EscalationLevel = 0
	r.LateNoticeFor = time.Time{}
	r.WaitingSince = time.Time{}
}

// planFollowUp decides what a message on a known thread means. auth is
// what proves the author of a staff-looking mail; it is ignored for others.
func (p *Processor) planFollowUp(rt *Runtime, d *rules.Department, req store.Request, m *rules.Message, at time.Time, fromSent bool, auth authority) (plan, error) {
	pl := plan{next: req, what: "follow-up"}
	from := m.From.Address
	cat := category(d, req.Category)
	who := roleOf(d, req, from)
	switch {
	case who == roleStaff && !auth.proven:
		// A From header proves nothing: kept as information, it changes,
		// relays and commands nothing.
		return p.planUnproven(rt, d, req, m, at, auth, pl)
	case who == roleOther:
		// Not the requester, nor someone the request was written to: a
		// subject tag or a reference does not let them chase or reopen.
		pl.event(EventActivity, at, from, "not the requester or a recipient of the request: information only", 0)
		pl.what = "information"
		return pl, nil
	}
	pl.next.LastActivityAt = at
	switch who {
	case roleStaff:
		return p.planStaff(rt, d, req, m, at, fromSent, pl)
	case roleRequester, roleRecipient:
		switch req.State {
		case store.StateNew, store.StateAcknowledged, store.StateOverdue:
			// Chasing an unanswered request: the figure the department
			// wants at zero. Escalate now rather than at the next step.
			pl.next.Reminders++
			pl.event(store.EventReminder, at, from, "", 0)
			reason := "the requester sent a reminder"
			if who == roleRecipient {
				reason = "a recipient of the request sent a reminder"
			}
			if err := escalate(rt, d, &pl, at, reason, cat); err != nil {
				return pl, err
			}
			pl.what = "reminder"
		case store.StateWaiting:
			if who != roleRequester {
				pl.event(EventActivity, at, from, "", 0)
				break
			}
			// The requester answered what staff waited for: the clock
			// runs again with the time that was left.
			left := d.Calendar.BusinessBetween(req.WaitingSince, req.DueAt)
			total := d.Calendar.BusinessBetween(req.CycleStart, req.DueAt)
			if left <= 0 {
				newCycle(d, &pl.next, at, cat.Followup)
			} else {
				pl.next.DueAt = d.Calendar.AddBusiness(at, left)
				pl.next.CycleStart = d.Calendar.SubBusiness(pl.next.DueAt, total)
				pl.next.WaitingSince = time.Time{}
			}
			pl.next.State = store.StateAcknowledged
			pl.event(EventResumed, at, from, "", 0)
			pl.what = "resumed"
		case store.StateAnswered, store.StateResolved:
			if who != roleRequester {
				pl.event(EventActivity, at, from, "", 0)
				break
			}
			// A reply after an answer needs staff again, under the
			// category's follow-up commitment.
			newCycle(d, &pl.next, at, cat.Followup)
			pl.next.State = store.StateAcknowledged
			pl.next.ResolvedAt = time.Time{}
			pl.event(store.EventReopened, at, from, "requester replied", 0)
			pl.what = "reopened"
		}
	}
	return pl, nil
}

// planUnproven keeps a staff-looking mail that nothing proved as an event
// and tells the address it claims to come from, at most once a day per
// request; the department's own address is never written to (that would
// be ackd writing into its own mailbox).
func (p *Processor) planUnproven(rt *Runtime, d *rules.Department, req store.Request, m *rules.Message, at time.Time, auth authority, pl plan) (plan, error) {
	from := m.From.Address
	p.log.Warn("staff-looking mail not proven; kept as information", "dept", d.Name, "ref", req.Ref, "from", from, "why", auth.how)
	pl.event(EventUnproven, at, from, "not acted on: "+auth.how, 0)
	pl.what = "unproven"
	if auth.noticed || isDeptAddress(d, from) {
		return pl, nil
	}
	rendered, err := rt.Templates.Unproven(templates.Unproven{
		Department: d.Name, DepartmentAddress: d.Address, Staff: templates.Person{Name: m.From.Name, Address: from},
		Ref: req.Ref, Subject: req.Subject, Received: at, Location: d.Calendar.Location(), Reason: auth.how,
	})
	if err != nil {
		return pl, fmt.Errorf("render unproven notice: %w", err)
	}
	ml, err := staffMail(d, req, "unproven-notice", []string{from}, rendered)
	if err != nil {
		return pl, err
	}
	pl.mails = append(pl.mails, ml)
	pl.event(EventUnprovenNotice, at, from, "told that a mail in their name was not acted on", 0)
	return pl, nil
}

func (p *Processor) planStaff(rt *Runtime, d *rules.Department, req store.Request, m *rules.Message, at time.Time, fromSent bool, pl plan) (plan, error) {
	from := m.From.Address
	cat := category(d, req.Category)
	parsed, unknown, stripped := rules.ParseCommands(m.Text, d.Calendar, at)
	// #assign hands the request, and the escalations quoting it, to
	// someone: only to staff, leads or an assignable address.
	var cmds []rules.Command
	for _, c := range parsed {
		if c.Kind == rules.CommandAssign && !d.MayAssign(c.Address) {
			unknown = append(unknown, "#assign: "+c.Address+" is not staff, a lead or an assignable address")
			continue
		}
		cmds = append(cmds, c)
	}
	toRequester := addressed(m, req.Requester) || fromSent
	said := strings.TrimSpace(rules.StripQuoted(stripped))

	if len(unknown) > 0 {
		pl.event(store.EventCommandRefused, at, from, strings.Join(unknown, "; "), 0)
		ml, err := p.commandHelp(rt, d, req, m, unknown)
		if err != nil {
			return pl, err
		}
		pl.mails = append(pl.mails, ml)
	}
	// Words written to ackd alone are passed on to the requester without
	// the command lines; a reply that already went to the requester is
	// not repeated.
	answered := toRequester
	if !toRequester && said != "" && !isDeptAddress(d, from) {
		ml, err := p.relay(d, req, m, said)
		if err != nil {
			return pl, err
		}
		pl.mails = append(pl.mails, ml)
		answered = true
	}
	if answered {
		if pl.next.FirstResponseAt.IsZero() {
			pl.next.FirstResponseAt = at
		}
		pl.next.AnsweredAt = at
		switch pl.next.State {
		case store.StateNew, store.StateAcknowledged, store.StateOverdue:
			pl.next.State = store.StateAnswered
		}
		pl.event(store.EventAnswered, at, from, "", 0)
		pl.what = "answered"
	}
	loc := d.Calendar.Location()
	for _, c := range cmds {
		switch c.Kind {
		case rules.CommandDone:
			pl.next.State, pl.next.ResolvedAt = store.StateResolved, at
			pl.event(store.EventResolved, at, from, c.Raw, 0)
			pl.what = "resolved"
			if cat.Closing {
				ml, err := closingMail(rt, d, req, at)
				if err != nil {
					return pl, err
				}
				pl.mails = append(pl.mails, ml)
			}
		case rules.CommandETA:
			old := pl.next.DueAt
			pl.next.DueAt, pl.next.CycleStart = c.Due, at
			pl.next.EscalationLevel, pl.next.LateNoticeFor = 0, time.Time{}
			if pl.next.State == store.StateOverdue || pl.next.State == store.StateWaiting || pl.next.State == store.StateResolved {
				pl.next.State = store.StateAcknowledged
			}
			pl.event(store.EventETA, at, from, c.Raw, 0)
			pl.what = "eta"
			ml, err := p.requesterMail(d, req, "due-update", func() (templates.Rendered, error) {
				return rt.Templates.DueUpdate(templates.DueUpdate{
					Department: d.Name, DepartmentAddress: d.Address, Requester: requester(req),
					Ref: req.Ref, Subject: req.Subject, OldDue: old, NewDue: c.Due, Location: loc,
				})
			})
			if err != nil {
				return pl, err
			}
			pl.mails = append(pl.mails, ml)
		case rules.CommandWaiting:
			pl.next.State, pl.next.WaitingSince = store.StateWaiting, at
			pl.event(store.EventWaiting, at, from, c.Raw, 0)
			pl.what = "waiting"
		case rules.CommandAssign:
			pl.next.AssignedTo = c.Address
			pl.event(store.EventAssigned, at, from, c.Address, 0)
		case rules.CommandReopen:
			newCycle(d, &pl.next, at, cat.Followup)
			pl.next.State, pl.next.ResolvedAt = store.StateAcknowledged, time.Time{}
			pl.event(store.EventReopened, at, from, c.Raw, 0)
			pl.what = "reopened"
		}
	}
	if len(pl.events) == 0 {
		pl.event(EventNote, at, from, "staff wrote to the department only", 0)
		pl.what = "staff-note"
	}
	return pl, nil
}

func requester(r store.Request) templates.Person {
	return templates.Person{Name: r.RequesterName, Address: r.Requester}
}

// targets resolves an escalation target to addresses: "staff" (the
// assignee first, when there is one), "leads", or an address.
func targets(d *rules.Department, r store.Request, to string) []string {
	switch to {
	case "staff":
		// An assignee stored before #assign checked addresses may be one
		// the composer refuses; staff get the escalation instead of the
		// request's every later mail failing.
		if _, err := addrspec.Check(r.AssignedTo); err == nil {
			return []string{r.AssignedTo}
		}
		return d.Staff
	case "leads":
		if len(d.Leads) == 0 {
			return d.Staff
		}
		return d.Leads
	default:
		return []string{to}
	}
}

// escalate queues the next rung of the ladder (or the leads when the
// ladder is used up) and moves the request's level up.
func escalate(rt *Runtime, d *rules.Department, pl *plan, now time.Time, reason string, cat *rules.Category) error {
	r := pl.next
	to := "leads"
	if r.EscalationLevel < len(cat.Escalate) {
		to = cat.Escalate[r.EscalationLevel].To
	}
	level := r.EscalationLevel + 1
	ml, err := escalationMail(rt, d, r, level, targets(d, r, to), reason, now)
	if err != nil {
		return err
	}
	pl.mails = append(pl.mails, ml)
	pl.next.EscalationLevel = level
	pl.event(store.EventEscalated, now, "", fmt.Sprintf("level %d to %s: %s", level, to, reason), level)
	return nil
}

func escalationMail(rt *Runtime, d *rules.Department, r store.Request, level int, to []string, reason string, now time.Time) (store.NewMail, error) {
	cal := d.Calendar
	left := ""
	if now.Before(r.DueAt) {
		left = report.Span(cal.BusinessBetween(now, r.DueAt))
	}
	rendered, err := rt.Templates.Escalation(templates.Escalation{
		Department: d.Name, Ref: r.Ref, Subject: r.Subject, Requester: requester(r), Category: r.Category,
		Level: level, Received: r.ReceivedAt, Due: r.DueAt, Now: now, Location: cal.Location(),
		Age: report.Span(cal.BusinessBetween(r.ReceivedAt, now)), TimeLeft: left, Reason: reason,
		Reminders: r.Reminders, Quote: r.Text,
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("render escalation: %w", err)
	}
	return staffMail(d, r, "escalation", to, rendered)
}

// staffMail composes an internal notice. It is not a reply
// (Auto-Submitted: auto-generated) but threads under the request so staff
// can answer from it; replies come back to the department address.
func staffMail(d *rules.Department, r store.Request, kind string, to []string, rendered templates.Rendered) (store.NewMail, error) {
	if len(to) == 0 {
		return store.NewMail{}, fmt.Errorf("%s for %s: nobody to send it to (no staff or leads configured)", kind, r.Ref)
	}
	id := outbox.NewMessageID(domainOf(d.Address))
	var rcpt []mail.Address
	for _, a := range to {
		rcpt = append(rcpt, mail.Address{Address: a})
	}
	raw, err := outbox.Compose(outbox.Mail{
		From: mail.Address{Name: d.Name, Address: d.Address}, To: rcpt,
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML,
		MessageID: id, InReplyTo: r.MessageID, References: nonEmpty(r.MessageID),
		AutoSubmitted: outbox.AutoGenerated, Date: time.Now(),
		Extra: map[string]string{"X-Ackd-Ref": r.Ref, "X-Ackd-Loop": d.Address},
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("compose %s: %w", kind, err)
	}
	return store.NewMail{Kind: kind, MessageID: id, EnvelopeFrom: d.Address, Recipients: to, Raw: raw}, nil
}

// requesterMail composes a notice to the requester about their request.
// Like the receipt it is an automatic reply on their thread.
func (p *Processor) requesterMail(d *rules.Department, r store.Request, kind string, render func() (templates.Rendered, error)) (store.NewMail, error) {
	rendered, err := render()
	if err != nil {
		return store.NewMail{}, fmt.Errorf("render %s: %w", kind, err)
	}
	return requesterMail(d, r, kind, rendered, outbox.AutoReplied)
}

func requesterMail(d *rules.Department, r store.Request, kind string, rendered templates.Rendered, autoSubmitted string) (store.NewMail, error) {
	id := outbox.NewMessageID(domainOf(d.Address))
	raw, err := outbox.Compose(outbox.Mail{
		From:    mail.Address{Name: d.Name, Address: d.Address},
		To:      []mail.Address{{Name: r.RequesterName, Address: r.Requester}},
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML,
		MessageID: id, InReplyTo: r.MessageID, References: nonEmpty(r.MessageID),
		AutoSubmitted: autoSubmitted, Date: time.Now(),
		Extra: map[string]string{"X-Ackd-Ref": r.Ref, "X-Ackd-Loop": d.Address},
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("compose %s: %w", kind, err)
	}
	return store.NewMail{Kind: kind, MessageID: id, EnvelopeFrom: "", Recipients: []string{r.Requester}, Raw: raw}, nil
}

// relay passes on to the requester what a staff member wrote to ackd
// alone, without their command lines. It is a person's answer, so it is
// not marked Auto-Submitted.
func (p *Processor) relay(d *rules.Department, r store.Request, m *rules.Message, said string) (store.NewMail, error) {
	subject := templates.ReplySubject(r.Subject, r.Ref)
	name := m.From.Name
	if name == "" {
		name = m.From.Address
	}
	text := said + "\n\n-- \n" + name + ", " + d.Name + "\n"
	html := "<div style=\"white-space: pre-wrap; font-family: sans-serif\">" + htmlEscape(said) + "</div>\n<p style=\"color:#555\">-- <br>" + htmlEscape(name) + ", " + htmlEscape(d.Name) + "</p>\n"
	rendered := templates.Rendered{Subject: templates.OneLine(subject), Text: text, HTML: html}
	return requesterMail(d, r, "relay", rendered, outbox.NotAutomatic)
}

func (p *Processor) commandHelp(rt *Runtime, d *rules.Department, r store.Request, m *rules.Message, unknown []string) (store.NewMail, error) {
	rendered, err := rt.Templates.CommandHelp(templates.CommandHelp{
		Department: d.Name, Staff: templates.Person{Name: m.From.Name, Address: m.From.Address},
		Ref: r.Ref, Unknown: unknown, Valid: rules.ValidCommands(),
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("render command help: %w", err)
	}
	return staffMail(d, r, "command-help", []string{m.From.Address}, rendered)
}

func nonEmpty(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// closingMail tells the requester their request is resolved.
func closingMail(rt *Runtime, d *rules.Department, r store.Request, at time.Time) (store.NewMail, error) {
	rendered, err := rt.Templates.Closing(templates.Closing{
		Department: d.Name, DepartmentAddress: d.Address, Requester: requester(r),
		Ref: r.Ref, Subject: r.Subject, Resolved: at, Location: d.Calendar.Location(),
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("render closing: %w", err)
	}
	return requesterMail(d, r, "closing", rendered, outbox.AutoReplied)
}
