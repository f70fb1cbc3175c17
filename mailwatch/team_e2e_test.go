package mailwatch_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// The end-to-end scenarios of issue 15 ("work like a real help desk
// team"), on the real Dovecot + Postfix stack, run like TestThreadE2E:
// concurrent subtests, each with a department of its own.
func TestTeamE2E(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	scenarios := []struct {
		name string
		run  func(t *testing.T, s *mailstack.Stack)
	}{
		{"guard-relay", testTeamGuardRelay},
		{"two-answers", testTeamTwoAnswers},
		{"category", testTeamCategory},
		{"away-round-robin", testTeamAwayRoundRobin},
		{"outage", testTeamOutage},
		{"forward", testTeamForward},
	}
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Go(func() { t.Run(sc.name, func(t *testing.T) { sc.run(t, s) }) })
	}
	wg.Wait()
}

// english ends every request the scenarios send, so that ackd answers
// them in English (it guesses a request's language from its text, and a
// few words are too few to tell) and the receipts read as the tests
// expect.
const english = " Could you please have a look at this when you have a moment? Thank you very much for your help."

// sendAuto submits m as an autoresponder does: Auto-Submitted:
// auto-replied, an "Automatic reply:" subject.
func sendAuto(t *testing.T, s *mailstack.Stack, m mailOut) {
	t.Helper()
	m.subject = "Automatic reply: " + m.subject
	_, raw := m.raw()
	raw = append([]byte("Auto-Submitted: auto-replied\r\n"), raw...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rcpt := range m.to {
		if err := s.Send(ctx, m.from, rcpt, raw); err != nil {
			t.Fatalf("send auto-reply to %s: %v", rcpt, err)
		}
	}
}

// Guard the relay (issue 15 item 6): a staff mail of commands and a
// signature reaches nobody; one with a mistyped command reaches only its
// sender, with the help and the words it kept back; a staff
// out-of-office on the thread is neither relayed nor an answer. A last
// staff mail with words is relayed: it is the barrier after which the
// requester's mailbox holds all it will ever get of the ones before.
func testTeamGuardRelay(t *testing.T, s *mailstack.Stack) {
	e := newThreadEnv(t, s, `{commitment: 1h}`)
	req := s.NewAddress(t, "guard")
	o := e.openRequest(t, req, "Printer on floor 3", "It jams on every page."+english)
	ref := o.receipt.ref
	toDept := func(body string) { sendAs(t, s, o.reply(mailOut{from: e.staff, to: []string{e.dept}, body: body})) }

	toDept("#waiting\n\nThanks,\nStaff\nIT Help Desk")
	e.waitRequest(t, ref, 20*time.Second, "#waiting", inState(store.StateWaiting))
	toDept("Please switch it off and on again.\n# done")
	help := waitInbox(t, s, e.dept, e.staff, 20*time.Second, "command help", func(g []gotMail) bool { return len(having(g, kindOther, ref)) > 0 })
	h := having(help, kindOther, ref)[0]
	if !strings.Contains(h.subject, "Command not understood") || !strings.Contains(h.text, "> Please switch it off and on again.") ||
		!strings.Contains(h.text, "not passed on to the requester") {
		t.Errorf("command help %q does not hold the words kept back:\n%s", h.subject, h.text)
	}
	sendAuto(t, s, o.reply(mailOut{from: e.staff, to: []string{e.dept}, body: "I am out of the office until Monday."}))
	toDept("The technician comes at two.")
	got := waitInbox(t, s, e.dept, req, 20*time.Second, "the barrier relay", atLeast(2))
	expectBox(t, "requester", got, kindReceipt+" "+ref, kindRelay+" "+ref)
	if r := having(got, kindRelay, ref); len(r) == 1 && (!strings.Contains(r[0].text, "technician comes at two") ||
		strings.Contains(r[0].text, "switch it off") || strings.Contains(r[0].text, "out of the office")) {
		t.Errorf("relay carries more than the last words:\n%s", r[0].text)
	}
	expectBox(t, "staff", inboxOf(t, s, e.dept, e.staff), kindOther+" "+ref)
	evs, err := e.store.Events(context.Background(), e.request(t, ref).ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	for _, k := range []string{"held", "command-refused", "auto-reply"} {
		if !strings.Contains(strings.Join(kinds, " "), k) {
			t.Errorf("history %v has no %s", kinds, k)
		}
	}
	if r := e.request(t, ref); r.FirstResponseAt.IsZero() || r.State != store.StateWaiting {
		// The barrier relay is the first answer; the out-of-office was not.
		t.Errorf("%s is %s, first response %v; want waiting and answered by the relay", ref, r.State, r.FirstResponseAt)
	}

	// The shared account's autoresponder wrote to a requester and its
	// copy landed in Sent: no answer. A person's reply on another
	// request, saved after it, is the barrier.
	a := e.openRequest(t, s.NewAddress(t, "auto"), "Laptop battery", "It lasts ten minutes."+english)
	b := e.openRequest(t, s.NewAddress(t, "barrier"), "Monitor flickers", "Since this morning."+english)
	autoOut := a.reply(mailOut{from: threadDeptName + " <" + e.dept + ">", to: []string{a.requester}, body: "We are closed today."})
	autoOut.subject = "Automatic reply: " + autoOut.subject
	_, autoRaw := autoOut.raw()
	autoRaw = append([]byte("Auto-Submitted: auto-replied\r\n"), autoRaw...)
	_, barrier := b.reply(mailOut{from: threadDeptName + " <" + e.dept + ">", to: []string{b.requester}, body: "Please try another cable."}).raw()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, raw := range [][]byte{autoRaw, barrier} {
		if err := s.Append(ctx, e.dept, "Sent", raw); err != nil {
			t.Fatal(err)
		}
	}
	e.waitRequest(t, b.receipt.ref, 20*time.Second, "the barrier reply in Sent", inState(store.StateAnswered))
	if r := e.request(t, a.receipt.ref); r.State != store.StateAcknowledged || !r.FirstResponseAt.IsZero() {
		t.Errorf("after an autoresponder's copy in Sent %s is %s (first response %v); want acknowledged, unanswered", r.Ref, r.State, r.FirstResponseAt)
	}
}

// teamEnv is a department with two staff members, alice and bob.
type teamEnv struct {
	*threadEnv
	alice, bob string
}

// newTeamEnv starts a department whose staff are two fresh addresses;
// extra is YAML appended to the department (its keys indented by four).
func newTeamEnv(t *testing.T, s *mailstack.Stack, category, extra string) *teamEnv {
	t.Helper()
	dept, alice, bob, lead := s.NewAddress(t, "dept"), s.NewAddress(t, "alice"), s.NewAddress(t, "bob"), s.NewAddress(t, "lead")
	dir := t.TempDir()
	yaml := threadConfig(s, dir, dept, alice+", "+bob, lead, secretFile(t), category) + extra
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("test config: %v\n%s", err, yaml)
	}
	d := &deployment{t: t, b: &stackBackend{s: s}, dept: dept, cfg: cfg, dbPath: cfg.Store.DSN}
	d.start()
	e := &threadEnv{deployment: d, s: s, staff: alice, lead: lead}
	t.Cleanup(func() {
		if t.Failed() {
			e.logHistory(t)
		}
	})
	return &teamEnv{threadEnv: e, alice: alice, bob: bob}
}

// Two staff answer the same request (issue 15 item 1): the first answer
// makes alice the owner; bob's answer after it tells alice, in one short
// mail, and leaves her the owner.
func testTeamTwoAnswers(t *testing.T, s *mailstack.Stack) {
	e := newTeamEnv(t, s, `{commitment: 1h}`, "")
	req := s.NewAddress(t, "two")
	o := e.openRequest(t, req, "Scanner on floor 2", "It scans blank pages."+english)
	ref := o.receipt.ref
	sendAs(t, s, o.reply(mailOut{from: e.alice, to: []string{req}, cc: []string{e.dept}, body: "Please clean the glass."}))
	e.waitRequest(t, ref, 20*time.Second, "alice's answer", func(r store.Request) bool { return r.State == store.StateAnswered })
	if r := e.request(t, ref); !rules.EqualAddress(r.AssignedTo, e.alice) {
		t.Fatalf("after alice's answer %s is owned by %q, want alice", ref, r.AssignedTo)
	}
	sendAs(t, s, o.reply(mailOut{from: e.bob, to: []string{req}, cc: []string{e.dept}, body: "Also update the driver."}))
	got := waitInbox(t, s, e.dept, e.alice, 20*time.Second, "owner notice", func(g []gotMail) bool { return len(having(g, kindOther, ref)) > 0 })
	n := having(got, kindOther, ref)
	if len(n) != 1 || !strings.Contains(n[0].subject, "Answered by") || !strings.Contains(n[0].text, "Also update the driver") {
		t.Errorf("alice got %v, want one owner notice quoting bob:\n%v", mailKinds(got), n)
	}
	if r := e.request(t, ref); !rules.EqualAddress(r.AssignedTo, e.alice) {
		t.Errorf("after bob's answer %s is owned by %q, want still alice", ref, r.AssignedTo)
	}
	// Bob hears nothing from ackd; alice heard only the notice.
	expectBox(t, "bob", forRef(inboxOf(t, s, e.dept, e.bob), ref))
	expectBox(t, "alice", forRef(inboxOf(t, s, e.dept, e.alice), ref), kindOther+" "+ref)
}

// Re-categorising (issue 15 item 3): #category moves the request; the
// requester gets one due update with the date counted from the arrival
// under the new commitment.
func testTeamCategory(t *testing.T, s *mailstack.Stack) {
	e := newTeamEnv(t, s, "{commitment: 1h}\n      slow: {commitment: 3d}", "")
	req := s.NewAddress(t, "cat")
	o := e.openRequest(t, req, "New office chair", "Mine is broken."+english)
	ref := o.receipt.ref
	before := e.request(t, ref)
	sendAs(t, s, o.reply(mailOut{from: e.alice, to: []string{e.dept}, body: "#category slow"}))
	r := e.waitRequest(t, ref, 20*time.Second, "#category", func(r store.Request) bool { return r.Category == "slow" })
	want := e.cfg.Departments[0].Calendar.Due(before.ReceivedAt, e.cfg.Departments[0].Categories["slow"].Commitment)
	if !r.DueAt.Equal(want) {
		t.Errorf("after #category %s is due %v, want %v (3d from its arrival)", ref, r.DueAt, want)
	}
	got := waitInbox(t, s, e.dept, req, 20*time.Second, "due update", atLeast(2))
	expectBox(t, "requester", got, kindReceipt+" "+ref, kindDueUpdate+" "+ref)
	if up := having(got, kindDueUpdate, ref); len(up) == 1 && !strings.Contains(up[0].text, longDate(want)) {
		t.Errorf("due update does not name %q:\n%s", longDate(want), up[0].text)
	}
}

// An out-of-office staff member is skipped by round robin (issue 15 item
// 2): REQ-1 goes to alice, whose escalation (2s in) meets her
// autoresponder; that marks her away until the date it names, so REQ-2
// and REQ-3 both go to bob, and the digest lists alice as away.
func testTeamAwayRoundRobin(t *testing.T, s *mailstack.Stack) {
	e := newTeamEnv(t, s, `{commitment: 60s, escalate: [{before_due: 58s, to: staff}]}`, "    assign: round_robin\n")
	owner := func(ref string) string { return strings.ToLower(e.request(t, ref).AssignedTo) }
	o1 := e.openRequest(t, s.NewAddress(t, "rr1"), "Keyboard missing keys", "The E is gone."+english)
	if got := owner(o1.receipt.ref); got != strings.ToLower(e.alice) {
		t.Fatalf("%s owned by %q, want alice first", o1.receipt.ref, got)
	}
	esc := waitInbox(t, s, e.dept, e.alice, 20*time.Second, "escalation to the owner", func(g []gotMail) bool { return len(having(g, kindEscalation, o1.receipt.ref)) > 0 })
	ec := having(esc, kindEscalation, o1.receipt.ref)[0]
	if !strings.Contains(ec.text, "Owner:") {
		t.Errorf("escalation does not name the owner:\n%s", ec.text)
	}
	back := time.Now().AddDate(0, 0, 5).In(berlinLoc)
	sendAuto(t, s, mailOut{from: e.alice, to: []string{e.dept}, subject: ec.subject, inReplyTo: ec.messageID, references: []string{ec.messageID},
		body: "I am out of the office until " + back.Format("2 January 2006") + " with limited access to mail."})
	deadline := time.Now().Add(20 * time.Second)
	for {
		away, err := e.store.AwayAt(context.Background(), strings.ToLower(e.dept), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(away) == 1 && rules.EqualAddress(away[0].Address, e.alice) {
			if y, m, d := away[0].Until.In(berlinLoc).Date(); y != back.Year() || m != back.Month() || d != back.Day() {
				t.Errorf("alice away until %v, want the day her reply names (%s)", away[0].Until, back.Format("2006-01-02"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's out-of-office did not mark her away: %+v", away)
		}
		time.Sleep(100 * time.Millisecond)
	}
	o2 := e.openRequest(t, s.NewAddress(t, "rr2"), "Mouse double-clicks", "Every click counts twice."+english)
	o3 := e.openRequest(t, s.NewAddress(t, "rr3"), "Headset crackles", "In every call."+english)
	for _, o := range []opened{o2, o3} {
		if got := owner(o.receipt.ref); got != strings.ToLower(e.bob) {
			t.Errorf("%s owned by %q, want bob (alice is away)", o.receipt.ref, got)
		}
	}
	if r := e.request(t, o1.receipt.ref); !r.FirstResponseAt.IsZero() {
		t.Errorf("alice's out-of-office counted as an answer on %s", r.Ref)
	}
	d := *e.cfg.Departments[0]
	d.Digest.To = []string{e.bob}
	_, rendered, _, err := mailwatch.DigestMail(context.Background(), e.store, templates.Default(), &d, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rendered.Text, "Away (1):") || !strings.Contains(rendered.Text, strings.ToLower(e.alice)) {
		t.Errorf("digest does not list alice as away:\n%s", rendered.Text)
	}
}

// An outage (issue 15 item 4): 15 mails alike within a few seconds give
// the leads one incident mail listing them. Staff link them under the
// first with #same and set #incident there: a 16th gets a receipt that
// says so and is linked at once. One answer and #done on the first reach
// all of them, each in its own thread.
func testTeamOutage(t *testing.T, s *mailstack.Stack) {
	e := newTeamEnv(t, s, `{commitment: 1h, closing: true}`, "    incident: {count: 5, within: 5m}\n")
	const n = 15
	var reqs []opened
	var addrs []string
	for i := range n {
		addr := s.NewAddress(t, fmt.Sprintf("out%d", i))
		addrs = append(addrs, addr)
		sendAs(t, s, mailOut{from: addr, to: []string{e.dept}, subject: "Outlook cannot connect to the mail server", body: "Since 9:00." + english})
	}
	for _, addr := range addrs {
		got := waitInbox(t, s, e.dept, addr, 30*time.Second, "receipt", atLeast(1))
		reqs = append(reqs, opened{requester: addr, subject: "Outlook cannot connect to the mail server", receipt: got[0]})
	}
	alerts := waitInbox(t, s, e.dept, e.lead, 20*time.Second, "incident alert", atLeast(1))
	if len(alerts) != 1 || !strings.Contains(alerts[0].subject, "Possible incident") {
		t.Fatalf("lead got %v, want one incident alert", mailKinds(alerts))
	}
	// The request the answer goes to, and the others linked under it.
	first := e.request(t, "REQ-1")
	o1 := opened{requester: first.Requester, subject: first.Subject, id: strings.Trim(first.MessageID, "<>")}
	o1.receipt.ref = first.Ref
	sendAs(t, s, o1.reply(mailOut{from: e.alice, to: []string{e.dept}, body: "#incident The mail server is down; we expect it back by noon."}))
	for i := 2; i <= n; i++ {
		r := e.request(t, fmt.Sprintf("REQ-%d", i))
		oi := opened{requester: r.Requester, subject: r.Subject, id: strings.Trim(r.MessageID, "<>")}
		oi.receipt.ref = r.Ref
		sendAs(t, s, oi.reply(mailOut{from: e.alice, to: []string{e.dept}, body: "#same REQ-1"}))
	}
	for i := 2; i <= n; i++ {
		e.waitRequest(t, fmt.Sprintf("REQ-%d", i), 30*time.Second, "#same", func(r store.Request) bool { return r.ParentRef == "REQ-1" })
	}
	late := s.NewAddress(t, "late")
	sendAs(t, s, mailOut{from: late, to: []string{e.dept}, subject: "outlook cannot connect", body: "Me too." + english})
	got := waitInbox(t, s, e.dept, late, 20*time.Second, "receipt of a later one", atLeast(1))
	if !strings.Contains(got[0].text, "We know about this problem and are working on it: The mail server is down") {
		t.Errorf("the later receipt does not say what staff set:\n%s", got[0].text)
	}
	e.waitRequest(t, got[0].ref, 20*time.Second, "linked by #incident", func(r store.Request) bool { return r.ParentRef == "REQ-1" })
	addrs = append(addrs, late)
	// One answer and #done on REQ-1, to ackd alone: relayed to all 16.
	sendAs(t, s, o1.reply(mailOut{from: e.alice, to: []string{e.dept}, body: "The mail server is back; please restart Outlook.\n#done"}))
	for _, addr := range addrs {
		got := waitInbox(t, s, e.dept, addr, 30*time.Second, "the answer and the closing note", atLeast(3))
		relay := having(got, kindRelay, "")
		if len(relay) != 1 || !strings.Contains(relay[0].text, "please restart Outlook") || len(having(got, kindClosing, "")) != 1 {
			t.Errorf("%s got %v, want receipt, the answer and the closing note", addr, mailKinds(got))
		}
		for _, m := range got {
			if m.ref != got[0].ref {
				t.Errorf("%s got mail about %s in the thread of %s", addr, m.ref, got[0].ref)
			}
		}
	}
	if a := inboxOf(t, s, e.dept, e.lead); len(having(a, kindOther, "")) != 1 {
		t.Errorf("lead got %v, want exactly one incident alert", mailKinds(a))
	}
}
