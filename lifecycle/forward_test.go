package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/lifecycle"
)

// forwardConfig adds Payroll, the department #forward moves requests to:
// its default category is 2 working days, grace 4h, a staff step at 50%.
var forwardConfig = configYAML + `  - name: Payroll
    address: payroll@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: payroll@example.test, password_file: pw}
    staff: [paula@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00"}
    categories:
      default: {commitment: 2d, grace: 4h, escalate: [{at: 50%, to: staff}]}
      salary: {commitment: 4h}
    rules:
      - {name: pay, match: {subject: [salary]}, category: salary}
`

func forwardDepts(t *testing.T) (*config.Department, *config.Department, func(string) (string, string, bool)) {
	t.Helper()
	cfg, err := config.Parse("config.yaml", []byte(forwardConfig))
	if err != nil {
		t.Fatal(err)
	}
	find := func(s string) (string, string, bool) {
		for _, d := range cfg.Departments {
			if strings.EqualFold(d.Name, s) || strings.EqualFold(d.Address, s) {
				return d.Key(), d.Name, true
			}
		}
		return "", "", false
	}
	return cfg.Departments[0], cfg.Departments[1], find
}

// TestStepForward: issue 15 item 5, #forward <department>. Proven staff
// move an open request by the other department's name or address: the old
// request is resolved and the caller records it there; an unknown or
// impossible department gets the sender command help and nothing reaches
// the requester. In the new department the request is acknowledged under
// its default category, due counted from the original arrival (or the
// grace from now when that is past), and the requester gets the handover.
func TestStepForward(t *testing.T) {
	it, payroll, find := forwardDepts(t)
	dir := func(m *lifecycle.Message) { m.Department = find }
	movedTo := func(name string) func(t *testing.T, tr lifecycle.Transition) {
		return func(t *testing.T, tr lifecycle.Transition) {
			if tr.Forward == nil || tr.Forward.Key != "payroll@example.test" || tr.Forward.Name != name || tr.Forward.By != "alice@example.test" {
				t.Errorf("forward %+v, want to Payroll by alice", tr.Forward)
			}
			if !tr.Next.ResolvedAt.Equal(at("2026-12-01 11:00")) {
				t.Errorf("resolved at %v", tr.Next.ResolvedAt)
			}
		}
	}
	notMoved := func(t *testing.T, tr lifecycle.Transition) {
		if tr.Forward != nil {
			t.Errorf("moved: %+v", tr.Forward)
		}
	}
	resolved := with(open(), func(r *lifecycle.Request) { r.State, r.ResolvedAt = lifecycle.Resolved, at("2026-12-01 10:30") })
	runRows(t, it, []row{
		{name: "by name: resolved here, moved there", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "#forward payroll", dir), now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Resolved, hist: []string{"forwarded"}, check: movedTo("Payroll")},
		{name: "by address", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "#forward <Payroll@example.test>.", dir), now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Resolved, hist: []string{"forwarded"}, check: movedTo("Payroll")},
		{name: "a command after #forward: not applied to the old request, the sender told; the move stands", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "#forward payroll\n#wait", dir), now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Resolved, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused", "forwarded"}, check: movedTo("Payroll")},
		{name: "an unknown department: help to the sender, words held from the requester", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "Payroll will take this.\n#forward Finance", dir), now: "2026-12-01 11:00",
			what: "held", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"held", "command-refused"}, wake: "2026-12-01 12:00", check: notMoved},
		{name: "its own department: refused", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "#forward it-help@example.test", dir), now: "2026-12-01 11:00",
			what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, wake: "2026-12-01 12:00", check: notMoved},
		{name: "a resolved request: refused", req: resolved,
			ev: msg("alice@example.test", lifecycle.Staff, "#forward Payroll", dir), now: "2026-12-01 11:00",
			what: "follow-up", state: lifecycle.Resolved, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, check: notMoved},
		{name: "no directory: refused", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "#forward Payroll"), now: "2026-12-01 11:00",
			what: "follow-up", state: lifecycle.Acknowledged, mail: []string{"command-help→alice@example.test"},
			hist: []string{"command-refused"}, wake: "2026-12-01 12:00", check: notMoved},
		{name: "unproven staff: nothing moves", req: open(),
			ev: msg("alice@example.test", lifecycle.Staff, "#forward Payroll", dir, unprovenMsg), now: "2026-12-01 11:00",
			what: "unproven", state: lifecycle.Acknowledged, mail: []string{"unproven-notice→alice@example.test"},
			hist: []string{"unproven", "unproven-notice"}, wake: "2026-12-01 12:00", check: notMoved},
		{name: "the requester cannot forward", req: open(),
			ev: msg("jane@example.test", lifecycle.Requester, "#forward Payroll", dir), now: "2026-12-01 11:00",
			what: "reminder", state: lifecycle.Acknowledged, mail: []string{"escalation→alice@example.test,bob@example.test"},
			hist: []string{"reminder", "escalated"}, wake: "2026-12-01 13:36", check: notMoved},
	})

	// In Payroll: what the requester wrote, with IT's state left behind.
	arrived := with(open(), func(r *lifecycle.Request) {
		r.State, r.AssignedTo, r.Reminders, r.EscalationLevel = lifecycle.Overdue, "alice@example.test", 2, 3
		r.FirstResponseAt, r.Language = at("2026-12-01 10:30"), "de"
	})
	old := with(arrived, func(r *lifecycle.Request) { r.ReceivedAt = at("2026-11-20 10:00") })
	ev := lifecycle.Forwarded{From: "IT Help Desk", OldRef: "REQ-1", By: "alice@example.test"}
	fresh := func(due, cycle string) func(t *testing.T, tr lifecycle.Transition) {
		return func(t *testing.T, tr lifecycle.Transition) {
			n := tr.Next
			if n.Category != "default" || !n.DueAt.Equal(at(due)) || !n.CycleStart.Equal(at(cycle)) || n.AssignedTo != "" ||
				n.Reminders != 0 || n.EscalationLevel != 0 || !n.FirstResponseAt.IsZero() || n.Language != "de" {
				t.Errorf("moved request %+v; want default, due %s from %s, owner, reminders and answers reset", n, due, cycle)
			}
			h := tr.Mail[0]
			if h.From != "IT Help Desk" || h.OldRef != "REQ-1" || !h.Request.DueAt.Equal(at(due)) {
				t.Errorf("handover %+v", h)
			}
			if e := tr.History[0]; e.Actor != "alice@example.test" || e.Detail != "from IT Help Desk REQ-1" {
				t.Errorf("history %+v", e)
			}
		}
	}
	runRows(t, payroll, []row{
		{name: "arrives: due from the original arrival under the default category", req: arrived, ev: ev, now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Acknowledged, mail: []string{"handover→jane@example.test"},
			hist: []string{"forwarded"}, wake: "2026-12-02 10:00", check: fresh("2026-12-03 10:00", "2026-12-01 10:00")},
		{name: "arrives after its date: the grace from now, the ladder over it", req: old, ev: ev, now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Acknowledged, mail: []string{"handover→jane@example.test"},
			hist: []string{"forwarded"}, wake: "2026-12-01 13:00", check: fresh("2026-12-01 15:00", "2026-12-01 11:00")},
		{name: "arrives under the category payroll's rules give it", req: arrived,
			ev: lifecycle.Forwarded{From: "IT Help Desk", OldRef: "REQ-1", By: "alice@example.test", Category: "salary"}, now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Acknowledged, mail: []string{"handover→jane@example.test"},
			hist: []string{"forwarded"}, wake: "2026-12-01 14:00", check: func(t *testing.T, tr lifecycle.Transition) {
				if n := tr.Next; n.Category != "salary" || !n.DueAt.Equal(at("2026-12-01 14:00")) {
					t.Errorf("moved request under %q due %v; want salary, due 4 working hours from its arrival", n.Category, n.DueAt)
				}
				if e := tr.History[0]; e.Detail != "from IT Help Desk REQ-1, category salary" {
					t.Errorf("history %+v", e)
				}
			}},
		{name: "a category payroll does not know: the default", req: arrived,
			ev: lifecycle.Forwarded{From: "IT Help Desk", OldRef: "REQ-1", By: "alice@example.test", Category: "printers"}, now: "2026-12-01 11:00",
			what: "forwarded", state: lifecycle.Acknowledged, mail: []string{"handover→jane@example.test"},
			hist: []string{"forwarded"}, wake: "2026-12-02 10:00", check: fresh("2026-12-03 10:00", "2026-12-01 10:00")},
	})
}
