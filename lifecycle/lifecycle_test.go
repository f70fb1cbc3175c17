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
      aimed: {commitment: 4h, aim: 2h, escalate: [{at: 50%, to: staff}, {before_due: 30m, to: leads}]}
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
	// Asking how we did: resolved requests that were asked, or not.
	resolved := with(answered, func(r *lifecycle.Request) { r.State, r.ResolvedAt = lifecycle.Resolved, at("2026-12-01 12:00") })
	asked := with(resolved, func(r *lifecycle.Request) { r.RatingAskedAt = at("2026-12-01 12:00") })
	rated := with(asked, func(r *lifecycle.Request) { r.Rating, r.RatedAt = 4, at("2026-12-01 13:00") })
	// aimed: promised by 14:00 (4h), aimed at 12:00 (2h).
	aimed := with(open(), func(r *lifecycle.Request) { r.Category = "aimed" })

	tests := []row{
		// Asking how we did (opt-in per department).
		{name: "rating: #done asks how we did in the closing mail", sat: true, req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#done"), now: "2026-12-01 11:00",
			what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved", "rating-asked"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if !tr.Mail[0].AskRating || !tr.Next.RatingAskedAt.Equal(at("2026-12-01 11:00")) {
					t.Errorf("closing does not ask: %+v, asked at %v", tr.Mail[0], tr.Next.RatingAskedAt)
				}
			}},
		{name: "rating: not opted in, the closing asks nothing", req: open(), ev: msg("alice@example.test", lifecycle.Staff, "#done"), now: "2026-12-01 11:00",
			what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Mail[0].AskRating || !tr.Next.RatingAskedAt.IsZero() {
					t.Errorf("asked without opting in")
				}
			}},
		{name: "rating: asked within the period, not again", sat: true, req: with(open(), func(r *lifecycle.Request) { r.LastAsked = at("2026-11-20 10:00") }),
			ev: msg("alice@example.test", lifecycle.Staff, "#done"), now: "2026-12-01 11:00",
			what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved"}},
		{name: "rating: asked longer ago than the period, asked again", sat: true, req: with(open(), func(r *lifecycle.Request) { r.LastAsked = at("2026-10-20 10:00") }),
			ev: msg("alice@example.test", lifecycle.Staff, "#done"), now: "2026-12-01 11:00",
			what: "resolved", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved", "rating-asked"}},
		{name: "rating: auto_resolve of a category without closing note still asks", sat: true, req: netAnswered, ev: lifecycle.Tick{}, now: "2026-12-03 11:00",
			what: "auto-resolve", state: lifecycle.Resolved, mail: []string{"closing→jane@example.test"}, hist: []string{"resolved", "rating-asked"}},
		{name: "rating: an answer is recorded and thanked", sat: true, req: asked, ev: msg("jane@example.test", lifecycle.Requester, "4\n\n> How did we do?"), now: "2026-12-01 15:00",
			what: "rated", state: lifecycle.Resolved, mail: []string{"rating-thanks→jane@example.test"}, hist: []string{"rated"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Next.Rating != 4 || !tr.Next.RatedAt.Equal(at("2026-12-01 15:00")) {
					t.Errorf("rating %d at %v", tr.Next.Rating, tr.Next.RatedAt)
				}
			}},
		{name: "rating: a low one goes to the leads with the thread", sat: true, req: asked, ev: msg("jane@example.test", lifecycle.Requester, "schlecht"), now: "2026-12-01 15:00",
			what: "rated", state: lifecycle.Resolved, mail: []string{"rating-thanks→jane@example.test", "escalation→lead@example.test"}, hist: []string{"rated", "escalated"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Next.Rating != 1 || tr.Mail[1].Rating != 1 || !strings.Contains(tr.Mail[1].Reason, "1 of 5") {
					t.Errorf("low rating: %+v", tr.Mail[1])
				}
			}},
		{name: "rating: recorded once, a second answer is information", sat: true, req: rated, ev: msg("jane@example.test", lifecycle.Requester, "1"), now: "2026-12-01 16:00",
			what: "rated-again", state: lifecycle.Resolved, hist: []string{"activity"},
			check: func(t *testing.T, tr lifecycle.Transition) {
				if tr.Next.Rating != 4 {
					t.Errorf("rating changed to %d", tr.Next.Rating)
				}
			}},
		{name: "rating: a real reply reopens as before", sat: true, req: asked, ev: msg("jane@example.test", lifecycle.Requester, "It broke again this morning."), now: "2026-12-01 15:00",
			what: "reopened", state: lifecycle.Acknowledged, hist: []string{"reopened"}, wake: "2026-12-01 17:00"},
		{name: "rating: a number on a request never asked reopens", sat: true, req: resolved, ev: msg("jane@example.test", lifecycle.Requester, "5"), now: "2026-12-01 15:00",
			what: "reopened", state: lifecycle.Acknowledged, hist: []string{"reopened"}, wake: "2026-12-01 17:00"},

		// Promise and aim: the ladder runs on the aim, the late notice on the promise.
		{name: "aim: nothing before 50% of the aim", req: aimed, ev: lifecycle.Tick{}, now: "2026-12-01 10:59",
			what: "wake-up", state: lifecycle.Acknowledged, wake: "2026-12-01 11:00"},
		{name: "aim: 50% of the aim escalates to staff", req: aimed, ev: lifecycle.Tick{}, now: "2026-12-01 11:00",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"},
			hist: []string{"escalated"}, wake: "2026-12-01 11:30",
			check: func(t *testing.T, tr lifecycle.Transition) {
				if r := tr.Mail[0].Reason; !strings.Contains(r, "2h aim") || !strings.Contains(r, "4h promised") {
					t.Errorf("reason %q does not name aim and promise", r)
				}
			}},
		{name: "aim: before_due counts back from the aim", req: with(aimed, func(r *lifecycle.Request) { r.EscalationLevel = 1 }), ev: lifecycle.Tick{}, now: "2026-12-01 11:30",
			what: "escalation", state: lifecycle.Acknowledged, mail: []string{"escalation→lead@example.test"},
			hist: []string{"escalated"}, wake: "2026-12-01 14:00"},
		{name: "aim: past the aim the requester hears nothing until the promise", req: with(aimed, func(r *lifecycle.Request) { r.EscalationLevel = 2 }), ev: lifecycle.Tick{}, now: "2026-12-01 12:30",
			what: "wake-up", state: lifecycle.Acknowledged, wake: "2026-12-01 14:00"},
		{name: "aim: the late notice comes at the promise", req: with(aimed, func(r *lifecycle.Request) { r.EscalationLevel = 2 }), ev: lifecycle.Tick{}, now: "2026-12-01 14:00",
			what: "late-notice", state: lifecycle.Overdue, mail: []string{"late-notice→jane@example.test", "escalation→lead@example.test"},
			hist: []string{"late-notice", "escalated"}, wake: "2026-12-01 16:00"},

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
	asking := *d
	asking.Satisfaction = &config.Satisfaction{Every: 30 * 24 * time.Hour, Low: 2}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := d
			if tc.sat {
				d = &asking
			}
			checkStep(t, d, tc)
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

func TestParseRating(t *testing.T) {
	for in, want := range map[string]int{
		"4": 4, " 5 \n": 5, "3/5": 3, "2 of 5": 2, "1.": 1, "Good": 4, "schlecht!": 1, "très": 0, "uitstekend": 5,
		"4\n\n> On Tue, IT Help Desk wrote:\n> How did we do?": 4, "6": 0, "0": 0, "4 stars but slow": 0,
		"> 5\nquoted only": 0, "": 0, "Thanks, it works now": 0,
	} {
		got, ok := lifecycle.ParseRating(in)
		if got != want || ok != (want != 0) {
			t.Errorf("ParseRating(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

// TestReceivedKeepsLanguageAndAskFor: the request keeps the language
// Decide chose, and the receipt intent carries what to ask for (issue 16).
func TestReceivedKeepsLanguageAndAskFor(t *testing.T) {
	d := dept(t)
	links := []rules.DecisionLink{{Title: "Formular", URL: "https://intranet.example.test/form"}}
	tr := lifecycle.Step(d, lifecycle.Request{Requester: "max@example.test", Subject: "Drucker"},
		&lifecycle.Received{Decision: rules.Decision{Reply: true, Category: "access", Language: "de",
			AskFor: []string{"die Inventarnummer"}, Links: links,
			ReceivedAt: at("2026-12-01 10:00"), DueAt: at("2026-12-01 14:00")}}, at("2026-12-01 10:00"))
	if tr.Next.Language != "de" || len(tr.Mail) != 1 || tr.Mail[0].Request.Language != "de" {
		t.Fatalf("language not kept: %+v", tr.Next)
	}
	if in := tr.Mail[0]; !slices.Equal(in.AskFor, []string{"die Inventarnummer"}) || !slices.Equal(in.Links, links) {
		t.Errorf("receipt intent asks %v, links %v", in.AskFor, in.Links)
	}
}
