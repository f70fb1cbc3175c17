package templates

import "time"

// Person is a mail participant: the display name as it came in the header
// (possibly empty, "Doe, Jane" or garbage) and the addr-spec.
type Person struct {
	Name    string
	Address string
}

// Receipt is the data of the acknowledgement a requester gets at once.
type Receipt struct {
	Department        string // "IT Help Desk"
	DepartmentAddress string // it-help@example.test
	Requester         Person
	Subject           string // the original subject, as decoded
	Ref               string // "REQ-12"
	Category          string
	Commitment        string // "4h", "3d": business time, as written in the config
	Received          time.Time
	Due               time.Time // zero when no date can be promised
	Location          *time.Location
	Excerpt           string // first lines of the request, may be empty
	// Forecast: Due is a forecast from today's queue, later than the
	// commitment (promise: forecast); the receipt says so plainly.
	Forecast bool
	// Incident is what staff said (#incident) about a known problem this
	// request looks like part of; "" when none.
	Incident string
	// Also are the other departments the message was addressed to, which
	// register it for their part too.
	Also []string
	// AskFor are the things the department needs from the requester to
	// start (the config's ask_for lines the request does not already
	// answer); Links are forms and how-tos. Both may be empty.
	AskFor []string
	Links  []Link
}

// Link is a form or how-to a receipt points to.
type Link struct {
	Title string
	URL   string // http or https, checked when the config is loaded
}

// Escalation is the data of the notice staff or leads get when a request
// needs attention before (or after) its due date.
type Escalation struct {
	Department string
	Ref        string
	Subject    string
	Requester  Person
	Category   string
	Level      int // 1 for the first escalation step
	Received   time.Time
	Due        time.Time
	Now        time.Time
	Location   *time.Location
	Age        string // business time since receipt, preformatted: "3h 20m"
	TimeLeft   string // business time until due, preformatted; empty when overdue
	Reason     string // "50% of the 4h commitment elapsed", "requester sent a reminder", "overdue"
	Reminders  int
	Quote      string // the request text
	// Owner is who owns the request (#take, the first staff answer,
	// #assign); empty when nobody does.
	Owner Person
}

// LateNotice is the data of the honest "we will not make it" mail to the
// requester.
type LateNotice struct {
	Department        string
	DepartmentAddress string
	Requester         Person
	Ref               string
	Subject           string
	Due               time.Time // the date promised so far
	NewDue            time.Time // zero when no new date can be given yet
	Location          *time.Location
}

// DueUpdate is the data of the mail that tells the requester about a new
// expected date set by staff with "#eta".
type DueUpdate struct {
	Department        string
	DepartmentAddress string
	Requester         Person
	Ref               string
	Subject           string
	OldDue            time.Time // zero when none was promised
	NewDue            time.Time
	Location          *time.Location
	Note              string // optional words from staff, shown as written
}

// Handover is the data of the mail that tells the requester that another
// department has their request now (#forward): Department, its address and
// Ref are the new department's; From and OldRef what the requester knew.
type Handover struct {
	Department        string
	DepartmentAddress string
	From              string // the department that had it
	Requester         Person
	Ref               string
	OldRef            string
	Subject           string
	Due               time.Time // zero when there is no commitment
	Location          *time.Location
}

// Closing is the data of the mail that closes the loop with the requester.
type Closing struct {
	Department        string
	DepartmentAddress string
	Requester         Person
	Ref               string
	Subject           string
	Resolved          time.Time
	Location          *time.Location
	// AskRating asks how we did: one word or number in reply, no link
	// (mail scanners follow links and would record ratings nobody gave).
	AskRating bool
}

// RatingThanks is the data of the short thanks for an answer to "how did
// we do?".
type RatingThanks struct {
	Department        string
	DepartmentAddress string
	Requester         Person
	Ref               string
	Subject           string
	Rating            int  // 1–5
	Low               bool // at or below the department's low mark: the leads were told
}

// CommandHelp is the data of the reply to a staff member whose mail held
// commands ackd did not understand.
type CommandHelp struct {
	Department string
	Staff      Person
	Ref        string   // empty when the mail matched no request
	Unknown    []string // the commands as written ("#etaa 3d")
	Valid      []string // one line per valid command with its usage
	// Held is what the mail said to the requester, kept from them because
	// a command in it could not be read; "" when nothing was held.
	Held string
}

// Unproven is the data of the notice to a staff member that a mail in
// their name on a request was kept as information only, because nothing
// proved they wrote it.
type Unproven struct {
	Department        string
	DepartmentAddress string
	Staff             Person // the address the mail claimed to come from
	Ref               string
	Subject           string // the request's subject, not the mail's
	Received          time.Time
	Location          *time.Location
	Reason            string // why the mail was not proven, in words
}

// IncidentAlert is the data of the one mail the leads get when requests
// alike arrive in a burst: a possible incident.
type IncidentAlert struct {
	Department string
	Window     string // "10m": the window they arrived in
	Now        time.Time
	Location   *time.Location
	Requests   []IncidentRequest // oldest first
}

// IncidentRequest is one request of a burst.
type IncidentRequest struct {
	Ref, Subject, Requester string
	Received                time.Time
}

// OwnerNotice is the data of the short mail telling a request's owner
// that another staff member answered it, or took it over.
type OwnerNotice struct {
	Department string
	Owner      Person // who gets it
	Staff      Person // who answered or took it
	Took       bool   // Staff took it with #take (else Staff answered it)
	Ref        string
	Subject    string
	At         time.Time
	Location   *time.Location
	Said       string // what Staff wrote, commands removed; may be empty
}

// samples returns data for a template name that Load renders every template
// with: one value with every field set and one with every optional field
// empty, so an override that breaks on either is refused at load.
func samples(name string) []any {
	loc := time.FixedZone("CET", 3600)
	at := func(day, hour, minute int) time.Time {
		return time.Date(2026, time.December, day, hour, minute, 0, 0, loc)
	}
	jane := Person{Name: "Doe, Jane", Address: "jane.doe@example.test"}
	switch name {
	case NameReceipt:
		return []any{
			Receipt{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
				Subject: "Printer on floor 3 jams", Ref: "REQ-12", Category: "hardware", Commitment: "4h",
				Received: at(1, 9, 12), Due: at(1, 13, 12), Location: loc, Excerpt: "Hello,\nthe printer jams again.",
				AskFor: []string{"the asset number on the printer's label", "a photo of the error message"},
				Links:  []Link{{Title: "Printer troubleshooting", URL: "https://intranet.example.test/howto/printer"}}},
			Receipt{Ref: "REQ-1"},
		}
	case NameEscalation:
		return []any{
			Escalation{Department: "IT Help Desk", Ref: "REQ-12", Subject: "Printer on floor 3 jams", Requester: jane,
				Category: "hardware", Level: 1, Received: at(1, 9, 12), Due: at(1, 13, 12), Now: at(1, 11, 12),
				Location: loc, Age: "2h", TimeLeft: "2h", Reason: "50% of the 4h commitment elapsed", Reminders: 1,
				Quote: "Hello,\nthe printer jams again."},
			Escalation{Ref: "REQ-1"},
		}
	case NameLateNotice:
		return []any{
			LateNotice{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
				Ref: "REQ-12", Subject: "Printer on floor 3 jams", Due: at(1, 13, 12), NewDue: at(2, 12, 0), Location: loc},
			LateNotice{Ref: "REQ-1"},
		}
	case NameDueUpdate:
		return []any{
			DueUpdate{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
				Ref: "REQ-12", Subject: "Printer on floor 3 jams", OldDue: at(1, 13, 12), NewDue: at(3, 17, 0),
				Location: loc, Note: "The spare part arrives on Thursday."},
			DueUpdate{Ref: "REQ-1"},
		}
	case NameHandover:
		return []any{
			Handover{Department: "Payroll", DepartmentAddress: "payroll@example.test", From: "IT Help Desk", Requester: jane,
				Ref: "REQ-31", OldRef: "REQ-12", Subject: "Overtime missing on my payslip", Due: at(3, 17, 0), Location: loc},
			Handover{Ref: "REQ-1"},
		}
	case NameClosing:
		return []any{
			Closing{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
				Ref: "REQ-12", Subject: "Printer on floor 3 jams", Resolved: at(1, 15, 40), Location: loc, AskRating: true},
			Closing{Ref: "REQ-1"},
		}
	case NameRatingThanks:
		return []any{
			RatingThanks{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
				Ref: "REQ-12", Subject: "Printer on floor 3 jams", Rating: 2, Low: true},
			RatingThanks{Ref: "REQ-1"},
		}
	case NameCommandHelp:
		return []any{
			CommandHelp{Department: "IT Help Desk", Staff: Person{Name: "Alice Smith", Address: "alice@example.test"},
				Ref: "REQ-12", Unknown: []string{"#etaa 3d"}, Valid: []string{"#eta DATE - set a new expected date"}},
			CommandHelp{Ref: "REQ-12", Unknown: []string{"# done"}, Held: "Try the new password."},
			CommandHelp{},
		}
	case NameUnproven:
		return []any{
			Unproven{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test",
				Staff: Person{Name: "Alice Smith", Address: "alice@example.test"}, Ref: "REQ-12",
				Subject: "Printer on floor 3 jams", Received: at(1, 10, 5), Location: loc,
				Reason: "no Authentication-Results from mx.example.test"},
			Unproven{},
		}
	case NameIncidentAlert:
		return []any{
			IncidentAlert{Department: "IT Help Desk", Window: "10m", Now: at(1, 10, 12), Location: loc, Requests: []IncidentRequest{
				{Ref: "REQ-12", Subject: "Outlook cannot connect", Requester: "jane@example.test", Received: at(1, 10, 2)},
				{Ref: "REQ-13", Subject: "Re: outlook cannot connect to server", Requester: "bob@example.test", Received: at(1, 10, 5)}}},
			IncidentAlert{},
		}
	case NameOwnerNotice:
		return []any{
			OwnerNotice{Department: "IT Help Desk", Owner: Person{Name: "Alice Smith", Address: "alice@example.test"},
				Staff: Person{Name: "Bob Jones", Address: "bob@example.test"}, Ref: "REQ-12", Subject: "Printer on floor 3 jams",
				At: at(1, 11, 5), Location: loc, Said: "Replaced the fuser."},
			OwnerNotice{},
		}
	case NameDigest:
		return digestSamples(at, loc)
	}
	return nil
}
