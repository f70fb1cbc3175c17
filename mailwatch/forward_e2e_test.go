package mailwatch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
)

// A forward between two departments (issue 15 item 5), on the real
// stack: IT and Payroll in one config. A #forward naming no department
// reaches only its sender (command help); #forward Payroll moves the
// request: the requester gets one handover mail from Payroll with the new
// reference, and a follow-up on the old thread (to IT) and one on the
// handover (to Payroll) both reach Payroll's request, whose staff hear of
// it (the reminder's escalation).
func testTeamForward(t *testing.T, s *mailstack.Stack) {
	pay, paula := s.NewAddress(t, "payroll"), s.NewAddress(t, "paula")
	second := threadConfig(s, t.TempDir(), pay, paula, paula, secretFile(t), `{commitment: 2h}`)
	second = second[strings.Index(second, "departments:\n")+len("departments:\n"):]
	second = strings.Replace(second, "name: "+threadDeptName, "name: Payroll", 1)
	e := newTeamEnv(t, s, `{commitment: 1h}`, second)
	req := s.NewAddress(t, "fwd")
	o := e.openRequest(t, req, "Overtime missing on my payslip", "November's overtime is not on it."+english)
	ref := o.receipt.ref
	toDept := func(body string) { sendAs(t, s, o.reply(mailOut{from: e.alice, to: []string{e.dept}, body: body})) }

	toDept("Payroll handles this.\n#forward Finance")
	help := waitInbox(t, s, e.dept, e.alice, 20*time.Second, "command help", func(g []gotMail) bool { return len(having(g, kindOther, ref)) > 0 })
	if h := having(help, kindOther, ref)[0]; !strings.Contains(h.text, "Finance") || !strings.Contains(h.text, "#forward") {
		t.Errorf("command help does not name the unknown department:\n%s", h.text)
	}

	toDept("#forward Payroll")
	got := waitInbox(t, s, pay, req, 20*time.Second, "handover", func(g []gotMail) bool { return len(having(g, kindOther, "")) > 0 })
	hand := having(got, kindOther, "")
	if len(hand) != 1 {
		t.Fatalf("requester got %v from Payroll, want one handover", mailKinds(got))
	}
	h := hand[0]
	old := e.request(t, ref)
	moved, err := e.store.RequestByID(context.Background(), old.MovedTo)
	if err != nil {
		t.Fatalf("%s was not moved: %+v, %v", ref, old, err)
	}
	if old.State != store.StateResolved || moved.Dept != strings.ToLower(pay) || moved.Requester != req || h.ref != moved.Ref {
		t.Errorf("old %s %s, moved %s %s of %s; handover about %s", old.Ref, old.State, moved.Dept, moved.Ref, moved.Requester, h.ref)
	}
	if !strings.Contains(h.text, "["+moved.Ref+"]") || !strings.Contains(h.text, "["+ref+"]") || !strings.Contains(h.text, "handed over to Payroll") ||
		!strings.Contains(h.text, longDate(moved.DueAt)) {
		t.Errorf("handover does not give the new department, reference and date (%s):\n%s", longDate(moved.DueAt), h.text)
	}
	// Nothing of the refused command, nor of the forward, reached the
	// requester from IT: only the receipt.
	var fromIT []gotMail
	for _, g := range inboxOf(t, s, e.dept, req) {
		if g.kind != kindPerson {
			fromIT = append(fromIT, g)
		}
	}
	expectBox(t, "requester from IT", fromIT, kindReceipt+" "+ref)

	// A follow-up on the old thread, to IT, and one on the handover, to
	// Payroll: both are Payroll's request's.
	sendAs(t, s, o.reply(mailOut{from: req, to: []string{e.dept}, body: "Any news on this?"}))
	sendAs(t, s, mailOut{from: req, to: []string{pay}, subject: "Re: " + h.subject, inReplyTo: h.messageID, references: []string{h.messageID},
		body: "I can send the timesheet too."})
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := e.store.RequestByID(context.Background(), moved.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Reminders == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Payroll's %s has %d reminders, want both follow-ups", r.Ref, r.Reminders)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitInbox(t, s, pay, paula, 20*time.Second, "Payroll's escalation", func(g []gotMail) bool { return len(having(g, kindEscalation, moved.Ref)) > 0 })
	if r := e.request(t, ref); r.Reminders != 0 || r.State != store.StateResolved {
		t.Errorf("IT's %s took a follow-up: %d reminders, %s", ref, r.Reminders, r.State)
	}
	evs, err := e.store.Events(context.Background(), moved.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	if k := strings.Join(kinds, " "); !strings.Contains(k, "command-refused") || !strings.Contains(k, "forwarded") {
		t.Errorf("Payroll's %s history %v lacks IT's part", moved.Ref, kinds)
	}
}
