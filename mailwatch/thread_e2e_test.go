package mailwatch_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// The end-to-end tests of "Follow every thread": each scenario is one
// department on the real Dovecot + Postfix stack with fresh addresses, a
// 24/7 calendar and commitments of seconds, so that the escalation ladder,
// the due time and the grace time pass in real time. The poll interval is
// five minutes: IMAP IDLE has to do the work.

const threadDeptName = "IT Help Desk"

// berlinLoc is the calendar's zone, as the templates show dates in it.
var berlinLoc = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// threadConfig is a whole ackd config for one department on the stack whose
// every request falls in the default category, written as category (a YAML
// flow mapping). It is what a subprocess reads from disk too.
func threadConfig(s *mailstack.Stack, dir, dept, staff, lead, secret, category string) string {
	ih, ip, _ := net.SplitHostPort(s.IMAPAddr)
	sh, sp, _ := net.SplitHostPort(s.SMTPAddr)
	return fmt.Sprintf(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: %s}
smtp: {host: %s, port: %s, tls: starttls, ca_file: %s}
http: {listen: ""}
limits: {per_sender_per_hour: 1000, global_per_minute: 1000}
departments:
  - name: %s
    address: %s
    imap: {host: %s, port: %s, tls: starttls, ca_file: %s, username: %q, password_file: %s, idle: true, poll_interval: 5m, sent_mailbox: Sent}
    staff: [%s]
    leads: [%s]
    allowed_senders: ["*@%s"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      default: %s
    rules:
      - {name: never, match: {subject: [ackd-e2e-never-matches]}, category: default}
`, filepath.Join(dir, "ackd.db"), sh, sp, s.CAFile, threadDeptName, dept, ih, ip, s.CAFile, dept, secret,
		staff, lead, mailstack.Domain, category)
}

// threadEnv is one department run in process (the deployment of
// scenario_test.go), with its staff member and lead.
type threadEnv struct {
	*deployment
	s           *mailstack.Stack
	staff, lead string
}

func newThreadEnv(t *testing.T, s *mailstack.Stack, category string) *threadEnv {
	t.Helper()
	dept, staff, lead := s.NewAddress(t, "dept"), s.NewAddress(t, "staff"), s.NewAddress(t, "lead")
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(threadConfig(s, dir, dept, staff, lead, secretFile(t), category)))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	d := &deployment{t: t, b: &stackBackend{s: s}, dept: dept, cfg: cfg, dbPath: cfg.Store.DSN}
	d.start()
	e := &threadEnv{deployment: d, s: s, staff: staff, lead: lead}
	// Runs before the daemon stops (cleanups run last first), while the
	// store is open: a failure shows what each request went through.
	t.Cleanup(func() {
		if t.Failed() {
			e.logHistory(t)
		}
	})
	return e
}

// logHistory logs every request's events, to tell a slow stack from a bug.
func (e *threadEnv) logHistory(t *testing.T) {
	ctx := context.Background()
	for n := 1; ; n++ {
		r, err := e.store.RequestByRef(ctx, strings.ToLower(e.dept), fmt.Sprintf("REQ-%d", n))
		if err != nil {
			return
		}
		t.Logf("%s from %s: %s, received %s, due %s", r.Ref, r.Requester, r.State, r.ReceivedAt.Format(time.StampMilli), r.DueAt.Format(time.StampMilli))
		evs, _ := e.store.Events(ctx, r.ID)
		for _, ev := range evs {
			t.Logf("  %s %s %s %s", ev.At.Format(time.StampMilli), ev.Kind, ev.Actor, ev.Detail)
		}
	}
}

// ---- mail as the people receive it

// What a received mail is, told apart by who sent it and its fixed wording.
const (
	kindReceipt    = "receipt"
	kindEscalation = "escalation"
	kindLate       = "late-notice"
	kindDueUpdate  = "due-update"
	kindClosing    = "closing"
	kindRelay      = "relay"  // a staff member's words passed on by ackd
	kindPerson     = "person" // written by someone other than ackd
	kindOther      = "other"  // from ackd, but none of the above
)

type gotMail struct {
	from, subject, ref, messageID, inReplyTo, auto string
	text                                           string // text part, whitespace collapsed
	kind                                           string
	level                                          int // escalation level, from the text
	arrived                                        time.Time
}

func (m gotMail) String() string {
	s := m.kind
	if m.ref != "" {
		s += " " + m.ref
	}
	if m.level > 0 {
		s += " L" + strconv.Itoa(m.level)
	}
	return s
}

var levelRE = regexp.MustCompile(`This is escalation level ([0-9]+)\.`)

func parseGot(t *testing.T, dept string, m mailstack.Msg) gotMail {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("parse received mail uid %d: %v", m.UID, err)
	}
	defer mr.Close()
	g := gotMail{arrived: m.InternalDate}
	g.subject, _ = mr.Header.Subject()
	if from, err := mr.Header.AddressList("From"); err == nil && len(from) > 0 {
		g.from = strings.ToLower(from[0].Address)
	}
	g.ref = mr.Header.Get("X-Ackd-Ref")
	g.messageID = strings.Trim(mr.Header.Get("Message-Id"), "<> ")
	g.inReplyTo = strings.Trim(mr.Header.Get("In-Reply-To"), "<> ")
	g.auto = mr.Header.Get("Auto-Submitted")
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read part of mail uid %d: %v", m.UID, err)
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" && g.text == "" {
				b, err := io.ReadAll(p.Body)
				if err != nil {
					t.Fatalf("read text of mail uid %d: %v", m.UID, err)
				}
				g.text = strings.Join(strings.Fields(string(b)), " ")
			}
		}
	}
	switch {
	case g.from != strings.ToLower(dept):
		g.kind = kindPerson
	case strings.Contains(g.subject, "] Escalation:"):
		g.kind = kindEscalation
		if sm := levelRE.FindStringSubmatch(g.text); sm != nil {
			g.level, _ = strconv.Atoi(sm[1])
		}
	case g.auto == "" || strings.EqualFold(g.auto, "no"):
		g.kind = kindRelay
	case strings.Contains(g.text, "registered it as ["):
		g.kind = kindReceipt
	case strings.Contains(g.text, "We are sorry"):
		g.kind = kindLate
	case strings.Contains(g.text, "We have a new expected date"):
		g.kind = kindDueUpdate
	case strings.Contains(g.text, "has been marked as resolved"):
		g.kind = kindClosing
	default:
		g.kind = kindOther
	}
	return g
}

// inbox returns what user has received so far.
func inboxOf(t *testing.T, s *mailstack.Stack, dept, user string) []gotMail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := s.Mailbox(ctx, user, "INBOX")
	if err != nil && !strings.Contains(err.Error(), "NONEXISTENT") {
		t.Fatalf("read inbox of %s: %v", user, err)
	}
	out := make([]gotMail, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, parseGot(t, dept, m))
	}
	return out
}

// waitInbox polls user's INBOX until ok holds for what arrived, and fails
// the test with what did arrive when it does not within timeout.
func waitInbox(t *testing.T, s *mailstack.Stack, dept, user string, timeout time.Duration, what string, ok func([]gotMail) bool) []gotMail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := inboxOf(t, s, dept, user)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %s %s has %v", what, timeout, user, got)
		}
		time.Sleep(400 * time.Millisecond)
	}
}

func atLeast(n int) func([]gotMail) bool { return func(g []gotMail) bool { return len(g) >= n } }

// having returns the mail of one kind (and, unless "", one ref).
func having(got []gotMail, kind, ref string) []gotMail {
	var out []gotMail
	for _, g := range got {
		if g.kind == kind && (ref == "" || g.ref == ref) {
			out = append(out, g)
		}
	}
	return out
}

func forRef(got []gotMail, ref string) []gotMail {
	var out []gotMail
	for _, g := range got {
		if g.ref == ref {
			out = append(out, g)
		}
	}
	return out
}

// kinds summarises mail as sorted "kind ref Ln" strings, to compare whole
// mailboxes exactly.
func mailKinds(got []gotMail) []string {
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = g.String()
	}
	slices.Sort(out)
	return out
}

func expectBox(t *testing.T, who string, got []gotMail, want ...string) {
	t.Helper()
	slices.Sort(want)
	if have := mailKinds(got); !slices.Equal(have, want) {
		t.Errorf("%s received %q, want exactly %q", who, have, want)
	}
}

// ---- mail as the people send it

// mailOut is a message written by a person.
type mailOut struct {
	from          string
	to, cc        []string
	subject, body string
	inReplyTo     string
	references    []string
}

func newMessageID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@client." + mailstack.Domain
}

func (m mailOut) raw() (id string, raw []byte) {
	id = newMessageID()
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", m.from, strings.Join(m.to, ", "))
	if len(m.cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\r\n", strings.Join(m.cc, ", "))
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", m.subject, id, time.Now().Format(time.RFC1123Z))
	if m.inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", m.inReplyTo)
	}
	if len(m.references) > 0 {
		fmt.Fprintf(&b, "References: <%s>\r\n", strings.Join(m.references, "> <"))
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(m.body, "\n", "\r\n") + "\r\n")
	return id, []byte(b.String())
}

// send submits m through Postfix to every To and Cc address, as a mail
// client does, and returns its Message-ID.
func sendAs(t *testing.T, s *mailstack.Stack, m mailOut) string {
	t.Helper()
	id, raw := m.raw()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rcpt := range append(slices.Clone(m.to), m.cc...) {
		if err := s.Send(ctx, m.from, rcpt, raw); err != nil {
			t.Fatalf("send %q to %s: %v", m.subject, rcpt, err)
		}
	}
	return id
}

// opened is a request as the requester sees it once acknowledged.
type opened struct {
	requester, subject, id string
	receipt                gotMail
}

// openRequest sends a request and waits for its receipt.
func (e *threadEnv) openRequest(t *testing.T, requester, subject, body string) opened {
	t.Helper()
	id := sendAs(t, e.s, mailOut{from: requester, to: []string{e.dept}, subject: subject, body: body})
	got := waitInbox(t, e.s, e.dept, requester, 20*time.Second, "receipt", atLeast(1))
	r := got[0]
	if r.kind != kindReceipt || r.inReplyTo != id || r.ref == "" {
		t.Fatalf("first mail to %s is %v (In-Reply-To %q), want the receipt of %q", requester, r, r.inReplyTo, id)
	}
	return opened{requester: requester, subject: subject, id: id, receipt: r}
}

// reply is m as an answer on the request's thread.
func (o opened) reply(m mailOut) mailOut {
	m.subject = "Re: " + o.subject + " [" + o.receipt.ref + "]"
	if m.inReplyTo == "" {
		m.inReplyTo = o.id
	}
	m.references = append([]string{o.id}, m.references...)
	return m
}

func (e *threadEnv) request(t *testing.T, ref string) store.Request {
	t.Helper()
	r, err := e.store.RequestByRef(context.Background(), strings.ToLower(e.dept), ref)
	if err != nil {
		t.Fatalf("load %s: %v", ref, err)
	}
	return r
}

// waitRequest polls the store until ok holds for the request.
func (e *threadEnv) waitRequest(t *testing.T, ref string, timeout time.Duration, what string, ok func(store.Request) bool) store.Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.request(t, ref)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %s %s is %s (level %d, %d reminders)", what, timeout, ref, r.State, r.EscalationLevel, r.Reminders)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func inState(state store.State) func(store.Request) bool {
	return func(r store.Request) bool { return r.State == state }
}

// sleepUntil waits for a point in real time: the only way to show that
// something does not happen by then.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

func longDate(t time.Time) string { return t.In(berlinLoc).Format("Monday 2 January 2006, 15:04 MST") }

// ---- the scenarios

// TestThreadE2E runs every scenario at once. They spend their time waiting
// for business seconds to pass, not computing, so they run as concurrent
// subtests (t.Run from goroutines) rather than under t.Parallel, whose
// limit is GOMAXPROCS (2 on the CI machine).
func TestThreadE2E(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	scenarios := []struct {
		name string
		run  func(t *testing.T, s *mailstack.Stack)
	}{
		{"reply-all", testThreadReplyAll},
		{"sent-folder", testThreadSentFolder},
		{"chase", testThreadChase},
		{"unanswered", testThreadUnanswered},
		{"commands", testThreadCommands},
	}
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Go(func() { t.Run(sc.name, func(t *testing.T) { sc.run(t, s) }) })
	}
	wg.Wait()
}

// secondsLadder is a ladder of seconds: 50% to staff, 2s before due to leads, 4s of grace.
const secondsLadder = `{commitment: %s, escalate: [{at: 50%%, to: staff}, {before_due: 2s, to: leads}], grace: 4s}`

// Staff reply to all (the requester, Cc the department): the request is
// answered, and nobody hears from ackd again, even well past the due time.
func testThreadReplyAll(t *testing.T, s *mailstack.Stack) {
	e := newThreadEnv(t, s, fmt.Sprintf(secondsLadder, "16s"))
	jane := s.NewAddress(t, "jane")
	o := e.openRequest(t, jane, "Locked out of my account", "I cannot log in since this morning.")
	sendAs(t, s, o.reply(mailOut{from: e.staff, to: []string{jane}, cc: []string{e.dept}, body: "Hi Jane, your account is unlocked again."}))
	r := e.waitRequest(t, o.receipt.ref, 10*time.Second, "staff reply-all", inState(store.StateAnswered))
	if r.FirstResponseAt.IsZero() {
		t.Errorf("answered without a first-response time")
	}
	sleepUntil(r.DueAt.Add(4*time.Second + 2*time.Second)) // past due and grace
	expectBox(t, "staff", inboxOf(t, s, e.dept, e.staff))
	expectBox(t, "leads", inboxOf(t, s, e.dept, e.lead))
	expectBox(t, "requester", inboxOf(t, s, e.dept, jane), kindReceipt+" "+o.receipt.ref, kindPerson)
	if r := e.request(t, o.receipt.ref); r.State != store.StateAnswered || r.EscalationLevel != 0 || r.Reminders != 0 {
		t.Errorf("after the due time %s is %s, level %d, %d reminders; want answered, 0, 0", r.Ref, r.State, r.EscalationLevel, r.Reminders)
	}
}

// A person answers from the shared account: the client saves the reply in
// the department's Sent folder, which ackd watches.
func testThreadSentFolder(t *testing.T, s *mailstack.Stack) {
	e := newThreadEnv(t, s, fmt.Sprintf(secondsLadder, "16s"))
	jane := s.NewAddress(t, "jane")
	o := e.openRequest(t, jane, "VPN drops every hour", "Since Monday.")
	_, raw := o.reply(mailOut{from: threadDeptName + " <" + e.dept + ">", to: []string{jane}, body: "Please update the VPN client to 5.2."}).raw()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Append(ctx, e.dept, "Sent", raw); err != nil {
		t.Fatal(err)
	}
	r := e.waitRequest(t, o.receipt.ref, 10*time.Second, "reply in the Sent folder", inState(store.StateAnswered))
	sleepUntil(r.DueAt.Add(4*time.Second + 2*time.Second))
	expectBox(t, "staff", inboxOf(t, s, e.dept, e.staff))
	expectBox(t, "leads", inboxOf(t, s, e.dept, e.lead))
	// The reply was only saved, not sent: the requester has the receipt alone.
	expectBox(t, "requester", inboxOf(t, s, e.dept, jane), kindReceipt+" "+o.receipt.ref)
	if r := e.request(t, o.receipt.ref); r.State != store.StateAnswered || r.FirstResponseAt.IsZero() {
		t.Errorf("after the due time %s is %s (first response %v); want answered with a first response", r.Ref, r.State, r.FirstResponseAt)
	}
}

// The requester chases before anyone answered: a counted reminder and an
// escalation to staff at once, long before the 50% step.
func testThreadChase(t *testing.T, s *mailstack.Stack) {
	e := newThreadEnv(t, s, `{commitment: 60s, escalate: [{at: 50%, to: staff}, {before_due: 10s, to: leads}]}`)
	jane := s.NewAddress(t, "jane")
	o := e.openRequest(t, jane, "Printer on floor 3 jams", "Paper jam again.")
	// Replying to the receipt, as a requester does.
	sendAs(t, s, o.reply(mailOut{from: jane, to: []string{e.dept}, inReplyTo: o.receipt.messageID, references: []string{o.receipt.messageID}, body: "Any news?"}))
	got := waitInbox(t, s, e.dept, e.staff, 20*time.Second, "escalation after a reminder", atLeast(1))
	r := e.request(t, o.receipt.ref)
	step := r.CycleStart.Add(30 * time.Second)
	if esc := got[0]; esc.kind != kindEscalation || esc.ref != r.Ref || esc.level != 1 || !strings.Contains(esc.subject, "reminder") {
		t.Errorf("staff got %v %q, want the level-1 escalation of %s for a reminder", esc, esc.subject, r.Ref)
	} else if !esc.arrived.Before(step) {
		t.Errorf("escalation arrived at %v, not before the 50%% step at %v", esc.arrived, step)
	}
	if r.Reminders != 1 || r.EscalationLevel != 1 || r.State != store.StateAcknowledged {
		t.Errorf("%s: %d reminders, level %d, %s; want 1, 1, acknowledged", r.Ref, r.Reminders, r.EscalationLevel, r.State)
	}
	expectBox(t, "staff", got, kindEscalation+" "+r.Ref+" L1")
	expectBox(t, "requester", inboxOf(t, s, e.dept, jane), kindReceipt+" "+r.Ref)
	expectBox(t, "leads", inboxOf(t, s, e.dept, e.lead))
}

// Nobody answers: 50% to staff, 2s before due to leads; at the due time one
// honest late notice with the new time and the overdue escalation; when the
// grace time passes too, the leads once more and the requester nothing.
func testThreadUnanswered(t *testing.T, s *mailstack.Stack) {
	e := newThreadEnv(t, s, fmt.Sprintf(secondsLadder, "8s"))
	jane := s.NewAddress(t, "jane")
	o := e.openRequest(t, jane, "New laptop for Max", "Max starts on Monday.")
	ref := o.receipt.ref
	due := e.request(t, ref).DueAt
	waitInbox(t, s, e.dept, e.lead, 30*time.Second, "three escalations to the leads", atLeast(3))
	r := e.request(t, ref)
	if r.State != store.StateOverdue || !r.LateNoticeFor.Equal(r.DueAt) || !r.DueAt.After(due) {
		t.Fatalf("%s is %s, due %v, late notice for %v; want overdue past its grace %v", ref, r.State, r.DueAt, r.LateNoticeFor, due)
	}
	// Anything more would be a duplicate. A barrier instead of a pause: a
	// second request whose before-due escalation reaches the leads is
	// planned by a scheduler pass later than any step of ref, and queued
	// after anything that pass or an earlier one queued for ref, so once
	// it is in the leads' inbox a duplicate would be too.
	barrier := e.openRequest(t, s.NewAddress(t, "barrier"), "Barrier", "Marks the end of the test.").receipt.ref
	waitInbox(t, s, e.dept, e.lead, 30*time.Second, "the barrier's escalation to the leads", func(g []gotMail) bool { return len(forRef(g, barrier)) > 0 })
	staff := forRef(inboxOf(t, s, e.dept, e.staff), ref)
	leads := forRef(inboxOf(t, s, e.dept, e.lead), ref)
	mine := inboxOf(t, s, e.dept, jane)
	expectBox(t, "staff", staff, kindEscalation+" "+ref+" L1")
	expectBox(t, "leads", leads, kindEscalation+" "+ref+" L2", kindEscalation+" "+ref+" L3", kindEscalation+" "+ref+" L4")
	expectBox(t, "requester", mine, kindReceipt+" "+ref, kindLate+" "+ref)
	if t.Failed() {
		return
	}
	byLevel := map[int]gotMail{}
	for _, g := range leads {
		byLevel[g.level] = g
	}
	// INTERNALDATE has whole seconds.
	notBefore := func(what string, got, want time.Time) {
		if got.Before(want.Truncate(time.Second)) {
			t.Errorf("%s arrived at %v, before %v", what, got, want)
		}
	}
	cycle := r.CycleStart
	notBefore("50% escalation", staff[0].arrived, cycle.Add(4*time.Second))
	notBefore("before-due escalation", byLevel[2].arrived, due.Add(-2*time.Second))
	notBefore("overdue escalation", byLevel[3].arrived, due)
	notBefore("still-overdue escalation", byLevel[4].arrived, r.DueAt)
	if !strings.Contains(byLevel[3].subject, "overdue") || !strings.Contains(byLevel[4].subject, "still overdue") {
		t.Errorf("lead escalations %q, %q do not say overdue, still overdue", byLevel[3].subject, byLevel[4].subject)
	}
	late := having(mine, kindLate, ref)[0]
	notBefore("late notice", late.arrived, due)
	// The grace counts from when the notice was planned, so the new time is
	// due + 4s or a moment later.
	if want := longDate(r.DueAt); !strings.Contains(late.text, want) {
		t.Errorf("late notice does not give the new expected time %q:\n%s", want, late.text)
	}
	if late.inReplyTo != o.id {
		t.Errorf("late notice In-Reply-To %q, want the request %q", late.inReplyTo, o.id)
	}
}

// Staff commands by mail, each on a request of its own, from the staff
// member's mailbox to the department alone.
func testThreadCommands(t *testing.T, s *mailstack.Stack) {
	e := newThreadEnv(t, s, `{commitment: 16s, escalate: [{at: 50%, to: staff}], grace: 4s, closing: true}`)
	toDept := func(t *testing.T, o opened, from, body string) {
		sendAs(t, s, o.reply(mailOut{from: from, to: []string{e.dept}, body: body}))
	}
	refs := map[string]string{} // each flow's ref, to count what staff heard of it
	var mu sync.Mutex
	note := func(name, ref string) {
		mu.Lock()
		defer mu.Unlock()
		refs[name] = ref
	}

	var wg sync.WaitGroup
	flow := func(name string, f func(t *testing.T)) { wg.Go(func() { t.Run(name, f) }) }

	flow("eta", func(t *testing.T) {
		req := s.NewAddress(t, "eta")
		o := e.openRequest(t, req, "Server room key", "I need a key for the server room.")
		eta := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
		toDept(t, o, e.staff, "#eta "+eta.Format(time.RFC3339))
		got := waitInbox(t, s, e.dept, req, 20*time.Second, "due update", atLeast(2))
		expectBox(t, "requester", got, kindReceipt+" "+o.receipt.ref, kindDueUpdate+" "+o.receipt.ref)
		if up := having(got, kindDueUpdate, ""); len(up) == 1 && !strings.Contains(up[0].text, longDate(eta)) {
			t.Errorf("due update does not name %q:\n%s", longDate(eta), up[0].text)
		}
		if r := e.request(t, o.receipt.ref); !r.DueAt.Equal(eta) || r.State != store.StateAcknowledged {
			t.Errorf("after #eta %s is %s due %v; want acknowledged due %v", r.Ref, r.State, r.DueAt, eta)
		}
		note("eta", o.receipt.ref)
	})

	flow("waiting-resume-done", func(t *testing.T) {
		req := s.NewAddress(t, "wait")
		o := e.openRequest(t, req, "Outlook crashes at start", "Every time since the update.")
		ref := o.receipt.ref
		oldDue := e.request(t, ref).DueAt
		// Words for the requester and a command, to ackd alone.
		toDept(t, o, e.staff, "Could you send a screenshot of the error?\n#waiting\n")
		e.waitRequest(t, ref, 10*time.Second, "#waiting", inState(store.StateWaiting))
		got := waitInbox(t, s, e.dept, req, 10*time.Second, "relayed question", atLeast(2))
		expectBox(t, "requester", got, kindReceipt+" "+ref, kindRelay+" "+ref)
		relay := having(got, kindRelay, ref)
		if len(relay) != 1 {
			return
		}
		if !strings.Contains(relay[0].text, "screenshot of the error") || strings.Contains(relay[0].text, "#waiting") {
			t.Errorf("relayed text should carry the question without the command:\n%s", relay[0].text)
		}
		// While waiting the clock is stopped: nothing at 50% or at the old due time.
		sleepUntil(oldDue.Add(2 * time.Second))
		if n := len(forRef(inboxOf(t, s, e.dept, e.staff), ref)) + len(forRef(inboxOf(t, s, e.dept, e.lead), ref)); n != 0 {
			t.Errorf("%d escalations of %s while waiting on the requester, want 0", n, ref)
		}
		if r := e.request(t, ref); r.State != store.StateWaiting {
			t.Errorf("past the old due time %s is %s, want waiting", ref, r.State)
		}
		// The requester answers the question: the clock runs again with
		// the time that was left, so staff hear at the 50% step.
		sendAs(t, s, o.reply(mailOut{from: req, to: []string{e.dept}, inReplyTo: relay[0].messageID, references: []string{relay[0].messageID}, body: "Here it is."}))
		e.waitRequest(t, ref, 10*time.Second, "requester's reply resumes", inState(store.StateAcknowledged))
		waitInbox(t, s, e.dept, e.staff, 20*time.Second, "50% escalation after resuming", func(g []gotMail) bool { return len(having(g, kindEscalation, ref)) > 0 })
		toDept(t, o, e.staff, "#done")
		e.waitRequest(t, ref, 10*time.Second, "#done", inState(store.StateResolved))
		got = waitInbox(t, s, e.dept, req, 10*time.Second, "closing note", atLeast(3))
		time.Sleep(time.Second)
		expectBox(t, "requester", inboxOf(t, s, e.dept, req), kindReceipt+" "+ref, kindRelay+" "+ref, kindClosing+" "+ref)
		expectBox(t, "staff about "+ref, forRef(inboxOf(t, s, e.dept, e.staff), ref), kindEscalation+" "+ref+" L1")
		note("waiting", ref)
	})

	flow("assign", func(t *testing.T) {
		req := s.NewAddress(t, "assign")
		// #assign takes staff, leads and assignable addresses only.
		other := e.lead
		o := e.openRequest(t, req, "Access to the finance share", "For the audit.")
		toDept(t, o, e.staff, "#assign "+other)
		e.waitRequest(t, o.receipt.ref, 10*time.Second, "#assign", func(r store.Request) bool { return rules.EqualAddress(r.AssignedTo, other) })
		got := waitInbox(t, s, e.dept, other, 20*time.Second, "escalation to the assignee", atLeast(1))
		expectBox(t, "assignee", got, kindEscalation+" "+o.receipt.ref+" L1")
		note("assign", o.receipt.ref)
	})

	flow("done-not-staff", func(t *testing.T) {
		req := s.NewAddress(t, "notstaff")
		o := e.openRequest(t, req, "Monitor flickers", "The left one.")
		toDept(t, o, req, "#done")
		r := e.waitRequest(t, o.receipt.ref, 10*time.Second, "non-staff #done", func(r store.Request) bool { return r.Reminders > 0 })
		if r.State == store.StateResolved || r.Reminders != 1 || r.EscalationLevel != 1 {
			t.Errorf("after the requester's #done %s is %s with %d reminders, level %d; want unresolved, 1, 1", r.Ref, r.State, r.Reminders, r.EscalationLevel)
		}
		waitInbox(t, s, e.dept, e.staff, 10*time.Second, "escalation for the reminder", func(g []gotMail) bool { return len(having(g, kindEscalation, r.Ref)) > 0 })
		if n := len(having(inboxOf(t, s, e.dept, req), kindClosing, "")); n != 0 {
			t.Errorf("requester got %d closing notes for their own #done", n)
		}
		note("done-not-staff", o.receipt.ref)
	})
	wg.Wait()

	staff := inboxOf(t, s, e.dept, e.staff)
	for name, ref := range refs {
		var want []string
		switch name {
		case "waiting", "done-not-staff":
			want = []string{kindEscalation + " " + ref + " L1"}
		}
		expectBox(t, "staff about "+name, forRef(staff, ref), want...)
	}
	if n := len(having(staff, kindEscalation, "")); n != len(staff) {
		t.Errorf("staff got mail other than escalations: %v", staff)
	}
}
