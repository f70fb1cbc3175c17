package lifecycle_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/rules"
)

// teamConfig is config with a category whose follow-up is shorter than its
// "before due" step: quick is 4h, follow-up 30m, a step 1h before due.
var teamConfig = strings.Replace(configYAML, "      default: {commitment: 3d}",
	"      default: {commitment: 3d}\n      quick: {commitment: 4h, followup: 30m, escalate: [{before_due: 1h, to: staff}]}", 1)

func teamDept(t *testing.T) *config.Department {
	t.Helper()
	cfg, err := config.Parse("config.yaml", []byte(teamConfig))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Departments[0]
}

func autoReply(m *lifecycle.Message) { m.AutoReply = "Auto-Submitted: auto-replied" }
func fromSent(m *lifecycle.Message)  { m.FromSent = true }
func named(name string) func(*lifecycle.Message) {
	return func(m *lifecycle.Message) { m.From.Name = name }
}

type row struct {
	name  string
	req   lifecycle.Request
	ev    lifecycle.Event
	now   string
	what  string
	state lifecycle.State
	mail  []string
	hist  []string
	wake  string // "" = none
	check func(t *testing.T, tr lifecycle.Transition)
	sat   bool // the department asks how we did (satisfaction: {every: 30d, low: 2}); TestStep only
}

func runRows(t *testing.T, d *config.Department, rows []row) {
	t.Helper()
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) { checkStep(t, d, tc) })
	}
}

// checkStep runs one row through Step and compares what it did, the state,
// the mail, the history and the wake-up (which must be NextWake's).
func checkStep(t *testing.T, d *config.Department, tc row) {
	t.Helper()
	tr := lifecycle.Step(d, tc.req, tc.ev, at(tc.now))
	if tr.What != tc.what || tr.Next.State != tc.state {
		t.Errorf("what %q state %s; want %q %s", tr.What, tr.Next.State, tc.what, tc.state)
	}
	if got := mails(tr); !slices.Equal(got, tc.mail) {
		t.Errorf("mail %v, want %v", got, tc.mail)
	}
	if got := kinds(tr); !slices.Equal(got, tc.hist) {
		t.Errorf("history %v, want %v", got, tc.hist)
	}
	var want time.Time
	if tc.wake != "" {
		want = at(tc.wake)
	}
	if !tr.Wake.Equal(want) || !tr.Wake.Equal(lifecycle.NextWake(d, tr.Next)) {
		t.Errorf("wake %v, want %v", tr.Wake.In(berlin), want.In(berlin))
	}
	if tc.check != nil {
		tc.check(t, tr)
	}
}

// TestStepGuardRelay: issue 15 item 6. A staff mail of commands only, or
// with a mistyped command, never reaches the requester; auto-replies on a
// thread are never relayed nor answers; a reopen starts the ladder at its
// next step ahead instead of alerting at once.
func TestStepGuardRelay(t *testing.T) {
	d := teamDept(t)
	answered := with(open(), func(r *lifecycle.Request) {
		r.State, r.AnsweredAt, r.FirstResponseAt, r.LastActivityAt = lifecycle.Answered, at("2026-12-01 11:00"), at("2026-12-01 11:00"), at("2026-12-01 11:00")
	})
	quick := with(answered, func(r *lifecycle.Request) { r.Category = "quick" })
	noAnswer := func(t *testing.T, tr lifecycle.Transition) {
		if !tr.Next.FirstResponseAt.IsZero() || !tr.Next.AnsweredAt.IsZero() {
			t.Errorf("counted as an answer: first response %v", tr.Next.FirstResponseAt)
		}
	}
	runRows(t, d, []row{
		{name: "commands and a signature: nothing reaches the requester", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#waiting\n\nThanks,\nAlice Smith\nIT Help Desk\nTel. +49 30 1234-567", named("Alice Smith")),
			now: "2026-12-01 11:00", what: "waiting", state: lifecycle.Waiting, hist: []string{"held", "waiting"}, check: noAnswer},
		{name: "a greeting alone to ackd is not relayed", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "Best regards\nalice"),
			now: "2026-12-01 11:00", what: "held", state: lifecycle.Acknowledged, hist: []string{"held"}, wake: "2026-12-01 12:00", check: noAnswer},
		{name: "a mistyped command holds the words; the sender gets help", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "Try the new password.\n# done"),
			now: "2026-12-01 11:00", what: "held", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"held", "command-refused"}, wake: "2026-12-01 12:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				noAnswer(t, tr)
				if h := tr.Mail[0].Held; h != "Try the new password." {
					t.Errorf("help holds %q, want the words kept from the requester", h)
				}
			}},
		{name: "a slash command alone: help, nothing relayed", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "/done"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, wake: "2026-12-01 12:00", check: noAnswer},
		{name: "an unknown command with words: held, valid ones still apply", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "Please reboot.\n#waiting\n#prio high"),
			now: "2026-12-01 11:00", what: "waiting", state: lifecycle.Waiting, mail: []string{"command-help→alice@example.test"},
			hist: []string{"held", "command-refused", "waiting"}, check: noAnswer},
		{name: "words and a valid command are still relayed", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "Please reboot.\n#waiting\n\nAlice"),
			now: "2026-12-01 11:00", what: "waiting", state: lifecycle.Waiting, mail: []string{"relay→jane@example.test"},
			hist: []string{"answered", "assigned", "waiting"}},
		{name: "staff out-of-office: history only", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "I am out of the office until Monday.", autoReply),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply", "away"}, wake: "2026-12-01 12:00", check: noAnswer},
		{name: "an autoresponder in the Sent mailbox to the requester is no answer", req: open(),
			ev:  msg("it-help@example.test", lifecycle.Staff, "We are closed today.", autoReply, fromSent, toRequester),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply"}, wake: "2026-12-01 12:00", check: noAnswer},
		{name: "an unproven auto-reply is history only, no notice", req: open(),
			ev:  msg("lead@example.test", lifecycle.Staff, "Out of office", autoReply, unprovenMsg),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply"}, wake: "2026-12-01 12:00"},
		{name: "a requester's auto-reply after an answer does not reopen", req: answered,
			ev:  msg("jane@example.test", lifecycle.Requester, "I am away", autoReply),
			now: "2026-12-01 12:00", what: "auto-reply", state: lifecycle.Answered, hist: []string{"auto-reply"}},
		{name: "reopen: a step before the short follow-up's start is passed over", req: quick,
			ev:  msg("jane@example.test", lifecycle.Requester, "still broken"),
			now: "2026-12-01 15:00", what: "reopened", state: lifecycle.Acknowledged, hist: []string{"reopened"}, wake: "2026-12-01 15:30",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tick := lifecycle.Step(d, tr.Next, lifecycle.Tick{}, at("2026-12-01 15:00")); tick.Fired || len(tick.Mail) > 0 {
					t.Errorf("a tick right after the reopen fired %q: %v", tick.What, mails(tick))
				}
			}},
		{name: "#reopen: the same", req: with(quick, func(r *lifecycle.Request) { r.State, r.ResolvedAt = lifecycle.Resolved, at("2026-12-01 12:00") }),
			ev:  msg("alice@example.test", lifecycle.Staff, "#reopen"),
			now: "2026-12-01 15:00", what: "reopened", state: lifecycle.Acknowledged, hist: []string{"reopened"}, wake: "2026-12-01 15:30"},
		{name: "#eta shorter than a before-due step: no instant escalation", req: with(open(), func(r *lifecycle.Request) { r.Category = "quick"; r.EscalationLevel = 0 }),
			ev:  msg("alice@example.test", lifecycle.Staff, "#eta 30m"),
			now: "2026-12-01 11:00", what: "eta", state: lifecycle.Acknowledged, mail: []string{"due-update→jane@example.test"}, hist: []string{"eta"}, wake: "2026-12-01 11:30"},
	})
}

// TestStepOwnership: issue 15 item 1. #take and the first staff answer
// make an owner; a second staff member's answer tells the owner; the
// owner gets the staff escalations.
func TestStepOwnership(t *testing.T) {
	d := teamDept(t)
	owned := func(owner string) lifecycle.Request {
		return with(open(), func(r *lifecycle.Request) { r.AssignedTo = owner })
	}
	owner := func(want string) func(t *testing.T, tr lifecycle.Transition) {
		return func(t *testing.T, tr lifecycle.Transition) {
			if tr.Next.AssignedTo != want {
				t.Errorf("owner %q, want %q", tr.Next.AssignedTo, want)
			}
		}
	}
	runRows(t, d, []row{
		{name: "the first staff answer takes the request", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "Try again now.", toRequester),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered, hist: []string{"answered", "assigned"}, check: owner("alice@example.test")},
		{name: "an answer from the shared account takes nothing", req: open(),
			ev:  msg("it-help@example.test", lifecycle.Staff, "Try again now.", fromSent, toRequester),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered, hist: []string{"answered"}, check: owner("")},
		{name: "a second staff member answers: the owner is told", req: owned("alice@example.test"),
			ev:  msg("bob@example.test", lifecycle.Staff, "Try again now.", toRequester),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered, mail: []string{"owner-notice→alice@example.test"},
			hist: []string{"answered"}, check: func(t *testing.T, tr lifecycle.Transition) {
				owner("alice@example.test")(t, tr)
				if in := tr.Mail[0]; in.Staff.Address != "bob@example.test" || in.Took {
					t.Errorf("notice names %q, took %v", in.Staff.Address, in.Took)
				}
			}},
		{name: "the owner answers again: nobody is told", req: owned("alice@example.test"),
			ev:  msg("ALICE@example.test", lifecycle.Staff, "One more thing.", toRequester),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered, hist: []string{"answered"}, check: owner("alice@example.test")},
		{name: "a second staff member's words relayed: the owner is told", req: owned("alice@example.test"),
			ev:  msg("bob@example.test", lifecycle.Staff, "Reboot please."),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered,
			mail: []string{"relay→jane@example.test", "owner-notice→alice@example.test"}, hist: []string{"answered"}},
		{name: "#take an unowned request", req: open(),
			ev:  msg("bob@example.test", lifecycle.Staff, "#take"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, hist: []string{"assigned"}, wake: "2026-12-01 12:00", check: owner("bob@example.test")},
		{name: "#take from another owner tells them", req: owned("alice@example.test"),
			ev:  msg("bob@example.test", lifecycle.Staff, "I know this printer.\n#mine"),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered,
			mail: []string{"relay→jane@example.test", "owner-notice→alice@example.test"}, hist: []string{"answered", "assigned"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				owner("bob@example.test")(t, tr)
				if !tr.Mail[1].Took || tr.Mail[1].Request.AssignedTo != "alice@example.test" {
					t.Errorf("notice took %v, to owner %q", tr.Mail[1].Took, tr.Mail[1].Request.AssignedTo)
				}
			}},
		{name: "#take from the shared account is refused", req: open(),
			ev:  msg("it-help@example.test", lifecycle.Staff, "#take"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, hist: []string{"command-refused"}, wake: "2026-12-01 12:00", check: owner("")},
		{name: "the owner gets the staff escalation", req: owned("bob@example.test"), ev: lifecycle.Tick{},
			now: "2026-12-01 12:00", what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→bob@example.test"},
			hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
	})
}

// TestStepCategory: issue 15 item 3. #category moves a request; the
// commitment is counted again from its arrival, the ladder follows the
// new category, and the requester hears only of a changed date.
func TestStepCategory(t *testing.T) {
	d := teamDept(t)
	due := func(want string) func(t *testing.T, tr lifecycle.Transition) {
		return func(t *testing.T, tr lifecycle.Transition) {
			if !tr.Next.DueAt.Equal(at(want)) {
				t.Errorf("due %v, want %s", tr.Next.DueAt.In(berlin), want)
			}
			for _, m := range tr.Mail {
				if m.Kind == lifecycle.DueUpdate && (!m.NewDue.Equal(at(want)) || m.Request.Category != tr.Next.Category) {
					t.Errorf("due update says %v for category %q", m.NewDue.In(berlin), m.Request.Category)
				}
			}
		}
	}
	old := with(open(), func(r *lifecycle.Request) {
		// A 3d request received on Monday, looked at on Wednesday.
		r.Category, r.ReceivedAt, r.CycleStart, r.DueAt = "default", at("2026-11-30 10:00"), at("2026-11-30 10:00"), at("2026-12-03 10:00")
	})
	runRows(t, d, []row{
		{name: "same commitment: no due update, the new ladder", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#category network"),
			now: "2026-12-01 11:00", what: "category", state: lifecycle.Acknowledged, hist: []string{"category"}, wake: "2026-12-01 13:00",
			check: due("2026-12-01 14:00")},
		{name: "a longer commitment from the arrival: the requester hears the new date", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#category default"),
			now: "2026-12-01 11:00", what: "category", state: lifecycle.Acknowledged, mail: []string{"due-update→jane@example.test"},
			hist: []string{"category"}, wake: "2026-12-04 10:00", check: due("2026-12-04 10:00")},
		{name: "a shorter commitment already past: grace from now, past steps passed over", req: old,
			ev:  msg("alice@example.test", lifecycle.Staff, "#category access"),
			now: "2026-12-02 11:00", what: "category", state: lifecycle.Acknowledged, mail: []string{"due-update→jane@example.test"},
			hist: []string{"category"}, wake: "2026-12-02 11:06", check: due("2026-12-02 13:00")}, // the 90% step of Monday 10:00 to Wednesday 13:00 is still ahead
		{name: "an unknown category: help, nothing moves", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#category printers"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, wake: "2026-12-01 12:00", check: due("2026-12-01 14:00")},
		{name: "an answered request only changes category", req: with(open(), func(r *lifecycle.Request) { r.State = lifecycle.Answered }),
			ev:  msg("alice@example.test", lifecycle.Staff, "#category default"),
			now: "2026-12-01 11:00", what: "category", state: lifecycle.Answered, hist: []string{"category"}, check: due("2026-12-01 14:00")},
	})
}

func awayIs(want ...string) func(t *testing.T, tr lifecycle.Transition) {
	return func(t *testing.T, tr lifecycle.Transition) {
		t.Helper()
		var got []string
		for _, a := range tr.Away {
			s := a.Address + " back"
			if !a.Until.IsZero() {
				s = a.Address + " until " + a.Until.In(berlin).Format("2006-01-02 15:04")
			}
			got = append(got, s)
		}
		if !slices.Equal(got, want) {
			t.Errorf("away %q, want %q", got, want)
		}
	}
}

// TestStepAway: issue 15 item 2. A proven out-of-office from staff marks
// them away until the date it states, or a day; #away and #back do it by
// hand; an owner who is away has the staff escalations go to the rest.
func TestStepAway(t *testing.T) {
	d := teamDept(t)
	runRows(t, d, []row{
		{name: "out-of-office with a date", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "I am out of the office until Monday 7 December.", autoReply),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply", "away"}, wake: "2026-12-01 12:00",
			check: awayIs("alice@example.test until 2026-12-07 00:00")},
		{name: "out-of-office without a date: a day", req: open(),
			ev:  msg("bob@example.test", lifecycle.Staff, "I am away.", autoReply),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply", "away"}, wake: "2026-12-01 12:00",
			check: awayIs("bob@example.test until 2026-12-02 11:00")},
		{name: "an unproven out-of-office marks nobody", req: open(),
			ev:  msg("bob@example.test", lifecycle.Staff, "I am away.", autoReply, unprovenMsg),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply"}, wake: "2026-12-01 12:00",
			check: awayIs()},
		{name: "the shared account's autoresponder marks nobody", req: open(),
			ev:  msg("it-help@example.test", lifecycle.Staff, "We are closed.", autoReply, fromSent),
			now: "2026-12-01 11:00", what: "auto-reply", state: lifecycle.Acknowledged, hist: []string{"auto-reply"}, wake: "2026-12-01 12:00",
			check: awayIs()},
		{name: "#away until a date", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#away until friday"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, hist: []string{"away"}, wake: "2026-12-01 12:00",
			check: awayIs("alice@example.test until 2026-12-04 00:00")},
		{name: "#back", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#back"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, hist: []string{"away"}, wake: "2026-12-01 12:00",
			check: awayIs("alice@example.test back")},
		{name: "an owner away: the staff escalation goes to the rest", req: with(open(), func(r *lifecycle.Request) {
			r.AssignedTo, r.Away = "alice@example.test", []string{"alice@example.test"}
		}), ev: lifecycle.Tick{}, now: "2026-12-01 12:00", what: "escalation", state: lifecycle.Acknowledged,
			mail: []string{"escalation→bob@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "no owner, one away: the others", req: with(open(), func(r *lifecycle.Request) { r.Away = []string{"BOB@example.test"} }),
			ev: lifecycle.Tick{}, now: "2026-12-01 12:00", what: "escalation", state: lifecycle.Acknowledged,
			mail: []string{"escalation→alice@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "everyone away: all staff all the same", req: with(open(), func(r *lifecycle.Request) {
			r.Away = []string{"alice@example.test", "bob@example.test"}
		}), ev: lifecycle.Tick{}, now: "2026-12-01 12:00", what: "escalation", state: lifecycle.Acknowledged,
			mail: []string{"escalation→alice@example.test,bob@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
	})
}

func TestPickOwner(t *testing.T) {
	d := teamDept(t)
	d.Staff = []string{"alice@example.test", "bob@example.test", "carol@example.test"}
	open := map[string]int{"alice@example.test": 3, "bob@example.test": 1, "carol@example.test": 1}
	for _, tc := range []struct {
		name string
		mode config.AssignMode
		last string
		away []string
		want string
	}{
		{"none assigns nobody", config.AssignNone, "", nil, ""},
		{"round robin from the top", config.AssignRoundRobin, "", nil, "alice@example.test"},
		{"round robin after the last", config.AssignRoundRobin, "alice@example.test", nil, "bob@example.test"},
		{"round robin wraps", config.AssignRoundRobin, "carol@example.test", nil, "alice@example.test"},
		{"round robin skips who is away", config.AssignRoundRobin, "alice@example.test", []string{"Bob@example.test"}, "carol@example.test"},
		{"round robin, the last one gone from staff", config.AssignRoundRobin, "dave@example.test", nil, "alice@example.test"},
		{"least open, ties to the earlier", config.AssignLeastOpen, "", nil, "bob@example.test"},
		{"least open skips who is away", config.AssignLeastOpen, "", []string{"bob@example.test"}, "carol@example.test"},
		{"everyone away", config.AssignRoundRobin, "", d.Staff, ""},
	} {
		d.Assign = tc.mode
		if got := lifecycle.PickOwner(d, tc.last, open, tc.away); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestStepLinked: issue 15 item 4. #same links a request under another;
// what staff do on the parent is passed to each linked request.
func TestStepLinked(t *testing.T) {
	d := teamDept(t)
	known := func(m *lifecycle.Message) { m.ParentOK = func(ref string) bool { return ref == "REQ-7" } }
	child := with(open(), func(r *lifecycle.Request) { r.Ref, r.Parent = "REQ-9", "REQ-7" })
	fan := func(want lifecycle.ParentAnswer) func(t *testing.T, tr lifecycle.Transition) {
		return func(t *testing.T, tr lifecycle.Transition) {
			if tr.FanOut == nil || *tr.FanOut != want {
				t.Errorf("fan out %+v, want %+v", tr.FanOut, want)
			}
		}
	}
	alice := rules.Address{Address: "alice@example.test"}
	runRows(t, d, []row{
		{name: "#same links under an open request; the clock waits on it", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#same req-7", known),
			now: "2026-12-01 11:00", what: "linked", state: lifecycle.Acknowledged, hist: []string{"linked"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Next.Parent != "REQ-7" {
					t.Errorf("parent %q", tr.Next.Parent)
				}
			}},
		{name: "#same an unknown request: help", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#same REQ-8", known),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, wake: "2026-12-01 12:00"},
		{name: "#same itself: help", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#same REQ-1"),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, wake: "2026-12-01 12:00"},
		{name: "an answer on the parent fans out", req: with(open(), func(r *lifecycle.Request) { r.Ref = "REQ-7" }),
			ev:  msg("alice@example.test", lifecycle.Staff, "The mail server is back.\n\nAlice", toRequester),
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered, hist: []string{"answered", "assigned"},
			check: fan(lifecycle.ParentAnswer{Parent: "REQ-7", Staff: alice, Said: "The mail server is back.\n\nAlice"})},
		{name: "#done alone on the parent fans out without words", req: with(open(), func(r *lifecycle.Request) { r.Ref = "REQ-7" }),
			ev:  msg("alice@example.test", lifecycle.Staff, "#done\nThanks"),
			now: "2026-12-01 11:00", what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"held", "resolved"},
			check: fan(lifecycle.ParentAnswer{Parent: "REQ-7", Staff: alice, Done: true})},
		{name: "#incident is history", req: open(),
			ev:  msg("alice@example.test", lifecycle.Staff, "#incident The mail server is down; we are on it."),
			now: "2026-12-01 11:00", what: "follow-up", state: lifecycle.Acknowledged, hist: []string{"incident"}, wake: "2026-12-01 12:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.History[0].Detail != "The mail server is down; we are on it." {
					t.Errorf("incident text %q", tr.History[0].Detail)
				}
			}},
		{name: "the child gets the parent's answer in its thread", req: child,
			ev:  lifecycle.ParentAnswer{Parent: "REQ-7", Staff: alice, Said: "The mail server is back."},
			now: "2026-12-01 11:00", what: "answered", state: lifecycle.Answered, mail: []string{"relay→jane@example.test"}, hist: []string{"answered"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Mail[0].Request.Ref != "REQ-9" || tr.Mail[0].Said != "The mail server is back." {
					t.Errorf("relay for %s says %q", tr.Mail[0].Request.Ref, tr.Mail[0].Said)
				}
			}},
		{name: "the child is resolved with the parent", req: child,
			ev:  lifecycle.ParentAnswer{Parent: "REQ-7", Staff: alice, Done: true},
			now: "2026-12-01 11:00", what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved"}},
		{name: "another parent's answer changes nothing", req: child,
			ev:  lifecycle.ParentAnswer{Parent: "REQ-8", Staff: alice, Said: "x"},
			now: "2026-12-01 11:00", what: "nothing", state: lifecycle.Acknowledged},
	})
}

func TestAlike(t *testing.T) {
	subjects := &lifecycle.Subjects{}
	for _, tc := range []struct {
		aRule, a, bRule, b string
		want               bool
	}{
		{"mail", "anything", "mail", "else", true},
		{"", "Outlook cannot connect to the server", "", "Re: outlook cannot connect [REQ-4]", true},
		{"", "Mail server down?", "", "mail server is down", true},
		{"", "Printer jams", "", "Printer on floor 3 jams again", true},
		{"", "Printer jams", "", "New printer toner", false},
		{"", "VPN", "", "vpn", true},
		{"", "VPN", "", "VPN slow", false},
		{"", "Password reset", "", "Forgot password for payroll", false},
		{"", "Printer on floor 2 jams", "", "Printer on floor 3 jams", false},
		{"", "Kill test request 7", "", "Kill test request 8", false},
		{"", "Printer on floor 3 jams", "", "printer floor 3 jammed", true},
		{"password", "Password reset 7", "password", "Password reset 8", true},
	} {
		if got := lifecycle.Alike(tc.aRule, tc.a, tc.bRule, tc.b); got != tc.want {
			t.Errorf("Alike(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		// Symmetric, and the same answer from a comparer used many times.
		alikeTo := lifecycle.AlikeTo(tc.bRule, tc.b)
		for range 2 {
			if got := alikeTo(tc.aRule, tc.a); got != tc.want {
				t.Errorf("AlikeTo(%q)(%q) = %v, want %v", tc.b, tc.a, got, tc.want)
			}
		}
		// Subjects remembers words, shared between comparers, and says
		// the same, before and after it remembers.
		for range 2 {
			if got := subjects.AlikeTo(tc.aRule, tc.a)(tc.bRule, tc.b); got != tc.want {
				t.Errorf("Subjects.AlikeTo(%q)(%q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		}
	}
}
