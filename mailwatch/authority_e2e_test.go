package mailwatch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
)

// TestAuthorityE2E is "authority needs proof" on the real Dovecot + Postfix
// stack: mail forged in the name of a staff member, a lead and the
// department (subject tag only, or a guessed In-Reply-To) relays nothing
// and runs no command, while a staff member's reply to ackd's escalation
// and a reply-all to the request still answer.
func TestAuthorityE2E(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	e := newThreadEnv(t, s, `{commitment: 2h, escalate: [{at: 50%, to: staff}]}`)
	outsider := s.NewAddress(t, "outsider")
	var reqs []opened
	for i := range 3 {
		reqs = append(reqs, e.openRequest(t, s.NewAddress(t, "jane"), fmt.Sprintf("Printer %d jams", i+1), "Paper jam again."))
	}

	const phish = "Your mailbox is full. Log in at http://it-help.evil.example/login to keep your mail."
	forged := 0
	forge := func(o opened, from, inReplyTo, body string) {
		t.Helper()
		m := mailOut{from: from, to: []string{e.dept}, subject: "Re: [" + o.receipt.ref + "] " + o.subject, body: body, inReplyTo: inReplyTo}
		if inReplyTo != "" {
			m.references = []string{inReplyTo}
		}
		sendAs(t, s, m)
		forged++
	}
	for _, o := range reqs {
		forge(o, `"Staff (IT Help Desk)" <`+e.staff+`>`, "", phish+"\n#done")
		forge(o, e.staff, "guessed-"+o.receipt.ref+"@"+mailstack.Domain, phish+"\n#waiting")
		forge(o, e.lead, "", "#assign "+outsider)
		forge(o, threadDeptName+" <"+e.dept+">", "", "#done")
	}
	// Every forged mail is on its thread as an "unproven" event.
	for _, o := range reqs {
		r := e.request(t, o.receipt.ref)
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs, err := e.store.Events(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range evs {
				if ev.Kind == mailwatch.EventUnproven {
					n++
				}
			}
			if n == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of 4 forged mails recorded as unproven", o.receipt.ref, n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The real staff member and lead hear once per request; the
	// department address is never written to.
	isNotice := func(g gotMail) bool { return strings.Contains(g.subject, "A mail in your name was not acted on") }
	count := func(got []gotMail, f func(gotMail) bool) int {
		n := 0
		for _, g := range got {
			if f(g) {
				n++
			}
		}
		return n
	}
	waitInbox(t, s, e.dept, e.staff, 20*time.Second, "notices to staff", func(g []gotMail) bool { return count(g, isNotice) >= 3 })
	waitInbox(t, s, e.dept, e.lead, 20*time.Second, "notices to the lead", func(g []gotMail) bool { return count(g, isNotice) >= 3 })
	time.Sleep(2 * time.Second) // anything more would be a duplicate

	relayed, commands := 0, 0
	for _, o := range reqs {
		for _, g := range inboxOf(t, s, e.dept, o.requester) {
			if g.kind != kindReceipt {
				relayed++
			}
		}
	}
	for _, o := range reqs {
		r := e.request(t, o.receipt.ref)
		if r.State != store.StateAcknowledged || r.AssignedTo != "" || !r.AnsweredAt.IsZero() || !r.ResolvedAt.IsZero() || r.Reminders != 0 {
			commands++
			t.Errorf("%s after forged mail: %s, assigned %q, answered %v, %d reminders", r.Ref, r.State, r.AssignedTo, r.AnsweredAt, r.Reminders)
		}
	}
	staffNotices, leadNotices := inboxOf(t, s, e.dept, e.staff), inboxOf(t, s, e.dept, e.lead)
	outsiderMail := len(inboxOf(t, s, e.dept, outsider))
	t.Logf("forged staff mails tried %d: relayed %d, commands taken %d; notices to staff %d, to the lead %d; outsider received %d",
		forged, relayed, commands, count(staffNotices, isNotice), count(leadNotices, isNotice), outsiderMail)
	if relayed != 0 || commands != 0 || outsiderMail != 0 {
		t.Errorf("forged mail relayed %d, took %d commands, reached the outsider %d times; want 0, 0, 0", relayed, commands, outsiderMail)
	}
	if n, m := count(staffNotices, isNotice), count(leadNotices, isNotice); n != 3 || m != 3 || len(staffNotices) != 3 || len(leadNotices) != 3 {
		t.Errorf("staff got %v, lead %v; want exactly one notice per request each", staffNotices, leadNotices)
	}

	// Proven: Jane chases REQ 1, staff answer the escalation to ackd alone
	// and close it; REQ 2 gets a reply-all to the request.
	o := reqs[0]
	sendAs(t, s, o.reply(mailOut{from: o.requester, to: []string{e.dept}, inReplyTo: o.receipt.messageID, references: []string{o.receipt.messageID}, body: "Any news?"}))
	esc := waitInbox(t, s, e.dept, e.staff, 20*time.Second, "escalation after the reminder", func(g []gotMail) bool { return len(having(g, kindEscalation, o.receipt.ref)) > 0 })
	escalation := having(esc, kindEscalation, o.receipt.ref)[0]
	sendAs(t, s, mailOut{from: e.staff, to: []string{e.dept}, subject: "Re: " + escalation.subject, inReplyTo: escalation.messageID,
		references: []string{o.id, escalation.messageID}, body: "The printer is fixed, please try again.\n#done"})
	e.waitRequest(t, o.receipt.ref, 15*time.Second, "staff reply to the escalation", inState(store.StateResolved))
	got := waitInbox(t, s, e.dept, o.requester, 15*time.Second, "relayed answer", func(g []gotMail) bool { return len(having(g, kindRelay, o.receipt.ref)) == 1 })
	if relay := having(got, kindRelay, o.receipt.ref)[0]; !strings.Contains(relay.text, "printer is fixed") || strings.Contains(relay.text, "#done") {
		t.Errorf("relayed answer: %s", relay.text)
	}
	o2 := reqs[1]
	sendAs(t, s, o2.reply(mailOut{from: e.staff, to: []string{o2.requester}, cc: []string{e.dept}, body: "Swapped the drum, should work now."}))
	e.waitRequest(t, o2.receipt.ref, 15*time.Second, "staff reply-all", inState(store.StateAnswered))
	t.Logf("proven staff replies: 2 of 2 took effect (reply to the escalation relayed and resolved, reply-all answered)")
}
