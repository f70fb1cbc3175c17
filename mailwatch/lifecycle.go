package mailwatch

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/addrspec"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// This file is the edge between the store and the pure lifecycle: rows are
// converted to lifecycle.Request and back, the mail a transition asks for
// is rendered with the templates in force and composed, and the result is
// applied at the version it was computed from.

// Event kinds the store does not name; the rest are store.Event*. They are
// the lifecycle's history kinds.
const (
	EventResumed        = lifecycle.EntryResumed
	EventNote           = lifecycle.EntryNote
	EventActivity       = lifecycle.EntryActivity
	EventUnproven       = lifecycle.EntryUnproven
	EventUnprovenNotice = lifecycle.EntryUnprovenNotice
	EventSkippedTooOld  = lifecycle.EntrySkippedTooOld
)

// toLife is the lifecycle's view of a stored request.
func toLife(r store.Request) lifecycle.Request {
	return lifecycle.Request{
		Ref: r.Ref, MessageID: r.MessageID, Requester: r.Requester, RequesterName: r.RequesterName,
		Subject: r.Subject, Category: r.Category, Text: r.Text, Recipients: r.Recipients, ReceivedAt: r.ReceivedAt,
		Language: r.Language, RatingAskedAt: r.RatingAskedAt, Rating: r.Rating, RatedAt: r.RatedAt,
		State: r.State, DueAt: r.DueAt, PromisedAt: r.PromisedAt, CycleStart: r.CycleStart,
		FirstResponseAt: r.FirstResponseAt, AnsweredAt: r.AnsweredAt,
		EscalationLevel: r.EscalationLevel, Reminders: r.Reminders, AssignedTo: r.AssignedTo,
		LateNoticeFor: r.LateNoticeFor, WaitingSince: r.WaitingSince, ResolvedAt: r.ResolvedAt, LastActivityAt: r.LastActivityAt,
		Parent: r.ParentRef,
	}
}

// lifeOf is toLife with the input the satisfaction question needs: when
// the requester was last asked how we did (one indexed query, only for a
// department that asks).
func lifeOf(ctx context.Context, st store.Store, d *config.Department, r store.Request) (lifecycle.Request, error) {
	life := toLife(r)
	if d.Satisfaction == nil {
		return life, nil
	}
	last, err := st.LastRatingAsked(ctx, d.Key(), r.Requester)
	if err != nil {
		return life, err
	}
	life.LastAsked = last
	return life, nil
}

// nextWake is lifecycle.NextWake of a stored request.
func nextWake(d *config.Department, r store.Request) time.Time {
	return lifecycle.NextWake(d, toLife(r))
}

// applyTransition writes t, with the mails rendered from its intents, if
// the request is still at the version t was computed from
// (store.ErrStale otherwise: the caller steps again).
func applyTransition(ctx context.Context, st store.Store, snapshot store.Request, t lifecycle.Transition, mails []store.NewMail, key string, f *Fetched, keys []string) (store.Request, error) {
	c := store.Change{RequestID: snapshot.ID, Version: snapshot.Version, MessageKey: key, ThreadKeys: keys}
	for _, e := range t.History {
		c.Events = append(c.Events, store.Event{Kind: e.Kind, At: e.At, Actor: e.Actor, Detail: e.Detail, Level: e.Level})
	}
	if f != nil {
		c.Mailbox, c.UID = f.Mailbox, f.UID
	}
	n := t.Next
	c.Update = func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.DueAt, r.PromisedAt, r.CycleStart = n.State, n.DueAt, n.PromisedAt, n.CycleStart
		r.FirstResponseAt, r.AnsweredAt = n.FirstResponseAt, n.AnsweredAt
		r.EscalationLevel, r.Reminders, r.AssignedTo = n.EscalationLevel, n.Reminders, n.AssignedTo
		r.LateNoticeFor, r.WaitingSince, r.ResolvedAt, r.LastActivityAt = n.LateNoticeFor, n.WaitingSince, n.ResolvedAt, n.LastActivityAt
		r.RatingAskedAt, r.Rating, r.RatedAt = n.RatingAskedAt, n.Rating, n.RatedAt
		r.NextWake, r.Category, r.ParentRef = t.Wake, n.Category, n.Parent
		return mails, nil
	}
	return st.Apply(ctx, c)
}

// renderAll renders and composes the mail of a transition; now (the
// injected clock) dates every mail.
func renderAll(rt *Runtime, d *config.Department, intents []lifecycle.Intent, now time.Time) ([]store.NewMail, error) {
	var out []store.NewMail
	for _, in := range intents {
		m, err := render(rt, d, in, now)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func person(r lifecycle.Request) templates.Person {
	return templates.Person{Name: r.RequesterName, Address: r.Requester}
}

// render turns one intent into a composed mail.
func render(rt *Runtime, d *config.Department, in lifecycle.Intent, now time.Time) (store.NewMail, error) {
	r := in.Request
	loc := d.Calendar.Location()
	kind := string(in.Kind)
	var (
		rendered templates.Rendered
		err      error
	)
	switch in.Kind {
	case lifecycle.Escalation:
		cal := d.Calendar
		left := ""
		if in.At.Before(r.DueAt) {
			left = mailtext.Span(cal.BusinessBetween(in.At, r.DueAt))
		}
		rendered, err = rt.Templates.Escalation(templates.Escalation{
			Department: d.Name, Ref: r.Ref, Subject: r.Subject, Requester: person(r), Category: r.Category,
			Level: in.Level, Received: r.ReceivedAt, Due: r.DueAt, Now: in.At, Location: loc,
			Age: mailtext.Span(cal.BusinessBetween(r.ReceivedAt, in.At)), TimeLeft: left, Reason: in.Reason,
			Reminders: r.Reminders, Quote: r.Text, Owner: templates.Person{Address: r.AssignedTo},
		})
		if err != nil {
			return store.NewMail{}, fmt.Errorf("render escalation: %w", err)
		}
		return staffMail(d, r, kind, in.To, rendered, now)
	case lifecycle.CommandHelp:
		// Command help goes to staff: the department's language.
		rendered, err = rt.Templates.In(d.Language).CommandHelp(templates.CommandHelp{
			Department: d.Name, Staff: templates.Person{Name: in.Staff.Name, Address: in.Staff.Address},
			Ref: r.Ref, Unknown: in.Unknown, Valid: rules.ValidCommands(), Held: in.Held,
		})
		if err != nil {
			return store.NewMail{}, fmt.Errorf("render command help: %w", err)
		}
		return staffMail(d, r, kind, in.To, rendered, now)
	case lifecycle.Unproven:
		rendered, err = rt.Templates.Unproven(templates.Unproven{
			Department: d.Name, DepartmentAddress: d.Address, Staff: templates.Person{Name: in.Staff.Name, Address: in.Staff.Address},
			Ref: r.Ref, Subject: r.Subject, Received: in.At, Location: loc, Reason: in.Reason,
		})
		if err != nil {
			return store.NewMail{}, fmt.Errorf("render unproven notice: %w", err)
		}
		return staffMail(d, r, kind, in.To, rendered, now)
	case lifecycle.OwnerNotice:
		rendered, err = rt.Templates.OwnerNotice(templates.OwnerNotice{
			Department: d.Name, Owner: templates.Person{Address: r.AssignedTo},
			Staff: templates.Person{Name: in.Staff.Name, Address: in.Staff.Address}, Took: in.Took,
			Ref: r.Ref, Subject: r.Subject, At: in.At, Location: loc, Said: in.Said,
		})
		if err != nil {
			return store.NewMail{}, fmt.Errorf("render owner notice: %w", err)
		}
		return staffMail(d, r, kind, in.To, rendered, now)
	case lifecycle.Receipt:
		rendered, err = requesterTemplates(rt, d, r).Receipt(templates.Receipt{
			Department: d.Name, DepartmentAddress: d.Address, Requester: person(r),
			Subject: r.Subject, Ref: r.Ref, Category: r.Category, Commitment: in.Commitment.String(),
			Received: in.At, Due: receiptDue(r), Forecast: !r.PromisedAt.IsZero(), Location: loc, Excerpt: excerpt(r.Text, 600),
			Incident: in.Incident, Also: in.Also,
			AskFor: in.AskFor, Links: receiptLinks(in.Links),
		})
	case lifecycle.LateNotice:
		rendered, err = requesterTemplates(rt, d, r).LateNotice(templates.LateNotice{
			Department: d.Name, DepartmentAddress: d.Address, Requester: person(r),
			Ref: r.Ref, Subject: r.Subject, Due: in.OldDue, NewDue: in.NewDue, Location: loc,
		})
	case lifecycle.DueUpdate:
		rendered, err = requesterTemplates(rt, d, r).DueUpdate(templates.DueUpdate{
			Department: d.Name, DepartmentAddress: d.Address, Requester: person(r),
			Ref: r.Ref, Subject: r.Subject, OldDue: in.OldDue, NewDue: in.NewDue, Location: loc,
		})
	case lifecycle.Closing:
		rendered, err = requesterTemplates(rt, d, r).Closing(templates.Closing{
			Department: d.Name, DepartmentAddress: d.Address, Requester: person(r),
			Ref: r.Ref, Subject: r.Subject, Resolved: in.At, Location: loc, AskRating: in.AskRating,
		})
	case lifecycle.RatingThanks:
		low := d.Satisfaction != nil && in.Rating <= d.Satisfaction.Low
		rendered, err = requesterTemplates(rt, d, r).RatingThanks(templates.RatingThanks{
			Department: d.Name, DepartmentAddress: d.Address, Requester: person(r),
			Ref: r.Ref, Subject: r.Subject, Rating: in.Rating, Low: low,
		})
	case lifecycle.Handover:
		rendered, err = requesterTemplates(rt, d, r).Handover(templates.Handover{
			Department: d.Name, DepartmentAddress: d.Address, From: in.From, Requester: person(r),
			Ref: r.Ref, OldRef: in.OldRef, Subject: r.Subject, Due: r.DueAt, Location: loc,
		})
	case lifecycle.Relay:
		// A person's answer, passed on without their command lines: not
		// marked Auto-Submitted.
		return requesterMail(d, r, kind, relayed(requesterTemplates(rt, d, r), d, r, in), nil, outbox.NotAutomatic, now)
	default:
		return store.NewMail{}, fmt.Errorf("render %s for %s: no template for this kind", kind, r.Ref)
	}
	if err != nil {
		return store.NewMail{}, fmt.Errorf("render %s: %w", kind, err)
	}
	return requesterMail(d, r, kind, rendered, in.References, outbox.AutoReplied, now)
}

// receiptDue is the date a receipt gives: the promise when a forecast
// gave a later one, the commitment's due time otherwise.
func receiptDue(r lifecycle.Request) time.Time {
	if !r.PromisedAt.IsZero() {
		return r.PromisedAt
	}
	return r.DueAt
}

// requesterTemplates are the templates in the language the request was
// answered in from its receipt on; a request recorded before languages
// were kept gets its department's.
func requesterTemplates(rt *Runtime, d *config.Department, r lifecycle.Request) *templates.Set {
	if r.Language != "" {
		return rt.Templates.In(r.Language)
	}
	return rt.Templates.In(d.Language)
}

// relayed is what a staff member wrote to ackd alone, as the mail the
// requester gets.
func relayed(ts *templates.Set, d *config.Department, r lifecycle.Request, in lifecycle.Intent) templates.Rendered {
	// In the request's language, as the requester's other mail is.
	subject := ts.ReplySubject(r.Subject, r.Ref)
	name := in.Staff.Name
	if name == "" {
		name = in.Staff.Address
	}
	text := in.Said + "\n\n-- \n" + name + ", " + d.Name + "\n"
	html := "<div style=\"white-space: pre-wrap; font-family: sans-serif\">" + htmlEscape(in.Said) + "</div>\n<p style=\"color:#555\">-- <br>" + htmlEscape(name) + ", " + htmlEscape(d.Name) + "</p>\n"
	return templates.Rendered{Subject: templates.OneLine(subject), Text: text, HTML: html}
}

// staffMail composes an internal notice. It is not a reply
// (Auto-Submitted: auto-generated) but threads under the request so staff
// can answer from it; replies come back to the department address.
func staffMail(d *config.Department, r lifecycle.Request, kind string, to []string, rendered templates.Rendered, now time.Time) (store.NewMail, error) {
	// An assignee stored before #assign checked addresses may be one the
	// composer refuses; staff get the mail instead of the request's every
	// later mail failing.
	var checked []string
	for _, a := range to {
		if _, err := addrspec.Check(a); err != nil && rules.EqualAddress(a, r.AssignedTo) {
			checked = append(checked, d.Staff...)
			continue
		}
		checked = append(checked, a)
	}
	to = checked
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
		AutoSubmitted: outbox.AutoGenerated, Date: now,
		Extra: map[string]string{"X-Ackd-Ref": r.Ref, "X-Ackd-Loop": d.Address},
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("compose %s: %w", kind, err)
	}
	return store.NewMail{Kind: kind, MessageID: id, EnvelopeFrom: d.Address, Recipients: to, Raw: raw}, nil
}

// requesterMail composes a mail to the requester about their request, on
// their thread: in reply to the request, with refs (the references the
// request itself carried, for the receipt) before its Message-ID.
func requesterMail(d *config.Department, r lifecycle.Request, kind string, rendered templates.Rendered, refs []string, autoSubmitted string, now time.Time) (store.NewMail, error) {
	id := outbox.NewMessageID(domainOf(d.Address))
	raw, err := outbox.Compose(outbox.Mail{
		From:    mail.Address{Name: d.Name, Address: d.Address},
		To:      []mail.Address{{Name: r.RequesterName, Address: r.Requester}},
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML,
		MessageID: id, InReplyTo: r.MessageID, References: append(slices.Clone(refs), nonEmpty(r.MessageID)...),
		AutoSubmitted: autoSubmitted, Date: now,
		Extra: map[string]string{"X-Ackd-Ref": r.Ref, "X-Ackd-Loop": d.Address},
	})
	if err != nil {
		return store.NewMail{}, fmt.Errorf("compose %s: %w", kind, err)
	}
	return store.NewMail{Kind: kind, MessageID: id, EnvelopeFrom: "", Recipients: []string{r.Requester}, Raw: raw}, nil
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
