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

// configYAML: Europe/Berlin, Mon–Fri 09:00–17:00; access is 4h with steps at
// 50% (staff) and 90% (leads) and a closing note; network 4h with a step
// 1h before due, a 2h follow-up and auto_resolve after 2d.
const configYAML = `store: {driver: sqlite, dsn: ackd.db}
smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    aliases: [helpdesk@example.test]
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it-help@example.test, password_file: pw}
    staff: [alice@example.test, bob@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00"}
    categories:
      access: {commitment: 4h, closing: true, escalate: [{at: 50%, to: staff}, {at: 90%, to: leads}]}
      network: {commitment: 4h, followup: 2h, auto_resolve: 2d, escalate: [{before_due: 1h, to: staff}]}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {subject: [password]}
        category: access
`

func dept(t *testing.T) *config.Department {
	t.Helper()
	cfg, err := config.Parse("config.yaml", []byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Departments[0]
}

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

// at is a time in Berlin; 2026-12-01 is a Tuesday.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
	if err != nil {
		panic(err)
	}
	return t
}

// open is an access request received at 10:00, due 14:00.
func open() lifecycle.Request {
	return lifecycle.Request{
		Ref: "REQ-1", MessageID: "<m1@client.example.test>", Requester: "jane@example.test", RequesterName: "Jane",
		Subject: "Forgot my password", Category: "access", Recipients: []string{"carl@example.test"},
		ReceivedAt: at("2026-12-01 10:00"), State: lifecycle.Acknowledged, DueAt: at("2026-12-01 14:00"),
		CycleStart: at("2026-12-01 10:00"), LastActivityAt: at("2026-12-01 10:00"),
	}
}

func with(r lifecycle.Request, f func(*lifecycle.Request)) lifecycle.Request { f(&r); return r }

func msg(from string, role lifecycle.Role, text string, f ...func(*lifecycle.Message)) *lifecycle.Message {
	m := &lifecycle.Message{From: rules.Address{Address: from}, Role: role, Text: text}
	if role == lifecycle.Staff {
		m.Proven, m.Proof = true, "replies to the request's own message"
	}
	for _, g := range f {
		g(m)
	}
	return m
}

func unprovenMsg(m *lifecycle.Message) { m.Proven, m.Proof = false, "no In-Reply-To" }
func toRequester(m *lifecycle.Message) { m.ToRequester = true }
func noticed(m *lifecycle.Message)     { m.Noticed = true }

// mails is the intents in short: "escalation→alice@example.test,bob@example.test".
func mails(t lifecycle.Transition) []string {
	var out []string
	for _, m := range t.Mail {
		out = append(out, string(m.Kind)+"→"+strings.Join(m.To, ","))
	}
	return out
}

func kinds(t lifecycle.Transition) []string {
	var out []string
	for _, e := range t.History {
		out = append(out, e.Kind)
	}
	return out
}

// TestStep: every rule of README's "The life of a request", one row each.
func TestStep(t *testing.T) {
	d := dept(t)
	answered := with(open(), func(r *lifecycle.Request) {
		r.State, r.AnsweredAt, r.FirstResponseAt, r.LastActivityAt = lifecycle.Answered, at("2026-12-01 11:00"), at("2026-12-01 11:00"), at("2026-12-01 11:00")
	})
	waiting := with(open(), func(r *lifecycle.Request) {
		r.State, r.WaitingSince = lifecycle.Waiting, at("2026-12-01 12:00") // 2h of 4h left
	})
	overdue := with(open(), func(r *lifecycle.Request) {
		r.State, r.LateNoticeFor, r.DueAt, r.EscalationLevel = lifecycle.Overdue, at("2026-12-01 14:00"), at("2026-12-01 16:00"), 3
	})
	network := with(open(), func(r *lifecycle.Request) { r.Category = "network" })
	promised := with(open(), func(r *lifecycle.Request) { r.PromisedAt = at("2026-12-02 11:00") })
	netAnswered := with(answered, func(r *lifecycle.Request) { r.Category = "network" })

	tests := []struct {
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
	}{
		// A new request.
		{name: "a new request is acknowledged with a receipt to the requester alone",
			req: lifecycle.Request{MessageID: "<m1@client.example.test>", Requester: "jane@example.test", Subject: "Forgot my password", Recipients: []string{"carl@example.test"}},
			ev: &lifecycle.Received{Decision: rules.Decision{Reply: true, Category: "access", Rule: "password", Commitment: d.Categories["access"].Commitment,
				ReceivedAt: at("2026-12-01 10:00"), DueAt: at("2026-12-01 14:00")}, References: []string{"<earlier@client.example.test>"}},
			now: "2026-12-01 10:00", what: "receipt", state: lifecycle.Acknowledged, mail: []string{"receipt→jane@example.test"},
			wake: "2026-12-01 12:00", check: func(t *testing.T, tr lifecycle.Transition) {
				n, in := tr.Next, tr.Mail[0]
				if n.Category != "access" || !n.DueAt.Equal(at("2026-12-01 14:00")) || !n.CycleStart.Equal(at("2026-12-01 10:00")) ||
					!n.ReceivedAt.Equal(n.CycleStart) || !n.LastActivityAt.Equal(n.CycleStart) {
					t.Errorf("new request %+v", n)
				}
				if in.Commitment != d.Categories["access"].Commitment || !slices.Equal(in.References, []string{"<earlier@client.example.test>"}) || in.Request.DueAt != n.DueAt {
					t.Errorf("receipt intent %+v", in)
				}
			}},
		{name: "a new request with a later forecast keeps the promise; the ladder runs on the commitment",
			req: lifecycle.Request{MessageID: "<m1@client.example.test>", Requester: "jane@example.test", Subject: "Forgot my password"},
			ev: &lifecycle.Received{Decision: rules.Decision{Reply: true, Category: "access", Commitment: d.Categories["access"].Commitment,
				ReceivedAt: at("2026-12-01 10:00"), DueAt: at("2026-12-01 14:00")}, Promise: at("2026-12-02 11:00")},
			now: "2026-12-01 10:00", what: "receipt", state: lifecycle.Acknowledged, mail: []string{"receipt→jane@example.test"},
			wake: "2026-12-01 12:00", check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Next.PromisedAt.Equal(at("2026-12-02 11:00")) || !tr.Next.DueAt.Equal(at("2026-12-01 14:00")) || !tr.Mail[0].Request.PromisedAt.Equal(tr.Next.PromisedAt) {
					t.Errorf("promised %v, due %v; receipt's request promised %v", tr.Next.PromisedAt, tr.Next.DueAt, tr.Mail[0].Request.PromisedAt)
				}
			}},
		// Clock.
		{name: "nothing due before the first step", req: open(), ev: lifecycle.Tick{}, now: "2026-12-01 11:59",
			what: "wake-up", state: lifecycle.Acknowledged, wake: "2026-12-01 12:00"},
		{name: "50% step escalates to staff", req: open(), ev: lifecycle.Tick{}, now: "2026-12-01 12:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"},
			hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "90% step escalates to leads", req: with(open(), func(r *lifecycle.Request) { r.EscalationLevel = 1 }), ev: lifecycle.Tick{}, now: "2026-12-01 13:36",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→lead@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 14:00"},
		{name: "staff step goes to the assignee first", req: with(open(), func(r *lifecycle.Request) { r.AssignedTo = "carol@example.test" }), ev: lifecycle.Tick{}, now: "2026-12-01 12:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→carol@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "an assignee the composer refuses: staff instead", req: with(open(), func(r *lifecycle.Request) { r.AssignedTo = "x,y@example.test" }), ev: lifecycle.Tick{}, now: "2026-12-01 12:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "an assignee only the composer's check refuses (double dot): staff instead", req: with(open(), func(r *lifecycle.Request) { r.AssignedTo = "carol@example..test" }), ev: lifecycle.Tick{}, now: "2026-12-01 12:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "before_due step", req: network, ev: lifecycle.Tick{}, now: "2026-12-01 13:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"}, hist: []string{"escalated"}, wake: "2026-12-01 14:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !strings.Contains(tr.Mail[0].Reason, "1h of business time left") {
					t.Errorf("reason %q", tr.Mail[0].Reason)
				}
			}},
		{name: "due passes: honest late notice, leads, new time after grace", req: with(open(), func(r *lifecycle.Request) { r.EscalationLevel = 2 }), ev: lifecycle.Tick{}, now: "2026-12-01 14:00",
			what: "late-notice", state: lifecycle.Overdue, mail: []string{"late-notice→jane@example.test", "escalation→lead@example.test"},
			hist: []string{"late-notice", "escalated"}, wake: "2026-12-01 16:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Next.LateNoticeFor.Equal(at("2026-12-01 14:00")) || !tr.Mail[0].NewDue.Equal(at("2026-12-01 16:00")) {
					t.Errorf("late notice for %v, new due %v", tr.Next.LateNoticeFor, tr.Mail[0].NewDue)
				}
			}},
		// promise: forecast on a busy day: promised Wed 11:00, committed Tue 14:00.
		{name: "forecast promise: the ladder still runs on the commitment", req: promised, ev: lifecycle.Tick{}, now: "2026-12-01 12:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"},
			hist: []string{"escalated"}, wake: "2026-12-01 13:36"},
		{name: "forecast promise: the commitment passes, leads hear, requester is not written to", req: with(promised, func(r *lifecycle.Request) { r.EscalationLevel = 2 }),
			ev: lifecycle.Tick{}, now: "2026-12-01 14:00",
			what: "commitment-passed", state: lifecycle.Acknowledged, mail: []string{"escalation→lead@example.test"},
			hist: []string{"escalated"}, wake: "2026-12-02 11:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Next.DueAt.Equal(at("2026-12-02 11:00")) || !tr.Next.PromisedAt.Equal(tr.Next.DueAt) || tr.Next.EscalationLevel != 3 {
					t.Errorf("due %v promised %v level %d", tr.Next.DueAt, tr.Next.PromisedAt, tr.Next.EscalationLevel)
				}
				if !strings.Contains(tr.Mail[0].Reason, "promised Wednesday 2 December, 11:00") {
					t.Errorf("reason %q", tr.Mail[0].Reason)
				}
			}},
		{name: "forecast promise: the promise passes: the late notice", req: with(promised, func(r *lifecycle.Request) {
			r.DueAt, r.EscalationLevel = at("2026-12-02 11:00"), 3
		}), ev: lifecycle.Tick{}, now: "2026-12-02 11:00",
			what: "late-notice", state: lifecycle.Overdue, mail: []string{"late-notice→jane@example.test", "escalation→lead@example.test"},
			hist: []string{"late-notice", "escalated"}, wake: "2026-12-02 13:00"},
		{name: "forecast promise: answered in time, nothing more", req: promised, ev: msg("alice@example.test", lifecycle.Staff, "Done.", toRequester), now: "2026-12-02 10:00",
			what: "answered", state: lifecycle.Answered, hist: []string{"answered", "assigned"}},
		{name: "forecast promise: #eta replaces it", req: promised, ev: msg("alice@example.test", lifecycle.Staff, "#eta 2026-12-03 12:00"), now: "2026-12-01 11:00",
			what: "eta", state: lifecycle.Acknowledged, mail: []string{"due-update→jane@example.test"}, hist: []string{"eta"}, wake: "2026-12-02 11:30",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Next.PromisedAt.IsZero() {
					t.Errorf("promise kept after #eta: %v", tr.Next.PromisedAt)
				}
			}},
		{name: "the new time passes too: leads again, no second apology", req: overdue, ev: lifecycle.Tick{}, now: "2026-12-01 16:00",
			what: "late-notice", state: lifecycle.Overdue, mail: []string{"escalation→lead@example.test"}, hist: []string{"escalated"}},
		{name: "waiting: the clock is paused", req: waiting, ev: lifecycle.Tick{}, now: "2026-12-09 12:00", what: "wake-up", state: lifecycle.Waiting},
		{name: "answered without auto_resolve never wakes", req: answered, ev: lifecycle.Tick{}, now: "2026-12-20 12:00", what: "wake-up", state: lifecycle.Answered},
		{name: "auto_resolve after silence", req: netAnswered, ev: lifecycle.Tick{}, now: "2026-12-03 11:00",
			what: "auto-resolve", state: lifecycle.Resolved, hist: []string{"resolved"}},
		{name: "a step more than max_age late mails nobody", req: open(), ev: lifecycle.Tick{}, now: "2027-03-01 12:00",
			what: "escalation (too old, not mailed)", state: lifecycle.Acknowledged, hist: []string{"skipped-too-old"}, wake: "2026-12-01 13:36"},

		// The requester and the request's recipients.
		{name: "requester reminder escalates at once", req: open(), ev: msg("jane@example.test", lifecycle.Requester, "any news?"), now: "2026-12-01 11:00",
			what: "reminder", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"},
			hist: []string{"reminder", "escalated"}, wake: "2026-12-01 13:36",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Next.Reminders != 1 || tr.Mail[0].Request.Reminders != 1 {
					t.Errorf("reminders %d, in the mail %d; want 1", tr.Next.Reminders, tr.Mail[0].Request.Reminders)
				}
			}},
		{name: "recipient reminder counts too", req: open(), ev: msg("carl@example.test", lifecycle.Recipient, "any news?"), now: "2026-12-01 11:00",
			what: "reminder", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"}, hist: []string{"reminder", "escalated"}, wake: "2026-12-01 13:36"},
		{name: "anyone else is information only", req: open(), ev: msg("eve@example.test", lifecycle.Other, "I want this too #done"), now: "2026-12-01 11:00",
			what: "information", state: lifecycle.Acknowledged, hist: []string{"activity"}, wake: "2026-12-01 12:00"},
		{name: "requester answers while waiting: clock runs with the time left", req: waiting, ev: msg("jane@example.test", lifecycle.Requester, "here it is"), now: "2026-12-02 10:00",
			what: "resumed", state: lifecycle.Acknowledged, hist: []string{"resumed"}, wake: "2026-12-02 10:00", // the 50% step of the shifted cycle
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Next.DueAt.Equal(at("2026-12-02 12:00")) {
					t.Errorf("due %v, want 2h after resuming", tr.Next.DueAt.In(berlin))
				}
			}},
		{name: "a recipient while waiting does not resume", req: waiting, ev: msg("carl@example.test", lifecycle.Recipient, "me too"), now: "2026-12-02 10:00",
			what: "follow-up", state: lifecycle.Waiting, hist: []string{"activity"}},
		{name: "requester replies after an answer: reopened under follow-up", req: netAnswered, ev: msg("jane@example.test", lifecycle.Requester, "still broken"), now: "2026-12-01 15:00",
			what: "reopened", state: lifecycle.Acknowledged, hist: []string{"reopened"}, wake: "2026-12-01 16:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Next.DueAt.Equal(at("2026-12-01 17:00")) {
					t.Errorf("due %v, want the 2h follow-up", tr.Next.DueAt.In(berlin))
				}
			}},

		// Staff, proven.
		{name: "staff reply to the requester answers", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "Done, try now.", toRequester), now: "2026-12-01 11:00",
			what: "answered", state: lifecycle.Answered, hist: []string{"answered", "assigned"}},
		{name: "staff words to ackd alone are relayed", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "Try the new password."), now: "2026-12-01 11:00",
			what: "answered", state: lifecycle.Answered, mail: []string{"relay→jane@example.test"}, hist: []string{"answered", "assigned"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Mail[0].Said != "Try the new password." {
					t.Errorf("relayed %q", tr.Mail[0].Said)
				}
			}},
		{name: "#done resolves with the closing note", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#done"), now: "2026-12-01 11:00",
			what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved"}},
		{name: "#waiting pauses", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#waiting"), now: "2026-12-01 11:00",
			what: "waiting", state: lifecycle.Waiting, hist: []string{"waiting"}},
		{name: "#eta moves the due time and tells the requester", req: overdue, ev: msg("alice@example.test", lifecycle.Staff, "#eta 2026-12-02 12:00"), now: "2026-12-01 16:30",
			what: "eta", state: lifecycle.Acknowledged, mail: []string{"due-update→jane@example.test"}, hist: []string{"eta"}, wake: "2026-12-02 10:15"}, // 50% of 16:30–12:00 in business time
		{name: "#assign to staff", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#assign bob@example.test"), now: "2026-12-01 11:00",
			what: "follow-up", state: lifecycle.Acknowledged, hist: []string{"assigned"}, wake: "2026-12-01 12:00",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Next.AssignedTo != "bob@example.test" {
					t.Errorf("assigned to %q", tr.Next.AssignedTo)
				}
			}},
		{name: "#assign to an outsider is refused with help", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#assign eve@evil.test"), now: "2026-12-01 11:00",
			what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"}, hist: []string{"command-refused"}, wake: "2026-12-01 12:00"},
		{name: "#reopen a resolved request", req: with(open(), func(r *lifecycle.Request) { r.State, r.ResolvedAt = lifecycle.Resolved, at("2026-12-01 11:00") }),
			ev: msg("alice@example.test", lifecycle.Staff, "#reopen"), now: "2026-12-02 10:00",
			what: "reopened", state: lifecycle.Acknowledged, hist: []string{"reopened"}, wake: "2026-12-02 12:00"},
		{name: "staff note to the department address only", req: open(), ev: msg("it-help@example.test", lifecycle.Staff, "internal: checking"), now: "2026-12-01 11:00",
			what: "staff-note", state: lifecycle.Acknowledged, hist: []string{"note"}, wake: "2026-12-01 12:00"},
		{name: "Sent mailbox reply answers", req: open(), ev: msg("it-help@example.test", lifecycle.Staff, "Fixed.", func(m *lifecycle.Message) { m.FromSent = true }), now: "2026-12-01 11:00",
			what: "answered", state: lifecycle.Answered, hist: []string{"answered"}},

		// Staff, unproven: authority needs proof.
		{name: "unproven staff mail changes nothing and is noticed once", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#done", unprovenMsg), now: "2026-12-01 11:00",
			what: "unproven", state: lifecycle.Acknowledged, mail: []string{"unproven-notice→alice@example.test"},
			hist: []string{"unproven", "unproven-notice"}, wake: "2026-12-01 12:00"},
		{name: "unproven again within a day: no second notice", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#done", unprovenMsg, noticed), now: "2026-12-01 11:00",
			what: "unproven", state: lifecycle.Acknowledged, hist: []string{"unproven"}, wake: "2026-12-01 12:00"},
		{name: "unproven from the department's own address: never written to", req: open(), ev: msg("helpdesk@example.test", lifecycle.Staff, "#done", unprovenMsg), now: "2026-12-01 11:00",
			what: "unproven", state: lifecycle.Acknowledged, hist: []string{"unproven"}, wake: "2026-12-01 12:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
		})
	}
}

// Step is pure: the request it was given is not changed.
func TestStepDoesNotChangeItsInput(t *testing.T) {
	d := dept(t)
	r := open()
	before := open()
	lifecycle.Step(d, r, msg("jane@example.test", lifecycle.Requester, "any news?"), at("2026-12-01 11:00"))
	if r.Reminders != before.Reminders || r.EscalationLevel != before.EscalationLevel || r.State != before.State {
		t.Errorf("input changed: %+v", r)
	}
}

func TestRoleOf(t *testing.T) {
	d := dept(t)
	r := with(open(), func(r *lifecycle.Request) { r.AssignedTo = "carol@example.test" })
	for addr, want := range map[string]lifecycle.Role{
		"alice@example.test": lifecycle.Staff, "LEAD@example.test": lifecycle.Staff, "carol@example.test": lifecycle.Staff,
		"it-help@example.test": lifecycle.Staff, "helpdesk@example.test": lifecycle.Staff,
		"jane@example.test": lifecycle.Requester, "carl@example.test": lifecycle.Recipient, "eve@example.test": lifecycle.Other,
	} {
		if got := lifecycle.RoleOf(d, r, addr); got != want {
			t.Errorf("RoleOf(%s) = %v, want %v", addr, got, want)
		}
	}
}
