package mailwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// lifecycleConfig: Europe/Berlin, Mon–Fri 09:00–17:00, 2026-12-08 a
// holiday; access is 4h with steps at 50% (staff) and 90% (leads), and a
// closing note; network 4h with a step 1h before due.
const lifecycleConfig = `store: {driver: sqlite, dsn: ackd.db}
smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it-help@example.test, password_file: pw}
    staff: [alice@example.test, bob@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00", holidays: ["2026-12-08"]}
    categories:
      access: {commitment: 4h, closing: true, escalate: [{at: 50%, to: staff}, {at: 90%, to: leads}]}
      network: {commitment: 4h, followup: 2h, auto_resolve: 2d, escalate: [{before_due: 1h, to: staff}]}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {subject: [password]}
        category: access
      - name: vpn
        match: {subject: [vpn]}
        category: network
`

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
	if err != nil {
		panic(err)
	}
	return t
}

type world struct {
	t     *testing.T
	st    store.Store
	rt    *Runtime
	proc  *Processor
	sched *Scheduler
	now   time.Time
	uid   uint32
	seen  map[int64]bool // outbox ids already returned by mails()
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldConfig(t, lifecycleConfig)
}

// newWorldConfig is newWorld with another config.
func newWorldConfig(t *testing.T, yaml string) *world {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rt, err := NewRuntime(cfg, templates.Default())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, st: st, rt: rt, seen: map[int64]bool{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.sched = NewScheduler(st, func() *Runtime { return w.rt }, func() time.Time { return w.now }, nil, log)
	w.proc = NewProcessor(st, func() *Runtime { return w.rt }, func() time.Time { return w.now }, nil, w.sched.Kick, log)
	return w
}

var worldSeq int

// deliver hands a message to the INBOX pipeline at the given time.
func (w *world) deliver(when time.Time, from, to, cc, subject, inReplyTo, body string) Outcome {
	w.t.Helper()
	return w.deliverTo("INBOX", when, from, to, cc, subject, inReplyTo, "", body)
}

func (w *world) deliverTo(mailbox string, when time.Time, from, to, cc, subject, inReplyTo, extra, body string) Outcome {
	w.t.Helper()
	worldSeq++
	w.uid++
	hdr := fmt.Sprintf("From: %s\r\nTo: %s\r\n", from, to)
	if cc != "" {
		hdr += "Cc: " + cc + "\r\n"
	}
	hdr += fmt.Sprintf("Subject: %s\r\nMessage-ID: <m%d@client.example.test>\r\n", subject, worldSeq)
	if inReplyTo != "" {
		hdr += "In-Reply-To: <" + inReplyTo + ">\r\nReferences: <" + inReplyTo + ">\r\n"
	}
	raw := []byte(hdr + extra + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")
	f := Fetched{Mailbox: mailbox, UIDValidity: 1, UID: w.uid, InternalDate: when, Raw: raw, Size: int64(len(raw))}
	var (
		o   Outcome
		err error
	)
	if mailbox == "Sent" {
		o, err = w.proc.ProcessSent(context.Background(), "IT Help Desk", f)
	} else {
		o, err = w.proc.Process(context.Background(), "IT Help Desk", f)
	}
	if err != nil {
		w.t.Fatalf("process %q: %v", subject, err)
	}
	return o
}

// tick runs the scheduler at now and returns how many events fired.
func (w *world) tick(now time.Time) (int, time.Time) {
	w.t.Helper()
	w.now = now
	next, fired, err := w.sched.RunOnce(context.Background())
	if err != nil {
		w.t.Fatalf("scheduler at %s: %v", now, err)
	}
	return fired, next
}

type sentMail struct {
	kind    string
	to      []string
	subject string
	text    string
	autoSub string
}

// mails returns the outbox mail queued since the last call.
func (w *world) mails() []sentMail {
	w.t.Helper()
	rows, err := w.st.DueMail(context.Background(), time.Now().Add(24*365*time.Hour), 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []sentMail
	for _, r := range rows {
		if w.seen[r.ID] {
			continue
		}
		w.seen[r.ID] = true
		m, err := parse.Parse(r.Raw, parse.Options{})
		if err != nil {
			w.t.Fatalf("queued mail %d does not parse: %v", r.ID, err)
		}
		out = append(out, sentMail{kind: r.Kind, to: r.Recipients, subject: m.Subject, text: m.Text, autoSub: m.Get("Auto-Submitted")})
	}
	return out
}

func (w *world) expectMails(step string, want ...string) []sentMail {
	w.t.Helper()
	got := w.mails()
	var kinds []string
	for _, m := range got {
		kinds = append(kinds, m.kind+"→"+strings.Join(m.to, ","))
	}
	if !slices.Equal(kinds, want) {
		w.t.Fatalf("%s: queued %q, want %q", step, kinds, want)
	}
	return got
}

func (w *world) request(ref string) store.Request {
	w.t.Helper()
	r, err := w.st.RequestByRef(context.Background(), "it-help@example.test", ref)
	if err != nil {
		w.t.Fatalf("request %s: %v", ref, err)
	}
	return r
}

func (w *world) events(ref string) []string {
	w.t.Helper()
	evs, err := w.st.Events(context.Background(), w.request(ref).ID)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

const jane = "Jane Doe <jane@example.test>"
const dept = "it-help@example.test"

func TestLadderLateNoticeAndRestart(t *testing.T) {
	w := newWorld(t)
	// Tuesday 1 December 2026, 10:00: 4h → due 14:00.
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	if o.Action != "receipt" || o.Ref != "REQ-1" {
		t.Fatalf("first message: %+v", o)
	}
	w.expectMails("receipt", "receipt→jane@example.test")
	if r := w.request("REQ-1"); !r.DueAt.Equal(at("2026-12-01 14:00")) {
		t.Fatalf("due %s, want 14:00", r.DueAt.In(berlin))
	}

	if fired, next := w.tick(at("2026-12-01 11:59")); fired != 0 || !next.Equal(at("2026-12-01 12:00")) {
		t.Fatalf("11:59: fired %d, next %s; want nothing until 12:00", fired, next.In(berlin))
	}
	w.tick(at("2026-12-01 12:00"))
	esc := w.expectMails("50% step", "escalation→alice@example.test,bob@example.test")
	if esc[0].autoSub != "auto-generated" || !strings.Contains(esc[0].subject, "[REQ-1]") {
		t.Errorf("escalation: Auto-Submitted %q, subject %q", esc[0].autoSub, esc[0].subject)
	}
	if !strings.Contains(esc[0].text, "Please reset it.") {
		t.Errorf("escalation does not quote the request:\n%s", esc[0].text)
	}
	// 90% of 4h = 3h36m → 13:36.
	if fired, next := w.tick(at("2026-12-01 13:00")); fired != 0 || !next.Equal(at("2026-12-01 13:36")) {
		t.Fatalf("13:00: fired %d next %s, want the 90%% step at 13:36", fired, next.In(berlin))
	}
	w.tick(at("2026-12-01 13:36"))
	w.expectMails("90% step", "escalation→lead@example.test")

	w.tick(at("2026-12-01 14:00"))
	late := w.expectMails("due", "late-notice→jane@example.test", "escalation→lead@example.test")
	r := w.request("REQ-1")
	// Grace defaults to half the commitment: 2h after 14:00.
	if r.State != store.StateOverdue || !r.DueAt.Equal(at("2026-12-01 16:00")) {
		t.Fatalf("after due: state %s due %s; want overdue, new due 16:00", r.State, r.DueAt.In(berlin))
	}
	if !strings.Contains(late[0].text, "16:00") {
		t.Errorf("late notice does not give the new time 16:00:\n%s", late[0].text)
	}
	w.tick(at("2026-12-01 16:00"))
	w.expectMails("new due passed", "escalation→lead@example.test")

	// Nothing more, also not for a fresh scheduler after a restart.
	w.sched = NewScheduler(w.st, func() *Runtime { return w.rt }, func() time.Time { return w.now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, ts := range []string{"2026-12-01 16:30", "2026-12-02 12:00", "2026-12-10 12:00"} {
		if fired, _ := w.tick(at(ts)); fired != 0 {
			t.Errorf("%s: %d more events fired", ts, fired)
		}
	}
	w.expectMails("after everything")
	wantEvents := []string{"received", store.EventEscalated, store.EventEscalated, store.EventLateNotice, store.EventEscalated, store.EventEscalated}
	if got := w.events("REQ-1"); !slices.Equal(got, wantEvents) {
		t.Errorf("history %v, want %v", got, wantEvents)
	}
}

func TestMissedStepsFireOnceInOrder(t *testing.T) {
	w := newWorld(t)
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Password expired", "", "Help")
	w.expectMails("receipt", "receipt→jane@example.test")
	// ackd was down from 10:01 to 15:00: both steps and the due time
	// passed. They fire now, once each, in order.
	w.tick(at("2026-12-01 15:00"))
	w.expectMails("catch-up", "escalation→alice@example.test,bob@example.test", "escalation→lead@example.test",
		"late-notice→jane@example.test", "escalation→lead@example.test")
	if fired, _ := w.tick(at("2026-12-01 15:00")); fired != 0 {
		t.Errorf("second pass fired %d", fired)
	}
}

func TestLadderAcrossNightAndHoliday(t *testing.T) {
	w := newWorld(t)
	// Monday 7 December 16:00; Tuesday 8 is a holiday. 4h: 1h Monday,
	// 3h Wednesday → due Wed 12:00; 50% (2h) → Wed 10:00.
	w.deliver(at("2026-12-07 16:00"), jane, dept, "", "Password", "", "x")
	w.mails()
	if _, next := w.tick(at("2026-12-07 23:00")); !next.Equal(at("2026-12-09 10:00")) {
		t.Fatalf("next event %s, want Wed 10:00", next.In(berlin))
	}
	if fired, _ := w.tick(at("2026-12-08 12:00")); fired != 0 {
		t.Fatalf("fired on the holiday")
	}
}

func TestBeforeDueStep(t *testing.T) {
	w := newWorld(t)
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "VPN keeps dropping", "", "x")
	w.mails()
	// Due 14:00; the step is 1h of business time before: 13:00.
	if _, next := w.tick(at("2026-12-01 10:30")); !next.Equal(at("2026-12-01 13:00")) {
		t.Fatalf("next %s, want 13:00", next.In(berlin))
	}
}

func TestStaffAnswerStopsTheClock(t *testing.T) {
	w := newWorld(t)
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Password reset", "", "x")
	w.mails()
	reqID := o.Request.MessageID
	// Alice answers with reply-all: to Jane, cc the department.
	a := w.deliver(at("2026-12-01 11:00"), "Alice <alice@example.test>", "jane@example.test", dept, "Re: Password reset", reqID, "Done, try again.\n\n> x")
	if a.Action != "answered" {
		t.Fatalf("staff reply: action %q, want answered", a.Action)
	}
	r := w.request("REQ-1")
	if r.State != store.StateAnswered || !r.FirstResponseAt.Equal(at("2026-12-01 11:00")) {
		t.Fatalf("state %s first response %s", r.State, r.FirstResponseAt)
	}
	if fired, _ := w.tick(at("2026-12-01 16:00")); fired != 0 {
		t.Errorf("answered request still escalated")
	}
	w.expectMails("after answer") // nothing relayed: Jane got Alice's mail herself

	// Jane writes back after the answer: reopened under the follow-up
	// commitment (access has none: same as its 4h), from 12:00.
	b := w.deliver(at("2026-12-01 12:00"), jane, dept, "", "Re: Password reset [REQ-1]", "", "Still broken")
	if b.Action != "reopened" {
		t.Fatalf("requester after answer: %q, want reopened", b.Action)
	}
	if r := w.request("REQ-1"); r.State != store.StateAcknowledged || !r.DueAt.Equal(at("2026-12-01 16:00")) {
		t.Fatalf("reopened: state %s due %s, want acknowledged 16:00", r.State, r.DueAt.In(berlin))
	}
	w.expectMails("reopen sends nothing")
}

func TestReminderEscalatesAtOnce(t *testing.T) {
	w := newWorld(t)
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Password", "", "x")
	w.mails()
	rem := w.deliver(at("2026-12-01 10:30"), jane, dept, "", "Re: Password", o.Request.MessageID, "Any news?")
	if rem.Action != "reminder" {
		t.Fatalf("chase: %q, want reminder", rem.Action)
	}
	w.expectMails("reminder", "escalation→alice@example.test,bob@example.test")
	r := w.request("REQ-1")
	if r.Reminders != 1 || r.EscalationLevel != 1 {
		t.Fatalf("reminders %d level %d, want 1 and 1", r.Reminders, r.EscalationLevel)
	}
	// The 50% step was used up by the reminder; next is 90% to leads.
	if _, next := w.tick(at("2026-12-01 11:00")); !next.Equal(at("2026-12-01 13:36")) {
		t.Fatalf("next %s, want the 90%% step", next.In(berlin))
	}
	// No second receipt for the chase.
	if n := countKind(t, w, "receipt"); n != 1 {
		t.Errorf("%d receipts", n)
	}
}

func countKind(t *testing.T, w *world, kind string) int {
	rows, err := w.st.DueMail(context.Background(), time.Now().Add(24*365*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

func TestStaffCommands(t *testing.T) {
	w := newWorld(t)
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Password", "", "x")
	w.mails()
	id := o.Request.MessageID

	// #eta to ackd alone: Jane gets an updated date; no relay (only a command).
	w.deliver(at("2026-12-01 10:10"), "alice@example.test", dept, "", "Re: Password", id, "#eta 2026-12-03 12:00")
	upd := w.expectMails("eta", "due-update→jane@example.test")
	if r := w.request("REQ-1"); !r.DueAt.Equal(at("2026-12-03 12:00")) {
		t.Fatalf("eta: due %s", r.DueAt.In(berlin))
	}
	if !strings.Contains(upd[0].text, "3 December 2026") {
		t.Errorf("due update does not name the new date:\n%s", upd[0].text)
	}

	// #waiting: the clock stops; nothing fires.
	w.deliver(at("2026-12-01 11:00"), "alice@example.test", dept, "", "Re: Password", id, "#waiting")
	if r := w.request("REQ-1"); r.State != store.StateWaiting {
		t.Fatalf("state %s, want waiting", r.State)
	}
	if fired, _ := w.tick(at("2026-12-04 12:00")); fired != 0 {
		t.Fatalf("waiting request escalated")
	}
	// Jane answers on Friday: the clock runs again with what was left
	// (11:00 Tue → 12:00 Thu is 2 days 1h = 17h of business time).
	w.deliver(at("2026-12-04 10:00"), jane, dept, "", "Re: Password [REQ-1]", "", "Here is the info")
	r := w.request("REQ-1")
	if r.State != store.StateAcknowledged || !r.DueAt.After(at("2026-12-04 10:00")) {
		t.Fatalf("resumed: state %s due %s", r.State, r.DueAt.In(berlin))
	}

	// A non-staff #done is not a command, and from someone the request
	// was not written to it is not a reminder either: information only.
	nd := w.deliver(at("2026-12-04 10:30"), "mallory@example.test", dept, "", "Re: Password [REQ-1]", "", "#done")
	if r := w.request("REQ-1"); nd.Action != "information" || r.State == store.StateResolved || r.Reminders != 0 {
		t.Fatalf("non-staff #done: %q, state %s, %d reminders", nd.Action, r.State, r.Reminders)
	}
	w.expectMails("bystander's #done")

	// An unknown command gets a polite help reply to the staff member.
	w.deliver(at("2026-12-04 11:00"), "bob@example.test", dept, "", "Re: Password [REQ-1]", id, "#donee")
	help := w.expectMails("unknown command", "command-help→bob@example.test")
	if !strings.Contains(help[0].text, "#done") {
		t.Errorf("help does not list #done:\n%s", help[0].text)
	}

	// Words to ackd alone are relayed to Jane without the command lines;
	// #done resolves, and access sends a closing note.
	w.deliver(at("2026-12-04 12:00"), "Bob <bob@example.test>", dept, "", "Re: Password [REQ-1]", id, "Your account is unlocked.\n#done")
	got := w.expectMails("relay and done", "relay→jane@example.test", "closing→jane@example.test")
	if strings.Contains(got[0].text, "#done") || !strings.Contains(got[0].text, "Your account is unlocked.") {
		t.Errorf("relay text:\n%s", got[0].text)
	}
	if got[0].autoSub != "no" {
		t.Errorf("a relayed answer is a person's words, not Auto-Submitted (%q)", got[0].autoSub)
	}
	if r := w.request("REQ-1"); r.State != store.StateResolved || r.FirstResponseAt.IsZero() {
		t.Fatalf("after #done: state %s first response %v", r.State, r.FirstResponseAt)
	}
}

func TestSentFolderAnswers(t *testing.T) {
	w := newWorld(t)
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Password", "", "x")
	w.mails()
	// ackd's own copy in Sent is recognised and ignored.
	own := w.deliverTo("Sent", at("2026-12-01 10:00"), "IT Help Desk <"+dept+">", "jane@example.test", "", "Re: Password [REQ-1]", o.Request.MessageID, "X-Ackd-Loop: "+dept+"\r\n", "receipt")
	if own.Decision.Refusal != "own-copy" {
		t.Fatalf("own copy: %+v", own)
	}
	// A person answering from the shared account.
	a := w.deliverTo("Sent", at("2026-12-01 10:20"), "IT Help Desk <"+dept+">", "jane@example.test", "", "Re: Password [REQ-1]", o.Request.MessageID, "", "We are on it.")
	if a.Action != "answered" || w.request("REQ-1").State != store.StateAnswered {
		t.Fatalf("shared-account answer: %+v state %s", a, w.request("REQ-1").State)
	}
}

func TestAutoResolveAfterSilence(t *testing.T) {
	w := newWorld(t)
	// network resolves itself 2 working days after an answer nobody
	// replied to. Answered Tue 1 Dec 11:00 → Thu 3 Dec 11:00.
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "VPN drops", "", "x")
	w.mails()
	w.deliver(at("2026-12-01 11:00"), "alice@example.test", "jane@example.test", dept, "Re: VPN drops", o.Request.MessageID, "Reinstall the client, please.")
	if fired, next := w.tick(at("2026-12-03 10:59")); fired != 0 || !next.Equal(at("2026-12-03 11:00")) {
		t.Fatalf("before: fired %d next %s; want the auto-resolve at Thu 11:00", fired, next.In(berlin))
	}
	if fired, _ := w.tick(at("2026-12-03 11:00")); fired != 1 {
		t.Fatalf("auto-resolve did not fire")
	}
	if r := w.request("REQ-1"); r.State != store.StateResolved {
		t.Fatalf("state %s, want resolved", r.State)
	}
	w.expectMails("auto-resolve without closing note") // network sends no closing note

	// A reply from Jane before the time is up keeps it open: it reopens.
	o2 := w.deliver(at("2026-12-07 10:00"), jane, dept, "", "VPN again", "", "x")
	w.mails()
	w.deliver(at("2026-12-07 10:30"), "alice@example.test", "jane@example.test", dept, "Re: VPN again", o2.Request.MessageID, "Try now.")
	w.deliver(at("2026-12-07 12:00"), jane, dept, "", "Re: VPN again [REQ-2]", "", "Still broken.")
	if r := w.request("REQ-2"); r.State != store.StateAcknowledged {
		t.Fatalf("after the requester's reply: state %s, want acknowledged", r.State)
	}
	// Answered requests of categories without auto_resolve stay answered.
	o3 := w.deliver(at("2026-12-07 10:00"), jane, dept, "", "Password", "", "x")
	w.mails()
	w.deliver(at("2026-12-07 10:30"), "alice@example.test", "jane@example.test", dept, "Re: Password", o3.Request.MessageID, "Done.")
	w.tick(at("2027-01-29 12:00"))
	if r := w.request("REQ-3"); r.State != store.StateAnswered {
		t.Fatalf("access request: state %s, want still answered", r.State)
	}
}
