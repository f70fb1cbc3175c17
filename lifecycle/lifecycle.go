// Package lifecycle is the life of a request as a pure state machine:
// Step takes a request, what happened to it (a message on its thread, the
// clock) and the time, and returns the transition: the request after it,
// the history to append, the mail to send as typed intents, and when the
// request next needs the clock. It reads no clock, touches no store and
// renders no template; the processor and the scheduler in mailwatch do
// that I/O around it. Every rule of README's "The life of a request" is
// here and only here.
package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/addrspec"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/internal/reqstate"
	"github.com/ackd/ackd/rules"
)

// State is where a request is (reqstate, shared with the store).
type State = reqstate.State

// Request states. A request is open until it is resolved.
const (
	New          = reqstate.New
	Acknowledged = reqstate.Acknowledged
	Answered     = reqstate.Answered
	Waiting      = reqstate.Waiting
	Overdue      = reqstate.Overdue
	Resolved     = reqstate.Resolved
)

// Request is what the lifecycle knows of a request: the fields its rules
// read and the ones they change.
type Request struct {
	Ref           string
	MessageID     string
	Requester     string
	RequesterName string
	Subject       string
	Category      string
	Text          string
	Recipients    []string // its other To/Cc addresses
	ReceivedAt    time.Time
	Language      string // the requester's language; "" means the department's

	State State
	DueAt time.Time // zero = no commitment
	// PromisedAt is the date the receipt gave when it was later than the
	// commitment (promise: forecast on a busy day); zero otherwise. The
	// ladder runs on DueAt; when DueAt passes, the leads hear and DueAt
	// becomes PromisedAt, whose passing brings the requester's late
	// notice. It stays as the record of what was promised until a new
	// cycle or #eta replaces the promise.
	PromisedAt      time.Time
	CycleStart      time.Time
	FirstResponseAt time.Time
	AnsweredAt      time.Time
	EscalationLevel int
	Reminders       int
	AssignedTo      string
	LateNoticeFor   time.Time
	WaitingSince    time.Time
	ResolvedAt      time.Time
	LastActivityAt  time.Time

	// Parent is the request this one is linked under (#same): while
	// unanswered it waits on the parent, whose answers reach it.
	Parent string

	// Away is an input, not stored with the request: the staff and leads
	// who are away when the step happens (the caller reads them). An
	// owner who is away gets no escalations; the rest of the staff do.
	Away []string
	// RatingAskedAt is when the closing mail asked how we did (zero: not
	// asked); Rating the answer, 1–5 (0: none); RatedAt when it came.
	RatingAskedAt time.Time
	Rating        int
	RatedAt       time.Time
	// LastAsked is an input, not stored with the request: when this
	// requester was last asked how we did on any request of the
	// department (zero: never). The caller looks it up before Step.
	LastAsked time.Time
}

// Role is who wrote a message on a request's thread.
type Role int

const (
	// Other: not the requester, nor a recipient, nor staff-looking.
	Other Role = iota
	// Requester: the request's requester.
	Requester
	// Recipient: one of the request's own To/Cc recipients.
	Recipient
	// Staff: staff, a lead, the assignee or the department's own address:
	// what their mail may do depends on its proof (Message.Proven).
	Staff
)

// Event is what happens to a request: *Received, *Message or Tick.
type Event interface{ event() }

// Received is the message that makes a new request, as rules.Decide
// judged it worth a receipt. The request given to Step holds what the
// message says (requester, subject, text, recipients, its Message-ID);
// Step makes it an acknowledged request with its first wake-up and asks
// for the receipt.
type Received struct {
	Decision rules.Decision
	// References are the message's References, which the receipt
	// carries on before the message's own Message-ID.
	References []string
	// Promise, when set, is a forecast later than the commitment's due
	// time (promise: forecast on a busy day): the receipt gives it and the
	// request keeps it as PromisedAt.
	Promise time.Time
	// Incident is what staff said (#incident) about a known problem the
	// request is alike to: the receipt says it.
	Incident string
	// Also names the other departments the message was addressed to,
	// which register it too: the receipt says so.
	Also []string
}

// Message is a message on the request's thread.
type Message struct {
	From rules.Address
	// Role of From (RoleOf).
	Role Role
	// Proven: for Staff, something proved the mail comes from From (the
	// Sent mailbox, a Message-ID only the thread knows, trusted
	// authentication); Proof says what, or why nothing did.
	Proven bool
	Proof  string
	// Noticed: From was already told, within a day, that an unproven mail
	// in its name on this request was not acted on.
	Noticed bool
	// FromSent: read from the department's Sent mailbox.
	FromSent bool
	// ToRequester: the requester is among its To/Cc.
	ToRequester bool
	// Text is its plain-text body (commands are parsed from it).
	Text string
	// ParentOK says whether a reference names an open request of the
	// department that #same may link under; nil accepts any.
	ParentOK func(ref string) bool
	// Department finds another department ackd serves by its name or
	// address, for #forward: its key (address) and name; ok false when
	// none is. nil refuses every #forward.
	Department func(nameOrAddress string) (key, name string, ok bool)
	// AutoReply, when not "", says why the message is a machine's reply
	// (an out-of-office, a vacation notice): it is kept as history and
	// is never an answer, a reminder, a relay or a command.
	AutoReply string
}

// Tick is the clock reaching a request's wake-up.
type Tick struct{}

// ParentAnswer is what staff did on the request a request is linked
// under: an answer (Said, their words) and/or #done.
type ParentAnswer struct {
	Parent string // the parent's reference
	Staff  rules.Address
	Said   string
	Done   bool
}

// Forwarded is a request another department moved here (#forward): the
// request given to Step holds what the requester wrote (requester,
// subject, text, recipients, language, its Message-ID and ReceivedAt).
// Step makes it an acknowledged request of this department under
// Category (this department's rules decide it; the default when empty or
// unknown here), its commitment counted from the original arrival (a
// date already past becomes the category's grace from now), with the
// ladder's first step still ahead, and asks for the handover mail.
type Forwarded struct {
	From     string // the department's name that had it
	OldRef   string // its reference there
	By       string // who wrote #forward
	Category string // the category this department's rules give it
}

func (Forwarded) event()    {}
func (*Received) event()    {}
func (*Message) event()     {}
func (Tick) event()         {}
func (ParentAnswer) event() {}

// Entry is one line of a request's history.
type Entry struct {
	Kind   string
	At     time.Time
	Actor  string // "" for ackd itself
	Detail string
	Level  int // escalation level for escalated entries
}

// History kinds. The store keeps them as strings.
const (
	EntryAnswered       = "answered"
	EntryReminder       = "reminder"
	EntryReopened       = "reopened"
	EntryEscalated      = "escalated"
	EntryLateNotice     = "late-notice"
	EntryETA            = "eta"
	EntryWaiting        = "waiting"
	EntryAssigned       = "assigned"
	EntryResolved       = "resolved"
	EntryCommandRefused = "command-refused"
	EntryResumed        = "resumed"
	EntryNote           = "note"
	EntryActivity       = "activity"
	// EntryUnproven: a mail in the name of staff that nothing proved,
	// kept as information only.
	EntryUnproven = "unproven"
	// EntryUnprovenNotice: the notice about it went to Actor.
	EntryUnprovenNotice = "unproven-notice"
	// EntryAutoReply: an auto-reply on the thread, kept as history only.
	EntryAutoReply = "auto-reply"
	// EntryHeld: staff words kept from the requester (a command in the
	// mail could not be read, or they were only a sign-off).
	EntryHeld = "held"
)

// UnprovenNoticeEvery is how often one address may be told, per request,
// that a mail in its name was not acted on.
const UnprovenNoticeEvery = 24 * time.Hour

// MailKind is which mail an intent asks for. The outbox keeps it as the
// string.
type MailKind string

// Mail kinds.
const (
	Receipt     MailKind = "receipt"
	Escalation  MailKind = "escalation"
	LateNotice  MailKind = "late-notice"
	DueUpdate   MailKind = "due-update"
	Closing     MailKind = "closing"
	Relay       MailKind = "relay"
	CommandHelp MailKind = "command-help"
	// OwnerNotice tells a request's owner that someone else answered it
	// or took it, so that two people do not solve the same thing.
	OwnerNotice MailKind = "owner-notice"
	// RatingThanks thanks a requester for answering how we did.
	RatingThanks MailKind = "rating-thanks"
	Unproven     MailKind = "unproven-notice"
	// Handover tells the requester which department has their request
	// now, its new reference and date (#forward).
	Handover MailKind = "handover"
)

// Intent is a mail to send, rendered by the caller: Kind says which
// template, To who gets it, the rest is the data it needs.
type Intent struct {
	Kind MailKind
	To   []string
	// Request is the request as the mail should describe it.
	Request Request
	// Escalation: its level and why.
	Level  int
	Reason string
	// LateNotice, DueUpdate: the time promised before and the new one.
	OldDue, NewDue time.Time
	// Relay, CommandHelp, Unproven, OwnerNotice: the staff member who
	// wrote.
	Staff rules.Address
	// OwnerNotice: Staff took the request with #take (else they answered
	// it).
	Took bool
	// Relay: what they wrote to the requester, commands removed.
	Said string
	// CommandHelp: the lines that were refused.
	Unknown []string
	// CommandHelp: what the mail said to the requester, held back because
	// of them ("" when nothing was).
	Held string
	// At: when the thing the mail tells of happened (resolved, received).
	At time.Time
	// Closing: AskRating asks the requester how we did.
	AskRating bool
	// RatingThanks, and the escalation of a low one: the answer, 1–5.
	Rating int
	// Receipt: the commitment the due time comes from, and the
	// References of the message it answers.
	Commitment calendar.Commitment
	References []string
	// Receipt: what staff said about a known incident ("" for none), and
	// the other departments that also have the request.
	Incident string
	Also     []string
	// Handover: the department that had the request, and its reference
	// there.
	From   string
	OldRef string
	// Receipt: what the department needs from the requester and the
	// links to point to (ask_for, links), in the request's language.
	AskFor []string
	Links  []rules.DecisionLink
}

// Transition is what one event does to a request.
type Transition struct {
	Next    Request
	History []Entry
	Mail    []Intent
	// Wake is when Next needs the clock (NextWake); zero: never.
	Wake time.Time
	// What names the transition for logs and outcomes: "reminder",
	// "answered", "escalation", "late-notice", "wake-up" (a tick that
	// found nothing due) …
	What string
	// StepAt, for a tick that fired, is when the step fell due (max_age
	// is measured against it).
	StepAt time.Time
	// Fired: a tick found a step due.
	Fired bool
	// Away is what the event says of who is away: an out-of-office reply
	// from staff, #away, #back. The caller stores it for the department.
	Away []AwayChange
	// Forward, when set, moves the request to another department
	// (#forward): Next is the old request, resolved; the caller records
	// the new one by stepping a Forwarded event in that department.
	Forward *Forward
	// FanOut, when set, is what the caller passes, as a ParentAnswer
	// event, to every request linked under this one.
	FanOut *ParentAnswer
}

// Forward is where #forward moves a request: the department's key and
// name, and who asked.
type Forward struct {
	Key  string
	Name string
	By   string
}

// AwayChange says a staff member is away until Until, or, with Until
// zero, back.
type AwayChange struct {
	Address string
	Until   time.Time
	Reason  string
}

// AwayDefault is how long an out-of-office reply or #away without a date
// marks someone away.
const AwayDefault = 24 * time.Hour

func (t *Transition) entry(kind string, at time.Time, actor, detail string, level int) {
	t.History = append(t.History, Entry{Kind: kind, At: at, Actor: actor, Detail: detail, Level: level})
}

// Step applies e to r in department d at now.
func Step(d *config.Department, r Request, e Event, now time.Time) Transition {
	var t Transition
	switch e := e.(type) {
	case *Received:
		t = received(r, e, now)
	case *Message:
		t = message(d, r, e, now)
	case Tick:
		t = tick(d, r, now)
	case ParentAnswer:
		t = fromParent(d, r, e, now)
	case Forwarded:
		t = forwarded(d, r, e, now)
	default:
		t = Transition{Next: r, What: "nothing"}
	}
	t.Wake = NextWake(d, t.Next)
	return t
}

// IsDeptAddress: addr is the department's address or one of its aliases.
func IsDeptAddress(d *config.Department, addr string) bool {
	return rules.EqualAddress(d.Address, addr) || inList(d.Aliases, addr)
}

// InStaff: addr is one of d's staff or leads.
func InStaff(d *config.Department, addr string) bool {
	return inList(d.Staff, addr) || inList(d.Leads, addr)
}

func inList(list []string, addr string) bool {
	for _, a := range list {
		if rules.EqualAddress(a, addr) {
			return true
		}
	}
	return false
}

// RoleOf: staff, leads, the request's assignee and the department's own
// address (mail written by a person from the shared account) look like
// staff, which their mail must still prove; the requester is the
// requester, the request's own recipients are recipients; anyone else on
// the thread is other.
func RoleOf(d *config.Department, r Request, from string) Role {
	switch {
	case inList(d.Staff, from) || inList(d.Leads, from) || IsDeptAddress(d, from) ||
		r.AssignedTo != "" && rules.EqualAddress(r.AssignedTo, from):
		return Staff
	case rules.EqualAddress(r.Requester, from):
		return Requester
	case inList(r.Recipients, from):
		return Recipient
	default:
		return Other
	}
}

func category(d *config.Department, name string) *config.Category {
	if c, ok := d.Categories[name]; ok {
		return c
	}
	return d.Categories[rules.DefaultCategory]
}

// newCycle restarts the commitment clock at `at` with commitment cm.
func newCycle(d *config.Department, r *Request, at time.Time, cm calendar.Commitment) {
	r.CycleStart = at
	r.DueAt = d.Calendar.Due(at, cm)
	r.PromisedAt = time.Time{}
	r.LateNoticeFor = time.Time{}
	r.WaitingSince = time.Time{}
	resetLadder(d, r, at)
}

// EntryCategory: #category moved the request to another category.
const EntryCategory = "category"

// EntryForwarded: #forward moved the request to another department (on
// the old request: "to NAME REQ-n"; on the new one: "from NAME REQ-n").
const EntryForwarded = "forwarded"

// forwarded makes r, moved here from another department, a request of d
// (see Forwarded).
func forwarded(d *config.Department, r Request, e Forwarded, at time.Time) Transition {
	t := Transition{Next: r, What: "forwarded"}
	n := &t.Next
	n.Ref, n.Category, n.State = "", rules.DefaultCategory, Acknowledged
	if d.Categories[e.Category] != nil {
		n.Category = e.Category
	}
	n.FirstResponseAt, n.AnsweredAt, n.WaitingSince, n.ResolvedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	n.PromisedAt, n.LateNoticeFor = time.Time{}, time.Time{}
	n.Reminders, n.AssignedTo, n.Parent = 0, "", ""
	n.RatingAskedAt, n.Rating, n.RatedAt = time.Time{}, 0, time.Time{}
	n.CycleStart, n.LastActivityAt, n.DueAt = r.ReceivedAt, at, time.Time{}
	if cat := category(d, n.Category); !cat.Commitment.IsZero() {
		n.DueAt = d.Calendar.Due(r.ReceivedAt, cat.Commitment)
		if !n.DueAt.After(at) {
			// Too late for the commitment from the arrival: the grace from
			// now, and the ladder over that.
			grace := cat.Grace
			if grace.IsZero() {
				grace = cat.Commitment
			}
			n.CycleStart, n.DueAt = at, d.Calendar.Due(at, grace)
		}
	}
	resetLadder(d, n, at)
	detail := "from " + e.From + " " + e.OldRef
	if n.Category != rules.DefaultCategory {
		detail += ", category " + n.Category
	}
	t.entry(EntryForwarded, at, e.By, detail, 0)
	t.Mail = append(t.Mail, Intent{Kind: Handover, To: []string{r.Requester}, Request: *n, At: at, From: e.From, OldRef: e.OldRef})
	return t
}

// EntryLinked: #same linked the request under another; EntryIncident:
// #incident set what receipts of requests like it say.
const (
	EntryLinked   = "linked"
	EntryIncident = "incident"
)

// fromParent applies to a linked request what staff did on its parent:
// their words go to this requester in this thread, #done resolves it.
func fromParent(d *config.Department, r Request, e ParentAnswer, at time.Time) Transition {
	t := Transition{Next: r, What: "nothing"}
	if r.Parent == "" || r.Parent != e.Parent || r.State == Resolved {
		return t
	}
	from := e.Staff.Address
	if e.Said != "" {
		t.Mail = append(t.Mail, Intent{Kind: Relay, To: []string{r.Requester}, Request: r, Staff: e.Staff, Said: e.Said})
		if t.Next.FirstResponseAt.IsZero() {
			t.Next.FirstResponseAt = at
		}
		t.Next.AnsweredAt, t.Next.LastActivityAt = at, at
		switch t.Next.State {
		case New, Acknowledged, Overdue:
			t.Next.State = Answered
		}
		t.entry(EntryAnswered, at, from, "answer on "+e.Parent, 0)
		t.What = "answered"
	}
	if e.Done {
		t.Next.State, t.Next.ResolvedAt = Resolved, at
		t.entry(EntryResolved, at, from, "#done on "+e.Parent, 0)
		t.What = "resolved"
		if category(d, r.Category).Closing {
			t.Mail = append(t.Mail, Intent{Kind: Closing, To: []string{r.Requester}, Request: r, At: at})
		}
	}
	return t
}

// EntryAway: a staff member was marked away (an out-of-office reply,
// #away) or back (#back).
const EntryAway = "away"

// categoryNames lists d's categories, sorted.
func categoryNames(d *config.Department) []string {
	names := make([]string, 0, len(d.Categories))
	for n := range d.Categories {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// recategorise moves the request to the category c names. While nobody
// has answered, the commitment is counted again from the request's
// arrival under the new category, and its ladder starts at the first step
// still ahead (no step fires for the move itself); a due time that has
// passed under the new commitment becomes the new category's grace from
// now, never a date in the past. The requester hears the new date only
// when it changed. An answered, waiting or resolved request only changes
// category (its next cycle follows the new one).
func recategorise(d *config.Department, t *Transition, c rules.Command, from string, at time.Time) {
	old := t.Next
	if old.Category == c.Name {
		t.entry(EntryCategory, at, from, c.Name+" (unchanged)", 0)
		return
	}
	t.Next.Category = c.Name
	t.entry(EntryCategory, at, from, old.Category+" → "+c.Name, 0)
	t.What = "category"
	switch old.State {
	case New, Acknowledged, Overdue:
	default:
		return
	}
	cat := category(d, c.Name)
	if cat.Commitment.IsZero() {
		t.Next.DueAt = time.Time{}
	} else {
		t.Next.CycleStart = old.ReceivedAt
		t.Next.DueAt = d.Calendar.Due(old.ReceivedAt, cat.Commitment)
		if !t.Next.DueAt.After(at) {
			grace := cat.Grace
			if grace.IsZero() {
				grace = cat.Commitment
			}
			t.Next.DueAt = d.Calendar.Due(at, grace)
		}
	}
	t.Next.LateNoticeFor = time.Time{}
	if old.State == Overdue {
		t.Next.State = Acknowledged
	}
	resetLadder(d, &t.Next, at)
	if !t.Next.DueAt.Equal(old.DueAt) && !t.Next.DueAt.IsZero() {
		t.Mail = append(t.Mail, Intent{Kind: DueUpdate, To: []string{old.Requester}, Request: t.Next, OldDue: old.DueAt, NewDue: t.Next.DueAt})
	}
}

// resetLadder starts the escalation ladder of a new cycle (a reopen, a
// new expected date) at its first step still ahead of at: a step that a
// short cycle puts before its own start ("1h before due" in a 30m
// follow-up) is passed over instead of firing the moment the request
// reopens.
func resetLadder(d *config.Department, r *Request, at time.Time) {
	r.EscalationLevel = 0
	steps := category(d, r.Category).Escalate
	for r.EscalationLevel < len(steps) && !StepTime(d.Calendar, *r, steps[r.EscalationLevel]).After(at) {
		r.EscalationLevel++
	}
}

// received makes r, the message at `at`, a request: acknowledged, under
// the commitment the decision found (and a later promise, when the
// forecast gave one), and answered at once with a receipt to the
// requester alone.
func received(r Request, e *Received, at time.Time) Transition {
	d := e.Decision
	t := Transition{Next: r, What: "receipt"}
	n := &t.Next
	n.State, n.Category = Acknowledged, d.Category
	n.ReceivedAt, n.CycleStart, n.LastActivityAt = at, at, at
	n.DueAt, n.PromisedAt = d.DueAt, time.Time{}
	if e.Promise.After(d.DueAt) {
		n.PromisedAt = e.Promise
	}
	n.Language = d.Language
	t.Mail = append(t.Mail, Intent{Kind: Receipt, To: []string{r.Requester}, Request: t.Next, At: at,
		Commitment: d.Commitment, References: e.References, AskFor: d.AskFor, Links: d.Links,
		Incident: e.Incident, Also: e.Also})
	return t
}

// message decides what a message on a known thread means.
func message(d *config.Department, r Request, m *Message, at time.Time) Transition {
	t := Transition{Next: r, What: "follow-up"}
	from := m.From.Address
	cat := category(d, r.Category)
	switch {
	case m.AutoReply != "":
		// Nobody wrote it: a staff out-of-office is no answer and is
		// never relayed, a requester's is no reminder. A proven one from
		// a person on the staff marks them away until the date it
		// states, or for a day.
		t.entry(EntryAutoReply, at, from, m.AutoReply, 0)
		t.What = "auto-reply"
		if m.Role == Staff && m.Proven && !IsDeptAddress(d, from) {
			until, ok := rules.ReturnDate(m.Text, d.Calendar.Location(), at)
			why := "out-of-office reply, back " + until.Format("2006-01-02")
			if !ok {
				until, why = at.Add(AwayDefault), "out-of-office reply without a return date: a day"
			}
			t.Away = append(t.Away, AwayChange{Address: strings.ToLower(from), Until: until, Reason: why})
			t.entry(EntryAway, at, from, why, 0)
		}
		return t
	case m.Role == Staff && !m.Proven:
		// A From header proves nothing: kept as information, it changes,
		// relays and commands nothing.
		unproven(d, &t, m, at)
		return t
	case m.Role == Other:
		// Not the requester, nor someone the request was written to: a
		// subject tag or a reference does not let them chase or reopen.
		t.entry(EntryActivity, at, from, "not the requester or a recipient of the request: information only", 0)
		t.What = "information"
		return t
	}
	t.Next.LastActivityAt = at
	if m.Role == Staff {
		staff(d, &t, m, at)
		return t
	}
	switch r.State {
	case New, Acknowledged, Overdue:
		// Chasing an unanswered request: the figure the department wants
		// at zero. Escalate now rather than at the next step.
		t.Next.Reminders++
		t.entry(EntryReminder, at, from, "", 0)
		reason := "the requester sent a reminder"
		if m.Role == Recipient {
			reason = "a recipient of the request sent a reminder"
		}
		escalate(d, &t, at, reason, cat)
		t.What = "reminder"
	case Waiting:
		if m.Role != Requester {
			t.entry(EntryActivity, at, from, "", 0)
			break
		}
		// The requester answered what staff waited for: the clock runs
		// again with the time that was left.
		left := d.Calendar.BusinessBetween(r.WaitingSince, r.DueAt)
		total := d.Calendar.BusinessBetween(r.CycleStart, r.DueAt)
		if left <= 0 {
			newCycle(d, &t.Next, at, cat.Followup)
		} else {
			t.Next.DueAt = d.Calendar.AddBusiness(at, left)
			t.Next.CycleStart = d.Calendar.SubBusiness(t.Next.DueAt, total)
			t.Next.WaitingSince = time.Time{}
			t.Next.PromisedAt = time.Time{}
		}
		t.Next.State = Acknowledged
		t.entry(EntryResumed, at, from, "", 0)
		t.What = "resumed"
	case Answered, Resolved:
		if r.State == Resolved && m.Role == Requester && rate(d, &t, r, m, at) {
			break
		}
		if m.Role != Requester {
			t.entry(EntryActivity, at, from, "", 0)
			break
		}
		// A reply after an answer needs staff again, under the category's
		// follow-up commitment.
		newCycle(d, &t.Next, at, cat.Followup)
		t.Next.State = Acknowledged
		t.Next.ResolvedAt = time.Time{}
		t.entry(EntryReopened, at, from, "requester replied", 0)
		t.What = "reopened"
	}
	return t
}

// unproven keeps a staff-looking mail that nothing proved as history and
// tells the address it claims to come from, at most once a day per
// request; the department's own address is never written to (that would
// be ackd writing into its own mailbox).
func unproven(d *config.Department, t *Transition, m *Message, at time.Time) {
	from := m.From.Address
	t.entry(EntryUnproven, at, from, "not acted on: "+m.Proof, 0)
	t.What = "unproven"
	if m.Noticed || IsDeptAddress(d, from) {
		return
	}
	t.Mail = append(t.Mail, Intent{Kind: Unproven, To: []string{from}, Request: t.Next, Staff: m.From, Reason: m.Proof, At: at})
	t.entry(EntryUnprovenNotice, at, from, "told that a mail in their name was not acted on", 0)
}

func staff(d *config.Department, t *Transition, m *Message, at time.Time) {
	from := m.From.Address
	req := t.Next
	cat := category(d, req.Category)
	parsed, unknown, stripped := rules.ParseCommands(m.Text, d.Calendar, at)
	// #assign hands the request, and the escalations quoting it, to
	// someone: only to staff, leads or an assignable address.
	var cmds []rules.Command
	forwarding := false
	for _, c := range parsed {
		if forwarding {
			// Meant for the new department's request, most likely, which
			// does not exist yet; applied to the old one it could undo
			// the move (#reopen, #wait). The sender hears so.
			unknown = append(unknown, c.Raw+": not applied, it comes after #forward; write it on the request in the new department")
			continue
		}
		if c.Kind == rules.CommandAssign && !rules.MayAssign(d, c.Address) {
			unknown = append(unknown, "#assign: "+c.Address+" is not staff, a lead or an assignable address")
			continue
		}
		if c.Kind == rules.CommandSame && (strings.EqualFold(c.Name, req.Ref) || m.ParentOK != nil && !m.ParentOK(c.Name)) {
			unknown = append(unknown, "#same: "+c.Name+" is not another open request of "+d.Name)
			continue
		}
		if c.Kind == rules.CommandForward {
			key, name, ok := "", "", false
			if m.Department != nil {
				key, name, ok = m.Department(c.Name)
			}
			switch {
			case !ok:
				unknown = append(unknown, fmt.Sprintf("#forward: %q is not a department ackd serves (write its name or address)", c.Name))
				continue
			case IsDeptAddress(d, key):
				unknown = append(unknown, "#forward: the request is with "+d.Name+" already")
				continue
			case req.State == Resolved:
				unknown = append(unknown, "#forward: the request is resolved; #reopen it first")
				continue
			}
			c.Address, c.Name = key, name
			forwarding = true
		}
		if _, ok := d.Categories[c.Name]; c.Kind == rules.CommandCategory && !ok {
			unknown = append(unknown, fmt.Sprintf("#category: %s has no category %q (it has %s)", d.Name, c.Name, strings.Join(categoryNames(d), ", ")))
			continue
		}
		cmds = append(cmds, c)
	}
	toRequester := m.ToRequester || m.FromSent
	said := strings.TrimSpace(rules.StripQuoted(stripped))

	// Words written to ackd alone are passed on to the requester without
	// the command lines; a reply that already went to the requester is not
	// repeated. Nothing is passed on from a mail with a command ackd could
	// not read (the sender meant something else and hears so), nor words
	// that are only a greeting and a signature.
	relay := !toRequester && said != "" && !IsDeptAddress(d, from)
	if relay && rules.SignOffOnly(said, m.From.Name, from, d.Name) {
		relay, t.What = false, "held"
		t.entry(EntryHeld, at, from, "only a greeting or signature besides the commands: not passed on", 0)
	}
	held := ""
	if relay && len(unknown) > 0 {
		relay, held, t.What = false, said, "held"
		t.entry(EntryHeld, at, from, "a command could not be read: not passed on to the requester", 0)
	}
	if len(unknown) > 0 {
		t.entry(EntryCommandRefused, at, from, strings.Join(unknown, "; "), 0)
		t.Mail = append(t.Mail, Intent{Kind: CommandHelp, To: []string{from}, Request: req, Staff: m.From, Unknown: unknown, Held: held})
	}
	answered := toRequester
	if relay {
		t.Mail = append(t.Mail, Intent{Kind: Relay, To: []string{req.Requester}, Request: req, Staff: m.From, Said: said})
		answered = true
	}
	if answered {
		if t.Next.FirstResponseAt.IsZero() {
			t.Next.FirstResponseAt = at
		}
		t.Next.AnsweredAt = at
		switch t.Next.State {
		case New, Acknowledged, Overdue:
			t.Next.State = Answered
		}
		t.entry(EntryAnswered, at, from, "", 0)
		t.What = "answered"
	}
	// Ownership: the first staff answer takes an unowned request; an answer
	// by someone else tells the owner, once per answer.
	person := !IsDeptAddress(d, from)
	owner := t.Next.AssignedTo
	taking := slices.ContainsFunc(cmds, func(c rules.Command) bool { return c.Kind == rules.CommandTake || c.Kind == rules.CommandAssign })
	switch {
	case !answered || !person || taking:
	case owner == "":
		t.Next.AssignedTo = from
		t.entry(EntryAssigned, at, "", from+" (the first staff answer)", 0)
	case !rules.EqualAddress(owner, from):
		t.Mail = append(t.Mail, Intent{Kind: OwnerNotice, To: []string{owner}, Request: t.Next, Staff: m.From, Said: said, At: at})
	}
	for _, c := range cmds {
		switch c.Kind {
		case rules.CommandCategory:
			recategorise(d, t, c, from, at)
			cat = category(d, t.Next.Category)
		case rules.CommandAway, rules.CommandBack:
			if !person {
				t.entry(EntryCommandRefused, at, from, c.Raw+": the department's own address is never away", 0)
				continue
			}
			ch := AwayChange{Address: strings.ToLower(from), Reason: c.Raw}
			if c.Kind == rules.CommandAway {
				ch.Until = c.Due
				if ch.Until.IsZero() {
					ch.Until = at.Add(AwayDefault)
				}
			}
			t.Away = append(t.Away, ch)
			t.entry(EntryAway, at, from, c.Raw, 0)
		case rules.CommandForward:
			t.Next.State, t.Next.ResolvedAt = Resolved, at
			t.Forward = &Forward{Key: c.Address, Name: c.Name, By: from}
			t.entry(EntryForwarded, at, from, "to "+c.Name, 0)
			t.What = "forwarded"
		case rules.CommandSame:
			t.Next.Parent = c.Name
			t.entry(EntryLinked, at, from, c.Name, 0)
			t.What = "linked"
		case rules.CommandIncident:
			t.entry(EntryIncident, at, from, c.Name, 0)
		case rules.CommandTake:
			if !person {
				t.entry(EntryCommandRefused, at, from, "#take: the department's own address cannot own a request", 0)
				continue
			}
			if prev := t.Next.AssignedTo; prev != "" && !rules.EqualAddress(prev, from) {
				t.Mail = append(t.Mail, Intent{Kind: OwnerNotice, To: []string{prev}, Request: t.Next, Staff: m.From, Took: true, At: at})
			}
			t.Next.AssignedTo = from
			t.entry(EntryAssigned, at, from, from+" (#take)", 0)
		case rules.CommandDone:
			t.Next.State, t.Next.ResolvedAt = Resolved, at
			t.entry(EntryResolved, at, from, c.Raw, 0)
			t.What = "resolved"
			closeLoop(d, t, req, at, cat)
		case rules.CommandETA:
			old := t.Next.DueAt
			t.Next.DueAt, t.Next.CycleStart, t.Next.PromisedAt = c.Due, at, time.Time{}
			t.Next.LateNoticeFor = time.Time{}
			resetLadder(d, &t.Next, at)
			if t.Next.State == Overdue || t.Next.State == Waiting || t.Next.State == Resolved {
				t.Next.State = Acknowledged
			}
			t.entry(EntryETA, at, from, c.Raw, 0)
			t.What = "eta"
			t.Mail = append(t.Mail, Intent{Kind: DueUpdate, To: []string{req.Requester}, Request: req, OldDue: old, NewDue: c.Due})
		case rules.CommandWaiting:
			t.Next.State, t.Next.WaitingSince = Waiting, at
			t.entry(EntryWaiting, at, from, c.Raw, 0)
			t.What = "waiting"
		case rules.CommandAssign:
			t.Next.AssignedTo = c.Address
			t.entry(EntryAssigned, at, from, c.Address, 0)
		case rules.CommandReopen:
			newCycle(d, &t.Next, at, cat.Followup)
			t.Next.State, t.Next.ResolvedAt = Acknowledged, time.Time{}
			t.entry(EntryReopened, at, from, c.Raw, 0)
			t.What = "reopened"
		}
	}
	// What staff did here reaches the requests linked under this one.
	done := slices.ContainsFunc(cmds, func(c rules.Command) bool { return c.Kind == rules.CommandDone })
	if words := said; (answered && words != "" && !rules.SignOffOnly(words, m.From.Name, from, d.Name)) || done {
		if !answered || rules.SignOffOnly(words, m.From.Name, from, d.Name) {
			words = ""
		}
		t.FanOut = &ParentAnswer{Parent: req.Ref, Staff: m.From, Said: words, Done: done}
	}
	if len(t.History) == 0 {
		t.entry(EntryNote, at, from, "staff wrote to the department only", 0)
		t.What = "staff-note"
	}
}

// Targets resolves an escalation target to addresses: "staff" (the
// assignee first, when there is one), "leads", or an address. valid says
// whether an address can be written to: an assignee stored before #assign
// checked addresses may be one the composer refuses, and staff get the
// escalation instead of the request's every later mail failing.
func Targets(d *config.Department, r Request, to string, valid func(string) bool) []string {
	switch to {
	case "staff":
		if r.AssignedTo != "" && !inList(r.Away, r.AssignedTo) && (valid == nil || valid(r.AssignedTo)) {
			return []string{r.AssignedTo}
		}
		// The rest: staff who are not away (all of them when everyone
		// is), without an owner who is.
		var rest []string
		for _, s := range d.Staff {
			if !inList(r.Away, s) && !rules.EqualAddress(s, r.AssignedTo) {
				rest = append(rest, s)
			}
		}
		if len(rest) == 0 {
			return d.Staff
		}
		return rest
	case "leads":
		if len(d.Leads) == 0 {
			return d.Staff
		}
		return d.Leads
	default:
		return []string{to}
	}
}

// escalate asks for the next rung of the ladder (or the leads when the
// ladder is used up) and moves the request's level up.
func escalate(d *config.Department, t *Transition, now time.Time, reason string, cat *config.Category) {
	r := t.Next
	to := "leads"
	if r.EscalationLevel < len(cat.Escalate) {
		to = cat.Escalate[r.EscalationLevel].To
	}
	level := r.EscalationLevel + 1
	t.Mail = append(t.Mail, Intent{Kind: Escalation, To: Targets(d, r, to, validAddress), Request: r, Level: level, Reason: reason, At: now})
	t.Next.EscalationLevel = level
	t.entry(EntryEscalated, now, "", fmt.Sprintf("level %d to %s: %s", level, to, reason), level)
}

// validAddress says whether an assignee can be written to, by the one
// check the composer applies (addrspec), so that a bad stored assignee is
// never chosen over staff.
func validAddress(a string) bool {
	_, err := addrspec.Check(a)
	return err == nil
}

// StepTime is when a ladder step falls in the request's current cycle.
func StepTime(cal *calendar.Calendar, r Request, step config.EscalationStep) time.Time {
	if step.BeforeDue > 0 {
		return cal.SubBusiness(r.DueAt, step.BeforeDue)
	}
	return cal.AtShare(r.CycleStart, r.DueAt, step.At)
}

// AimAt is the team's own deadline for r's current cycle: its category's
// aim from the cycle's start, never later than the due time promised to
// the requester; the due time itself when the category has no aim. The
// escalation ladder runs on it.
func AimAt(d *config.Department, r Request) time.Time {
	cat := category(d, r.Category)
	if cat == nil || cat.Aim.IsZero() || r.DueAt.IsZero() || r.CycleStart.IsZero() {
		return r.DueAt
	}
	if a := d.Calendar.Due(r.CycleStart, cat.Aim); a.Before(r.DueAt) {
		return a
	}
	return r.DueAt
}

// ladderStepAt is StepTime on the aim: shares of the time from the cycle's
// start to the aim, before_due counted back from the aim.
func ladderStepAt(d *config.Department, r Request, step config.EscalationStep) time.Time {
	aimed := r
	aimed.DueAt = AimAt(d, r)
	return StepTime(d.Calendar, aimed, step)
}

// NextWake is when r next needs the clock under d's configuration: the
// next ladder step of its cycle, its due time, or, once answered, its
// automatic resolve; zero when nothing is scheduled (waiting, resolved, no
// commitment, the due time already dealt with).
func NextWake(d *config.Department, r Request) time.Time {
	cat := category(d, r.Category)
	switch r.State {
	case Answered:
		if cat.AutoResolve.IsZero() || r.AnsweredAt.IsZero() {
			return time.Time{}
		}
		since := r.AnsweredAt
		if r.LastActivityAt.After(since) {
			since = r.LastActivityAt
		}
		return d.Calendar.Due(since, cat.AutoResolve)
	case Acknowledged, Overdue, New:
		if r.Parent != "" {
			return time.Time{} // linked: the parent carries the clock
		}
	default:
		return time.Time{} // waiting: the clock is paused
	}
	if r.DueAt.IsZero() {
		return time.Time{}
	}
	// The next ladder step, unless the due time comes first.
	if r.EscalationLevel < len(cat.Escalate) {
		if at := ladderStepAt(d, r, cat.Escalate[r.EscalationLevel]); at.Before(r.DueAt) {
			return at
		}
	}
	if r.LateNoticeFor.Equal(r.DueAt) {
		return time.Time{} // this due time was dealt with
	}
	return r.DueAt
}

// tick fires what the clock owes r at now: an escalation step before the
// due time, the late notice when it passes, the automatic resolve of an
// answered request. A step that fell due more than max_age ago mails
// nobody: the request moves on as if it had fired and its history says
// what was not sent.
func tick(d *config.Department, r Request, now time.Time) Transition {
	t := Transition{Next: r, What: "wake-up"}
	at := NextWake(d, r)
	if at.IsZero() || now.Before(at) {
		return t
	}
	t.Fired, t.StepAt = true, at
	cat := category(d, r.Category)
	switch {
	case r.State == Answered:
		t.What = "auto-resolve"
		t.Next.State, t.Next.ResolvedAt = Resolved, now
		t.entry(EntryResolved, now, "", "resolved automatically: no reply "+cat.AutoResolve.String()+" after the answer", 0)
		closeLoop(d, &t, r, now, cat)
	case at.Before(r.DueAt):
		// A ladder step (NextWake gives the due time otherwise).
		step := cat.Escalate[r.EscalationLevel]
		reason := fmt.Sprintf("%.0f%% of the %s commitment elapsed", step.At*100, cat.Commitment)
		if step.BeforeDue > 0 {
			reason = fmt.Sprintf("%s of business time left before the due time", mailtext.Span(step.BeforeDue))
		}
		if !cat.Aim.IsZero() {
			reason = fmt.Sprintf("%.0f%% of the %s aim elapsed (%s promised)", step.At*100, cat.Aim, cat.Commitment)
			if step.BeforeDue > 0 {
				reason = fmt.Sprintf("%s of business time left before the %s aim (%s promised)", mailtext.Span(step.BeforeDue), cat.Aim, cat.Commitment)
			}
		}
		t.What = "escalation"
		escalate(d, &t, now, reason, cat)
	default:
		late(d, &t, now, cat)
	}
	if d.TooOld(at, now) && len(t.Mail) > 0 {
		detail := fmt.Sprintf("%s due at %s not mailed: more than max_age (%s) ago", t.What,
			at.In(d.Calendar.Location()).Format(time.RFC3339), config.FormatAge(d.MaxAgeOrDefault()))
		t.Mail = nil
		t.History = []Entry{{Kind: EntrySkippedTooOld, At: now, Detail: detail}}
		t.What += " (too old, not mailed)"
	}
	return t
}

// EntrySkippedTooOld: a scheduled step was due more than max_age ago and
// went out to nobody.
const EntrySkippedTooOld = "skipped-too-old"

// late: the request is due and nobody answered. The first time, the
// requester hears it honestly with a new expected time and the leads get
// the overdue escalation; if the new time passes too, the leads hear
// again and the requester is not sent a string of apologies.
func late(d *config.Department, t *Transition, now time.Time, cat *config.Category) {
	r := t.Next
	cal := d.Calendar
	t.What = "late-notice"
	leads := Targets(d, r, "leads", validAddress)
	if r.State != Overdue && r.PromisedAt.After(r.DueAt) {
		// The commitment passed but the requester was promised a later
		// date: the leads see the pressure, the requester is not written
		// to, and the promise becomes the due time its late notice waits for.
		t.What = "commitment-passed"
		t.Mail = append(t.Mail, Intent{Kind: Escalation, To: leads, Request: r, Level: r.EscalationLevel + 1,
			Reason: "the commitment passed without an answer; the requester was promised " +
				r.PromisedAt.In(cal.Location()).Format("Monday 2 January, 15:04 MST"), At: now})
		t.entry(EntryEscalated, now, "", fmt.Sprintf("level %d to leads: commitment passed, promise %s", r.EscalationLevel+1,
			r.PromisedAt.In(cal.Location()).Format(time.RFC3339)), r.EscalationLevel+1)
		t.Next.DueAt = r.PromisedAt
		t.Next.EscalationLevel = max(r.EscalationLevel+1, len(cat.Escalate))
		return
	}
	if r.State != Overdue {
		base := r.DueAt
		if now.After(base) {
			base = now
		}
		newDue := cal.Due(base, cat.Grace)
		t.Mail = append(t.Mail, Intent{Kind: LateNotice, To: []string{r.Requester}, Request: r, OldDue: r.DueAt, NewDue: newDue})
		t.entry(EntryLateNotice, now, "", "new expected time "+newDue.In(cal.Location()).Format(time.RFC3339), 0)
		t.Mail = append(t.Mail, Intent{Kind: Escalation, To: leads, Request: r, Level: r.EscalationLevel + 1,
			Reason: "overdue: the due time passed without an answer", At: now})
		t.entry(EntryEscalated, now, "", fmt.Sprintf("level %d to leads: overdue", r.EscalationLevel+1), r.EscalationLevel+1)
		t.Next.State = Overdue
		t.Next.LateNoticeFor = r.DueAt
		t.Next.DueAt = newDue
		t.Next.EscalationLevel = max(r.EscalationLevel+1, len(cat.Escalate))
		return
	}
	t.Mail = append(t.Mail, Intent{Kind: Escalation, To: leads, Request: r, Level: r.EscalationLevel + 1,
		Reason: "still overdue: the new expected time passed too", At: now})
	t.entry(EntryEscalated, now, "", fmt.Sprintf("level %d to leads: still overdue", r.EscalationLevel+1), r.EscalationLevel+1)
	t.Next.EscalationLevel = r.EscalationLevel + 1
	t.Next.LateNoticeFor = r.DueAt
}

// PickOwner chooses who owns a new request under d's assign mode: the
// next of d.Staff after last (round robin) or the one with the fewest
// open requests (least open; ties go to the earlier in d.Staff), never
// someone in away; "" when the mode assigns nobody or everyone is away.
// It is pure: the caller reads last, open and away from the store.
func PickOwner(d *config.Department, last string, open map[string]int, away []string) string {
	var here []string
	for _, s := range d.Staff {
		if !inList(away, s) {
			here = append(here, s)
		}
	}
	if len(here) == 0 {
		return ""
	}
	switch d.Assign {
	case config.AssignRoundRobin:
		at := slices.IndexFunc(d.Staff, func(s string) bool { return rules.EqualAddress(s, last) })
		for i := 1; i <= len(d.Staff); i++ {
			// at is -1 when last is nobody (or no longer staff): from the top.
			s := d.Staff[(at+i+len(d.Staff))%len(d.Staff)]
			if !inList(away, s) {
				return s
			}
		}
	case config.AssignLeastOpen:
		best := here[0]
		for _, s := range here[1:] {
			if open[strings.ToLower(s)] < open[strings.ToLower(best)] {
				best = s
			}
		}
		return best
	}
	return ""
}
