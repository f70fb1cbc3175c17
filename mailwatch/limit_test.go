package mailwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// vclock is the virtual time the store, the scheduler and the sender
// share in the limit tests.
type vclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vclock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *vclock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// limitWorld is the lifecycle test world with a real outbox sender: a
// store on a file, an in-process SMTP sink, and one virtual clock.
type limitWorld struct {
	*world
	clock  *vclock
	path   string
	sink   *smtpsink.Server
	sender *outbox.Sender
	log    *slog.Logger
}

func newLimitWorld(t *testing.T, start time.Time, limits func(*config.Limits)) *limitWorld {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(lifecycleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if limits != nil {
		limits(&cfg.Limits)
	}
	for _, d := range cfg.Departments {
		d.Incident.Count = 0 // the backlogs are requests alike: no burst alert in the counts
	}
	sink, err := smtpsink.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	rt, err := NewRuntime(cfg, templates.Default())
	if err != nil {
		t.Fatal(err)
	}
	lw := &limitWorld{
		world: &world{t: t, rt: rt, seen: map[int64]bool{}},
		clock: &vclock{t: start}, path: filepath.Join(dir, "ackd.db"), sink: sink,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	lw.open()
	return lw
}

// open (re)opens the store on the same file and builds the processor,
// the scheduler and the sender around it: a restart.
func (lw *limitWorld) open() {
	t := lw.t
	st, err := store.OpenOptions(context.Background(), "sqlite", lw.path, store.Options{Now: lw.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lw.st = st
	rt := func() *Runtime { return lw.rt }
	lw.sched = NewScheduler(st, rt, lw.clock.now, nil, lw.log)
	lw.proc = NewProcessor(st, rt, lw.clock.now, nil, lw.sched.Kick, lw.log)
	smtp := outbox.SMTPConfig{Host: lw.sink.Host(), Port: lw.sink.Port(), TLS: outbox.TLSNone, Timeout: 5 * time.Second}
	lw.sender = outbox.NewSender(OutboxQueue(st), smtp, lw.log, outbox.WithClock(lw.clock.now), outbox.WithGate(NewLimitGate(st, rt)))
}

// restart closes the store and opens the same file again, with a new
// processor, scheduler and sender: nothing survives but the database.
func (lw *limitWorld) restart() {
	lw.t.Helper()
	if err := lw.st.Close(); err != nil {
		lw.t.Fatal(err)
	}
	lw.open()
}

// drainAt moves the clock to now and drains until nothing is due.
func (lw *limitWorld) drainAt(now time.Time) outbox.Drained {
	lw.t.Helper()
	lw.clock.set(now)
	var total outbox.Drained
	for {
		n, err := lw.sender.Drain(context.Background())
		if err != nil {
			lw.t.Fatalf("drain at %s: %v", now, err)
		}
		if n == (outbox.Drained{}) {
			return total
		}
		total.Sent += n.Sent
		total.Failed += n.Failed
		total.Retried += n.Retried
		total.Held += n.Held
		total.Dropped += n.Dropped
	}
}

// newRequest delivers a request from from at the clock's time and
// returns its outcome.
func (lw *limitWorld) newRequest(from, subject string) Outcome {
	lw.t.Helper()
	return lw.deliver(lw.clock.now(), from, "it-help@example.test", "", subject, "", "Please help.")
}

// received counts the mails the SMTP server accepted, by recipient and
// kind (the X-Ackd-Ref header tells ackd's mail; the subject its kind).
func (lw *limitWorld) received() map[string]int {
	out := map[string]int{}
	for _, m := range lw.sink.Messages() {
		kind := "other"
		switch s := string(m.Data); {
		case strings.Contains(s, "Escalation:"):
			kind = "escalation"
		case strings.Contains(s, "Auto-Submitted: auto-replied"):
			kind = "receipt"
		case strings.Contains(s, "Auto-Submitted: no"):
			kind = "relay"
		}
		for _, to := range m.To {
			out[strings.ToLower(to)+" "+kind]++
		}
		out[kind]++
	}
	return out
}

func (lw *limitWorld) held() []store.Mail {
	lw.t.Helper()
	h, err := lw.st.HeldMail(context.Background(), "")
	if err != nil {
		lw.t.Fatal(err)
	}
	return h
}

func (lw *limitWorld) openCount() int {
	lw.t.Helper()
	open, err := lw.st.OpenRequests(context.Background(), "")
	if err != nil {
		lw.t.Fatal(err)
	}
	return len(open)
}

// TestLimitsBacklog is the flood of the issue: a backlog of 1,000 requests
// from three people with per_sender_per_hour 10 and global_per_minute 60.
// Today's main recorded 30 of them and skipped 970. Every one is tracked
// now; exactly 10 receipts per person leave in each hour, counted from
// what was sent, across a restart; the rest wait, held, and go out as the
// windows allow, or are closed unsent once answered or past their due.
func TestLimitsBacklog(t *testing.T) {
	t0 := at("2026-03-02 10:00") // a Monday
	lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour, l.GlobalPerMinute = 10, 60 })
	people := []string{"jane@example.test", "max@example.test", "li@example.test"}
	const n = 1000
	for i := range n {
		o := lw.newRequest(people[i%3], fmt.Sprintf("printer %d", i))
		if o.Action != "receipt" || o.Ref == "" {
			t.Fatalf("request %d: %s (%s), want a recorded request with its receipt", i, o.Action, o.Decision.Reason)
		}
	}
	if got := lw.openCount(); got != n {
		t.Fatalf("%d of %d requests tracked", got, n)
	}
	if sk, _ := lw.st.RecentSkipped(context.Background(), 10); len(sk) != 0 {
		t.Fatalf("skipped: %+v", sk)
	}

	// The first hour: 10 receipts to each person, the rest held.
	if d := lw.drainAt(t0); d.Sent != 30 || d.Held != 970 || d.Dropped+d.Failed+d.Retried != 0 {
		t.Fatalf("first window: %+v, want 30 sent and 970 held", d)
	}
	got := lw.received()
	for _, p := range people {
		if got[p+" receipt"] != 10 {
			t.Errorf("%s got %d receipts in the first hour, want 10", p, got[p+" receipt"])
		}
	}
	held := lw.held()
	if len(held) != 970 {
		t.Fatalf("%d mails held, want 970", len(held))
	}
	for _, m := range held {
		if m.Kind != "receipt" || !strings.HasPrefix(m.HeldReason, "per_sender_per_hour (10) reached for ") ||
			!m.NextAttempt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("held mail %+v, want a receipt held by per_sender_per_hour until %v", m, t0.Add(time.Hour))
		}
	}
	last := held[len(held)-1]
	if evs := lw.eventsOf(last.RequestID); evs != "received mail-held" {
		t.Errorf("history of a held request: %q", evs)
	}

	// A restart half-way through the hour forgets nothing: the counts are
	// in the store.
	lw.restart()
	if d := lw.drainAt(t0.Add(30 * time.Minute)); d != (outbox.Drained{}) {
		t.Fatalf("after a restart within the hour: %+v, want nothing due", d)
	}
	if len(lw.sink.Messages()) != 30 {
		t.Fatalf("after a restart: %d mails sent, want still 30", len(lw.sink.Messages()))
	}

	// The next hour: 10 more each.
	if d := lw.drainAt(t0.Add(time.Hour)); d.Sent != 30 || d.Held != 940 {
		t.Fatalf("second window: %+v, want 30 sent and 940 held", d)
	}

	// A staff answer makes a held receipt pointless: it is closed unsent.
	answered := lw.held()[0]
	req := lw.requestByID(answered.RequestID)
	lw.clock.set(t0.Add(90 * time.Minute))
	lw.deliver(lw.clock.now(), "alice@example.test", req.Requester, "it-help@example.test", "Re: ["+req.Ref+"] "+req.Subject,
		strings.Trim(req.MessageID, "<>"), "Fixed, the toner was empty.")
	if d := lw.drainAt(t0.Add(2 * time.Hour)); d.Sent != 30 || d.Dropped != 1 || d.Held != 909 {
		t.Fatalf("third window: %+v, want 30 sent, the answered request's receipt dropped, 909 held", d)
	}
	m, err := lw.st.MailByID(context.Background(), answered.ID)
	if err != nil || m.State != store.MailDropped || m.DropReason != "no longer useful: the request was answered" {
		t.Errorf("receipt of the answered request: %+v, %v", m, err)
	}
	if evs := lw.eventsOf(req.ID); evs != "received mail-held answered assigned mail-dropped" {
		t.Errorf("history of the answered request: %q", evs)
	}
	sentLate := lw.request("REQ-31") // jane's 11th: held in the first hour, sent in the second
	if evs := lw.eventsOf(sentLate.ID); evs != "received mail-held mail-released" {
		t.Errorf("history of %s: %q", sentLate.Ref, evs)
	}

	// Past the commitment (3 business days), the promise a receipt makes
	// is broken anyway: the rest is closed unsent.
	if d := lw.drainAt(at("2026-03-05 10:01")); d.Sent != 0 || d.Dropped != 909 || d.Held != 0 {
		t.Fatalf("past the due time: %+v, want the 909 held receipts dropped", d)
	}
	if len(lw.held()) != 0 {
		t.Errorf("mail still held after the due time")
	}
	if pending, _ := lw.st.PendingMail(context.Background()); pending != 0 {
		t.Errorf("%d mails still pending", pending)
	}
	if got := lw.openCount(); got != n {
		t.Errorf("%d requests open at the end, want all %d", got, n)
	}
	t.Logf("requests tracked under a limit: %d of %d; receipts sent 30+30+30 in three windows, 1 dropped when answered, 909 dropped past their due", n, n)
}

// TestLimitsGlobalPerMinute: global_per_minute caps all mail, whoever it
// is for; the held mail leaves minute by minute.
func TestLimitsGlobalPerMinute(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour, l.GlobalPerMinute = 10, 60 })
	for i := range 150 {
		lw.newRequest(fmt.Sprintf("person%d@example.test", i), "printer")
	}
	for i, want := range []outbox.Drained{{Sent: 60, Held: 90}, {Sent: 60, Held: 30}, {Sent: 30}} {
		if d := lw.drainAt(t0.Add(time.Duration(i) * time.Minute)); d != want {
			t.Fatalf("minute %d: %+v, want %+v", i, d, want)
		}
		if i == 0 {
			for _, m := range lw.held() {
				if m.HeldReason != "global_per_minute (60) reached" || !m.NextAttempt.Equal(t0.Add(time.Minute)) {
					t.Fatalf("held %+v", m)
				}
			}
		}
	}
	if got := lw.openCount(); got != 150 {
		t.Errorf("%d requests tracked, want 150", got)
	}
}

// TestLimitsEscalationsPerRequest: a thread chased over and over (here by
// its requester; in finding 5 by strangers) escalates at most
// escalations_per_request_per_day times a day; a held escalation that a
// later one replaced is dropped, not sent a day late. Escalations go to
// staff: per_sender_per_hour does not hold them.
func TestLimitsEscalationsPerRequest(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) {
		l.PerSenderPerHour, l.GlobalPerMinute, l.EscalationsPerRequestPerDay = 2, 60, 3
	})
	o := lw.newRequest("jane@example.test", "printer")
	req := lw.request(o.Ref)
	for i := range 8 {
		lw.deliver(t0.Add(time.Duration(i+1)*time.Minute), "jane@example.test", "it-help@example.test", "", "Re: [REQ-1] printer",
			strings.Trim(req.MessageID, "<>"), fmt.Sprintf("Any news? (%d)", i+1))
	}
	if d := lw.drainAt(t0.Add(10 * time.Minute)); d.Sent != 4 || d.Held != 5 {
		t.Fatalf("first day: %+v, want the receipt and 3 escalations sent, 5 held", d)
	}
	if got := lw.received()["lead@example.test escalation"]; got != 3 {
		t.Errorf("lead got %d escalations, want 3 (per_sender_per_hour 2 does not apply to staff mail)", got)
	}
	for _, m := range lw.held() {
		if m.Kind != "escalation" || m.HeldReason != "escalations_per_request_per_day (3) reached for this request" {
			t.Errorf("held %+v", m)
		}
	}
	// A day later the newest escalation goes; the four it replaced do not.
	if d := lw.drainAt(t0.Add(24*time.Hour + 10*time.Minute)); d.Sent != 1 || d.Dropped != 4 || d.Held != 0 {
		t.Fatalf("next day: %+v, want 1 sent and 4 dropped", d)
	}
	mails, err := lw.st.RequestMail(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		if m.State == store.MailDropped && m.DropReason != "no longer useful: a later escalation replaced it" {
			t.Errorf("dropped %+v", m)
		}
	}

	// A staff answer stops the clock: a held escalation is dropped.
	for i := range 4 {
		lw.deliver(t0.Add(25*time.Hour+time.Duration(i)*time.Minute), "jane@example.test", "it-help@example.test", "", "Re: [REQ-1] printer",
			strings.Trim(req.MessageID, "<>"), "Still nothing?")
	}
	if d := lw.drainAt(t0.Add(25*time.Hour + 10*time.Minute)); d.Sent != 2 || d.Held != 2 {
		t.Fatalf("second day, four reminders: %+v, want 2 sent (the cap counts the day's), 2 held", d)
	}
	lw.deliver(t0.Add(26*time.Hour), "alice@example.test", "jane@example.test", "it-help@example.test", "Re: [REQ-1] printer",
		strings.Trim(req.MessageID, "<>"), "On it.")
	if d := lw.drainAt(t0.Add(49 * time.Hour)); d.Dropped != 2 || d.Sent != 0 {
		t.Fatalf("after the answer: %+v, want the 2 held escalations dropped", d)
	}
}

// TestLimitsStaffMailNotPerSender: staff mail neither waits for nor
// counts towards per_sender_per_hour, so a lead who also writes requests
// gets their own receipt however many escalations reached them.
func TestLimitsStaffMailNotPerSender(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour, l.GlobalPerMinute = 10, 1000 })
	for i := range 12 {
		o := lw.newRequest(fmt.Sprintf("person%d@example.test", i), "printer")
		req := lw.request(o.Ref)
		lw.deliver(t0.Add(time.Minute), req.Requester, "it-help@example.test", "", "Re: ["+req.Ref+"] printer",
			strings.Trim(req.MessageID, "<>"), "Any news?")
	}
	lw.clock.set(t0.Add(2 * time.Minute))
	lw.newRequest("lead@example.test", "my own laptop")
	if d := lw.drainAt(t0.Add(3 * time.Minute)); d.Sent != 12+12+1 || d.Held != 0 {
		t.Fatalf("drain: %+v, want 12 receipts, 12 escalations to the lead and the lead's own receipt", d)
	}
	got := lw.received()
	if got["lead@example.test escalation"] != 12 || got["lead@example.test receipt"] != 1 {
		t.Errorf("lead got %d escalations and %d receipts, want 12 and 1", got["lead@example.test escalation"], got["lead@example.test receipt"])
	}
}

// TestLimitsRelaysPerRequest: relays of staff words to the requester are
// capped per request and day; they are a person's answer, so a held
// relay is sent later, unless it would wait past the sender's give-up age
// (48 hours), which only a loop or a flood reaches.
func TestLimitsRelaysPerRequest(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) {
		l.PerSenderPerHour, l.GlobalPerMinute, l.RelaysPerRequestPerDay = 100, 100, 2
	})
	o := lw.newRequest("jane@example.test", "printer")
	req := lw.request(o.Ref)
	for i := range 5 {
		lw.deliver(t0.Add(time.Duration(i+1)*time.Minute), "alice@example.test", "it-help@example.test", "", "Re: [REQ-1] printer",
			strings.Trim(req.MessageID, "<>"), fmt.Sprintf("Try this, step %d.", i+1))
	}
	if d := lw.drainAt(t0.Add(10 * time.Minute)); d.Sent != 3 || d.Held != 3 {
		t.Fatalf("first day: %+v, want the receipt and 2 relays sent, 3 relays held", d)
	}
	if got := lw.received()["jane@example.test relay"]; got != 2 {
		t.Errorf("jane got %d relays, want 2", got)
	}
	for _, m := range lw.held() {
		if m.Kind != "relay" || m.HeldReason != "relays_per_request_per_day (2) reached for this request" {
			t.Errorf("held %+v", m)
		}
	}
	if d := lw.drainAt(t0.Add(24*time.Hour + 10*time.Minute)); d.Sent != 2 || d.Dropped != 1 || d.Held != 0 {
		t.Fatalf("next day: %+v, want 2 more relays sent, the fifth dropped (its window opens 48h after it was written)", d)
	}
	mails, err := lw.st.RequestMail(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := mails[len(mails)-1]
	if last.State != store.MailDropped ||
		last.DropReason != "held for more than 48h0m0s (relays_per_request_per_day (2) reached for this request)" {
		t.Errorf("fifth relay: %+v", last)
	}
}

// TestLimitsReload: the caps are read at each mail, so a reload that
// raises one lets held mail go at its next attempt.
func TestLimitsReload(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour, l.GlobalPerMinute = 1, 60 })
	lw.newRequest("jane@example.test", "printer")
	lw.newRequest("jane@example.test", "scanner")
	if d := lw.drainAt(t0); d.Sent != 1 || d.Held != 1 {
		t.Fatalf("%+v", d)
	}
	lw.rt.Config.Limits.PerSenderPerHour = 5
	if d := lw.drainAt(t0.Add(time.Hour)); d.Sent != 1 {
		t.Fatalf("after the reload: %+v", d)
	}
}

func (lw *limitWorld) requestByID(id int64) store.Request {
	lw.t.Helper()
	r, err := lw.st.RequestByID(context.Background(), id)
	if err != nil {
		lw.t.Fatal(err)
	}
	return r
}

func (lw *limitWorld) eventsOf(id int64) string {
	lw.t.Helper()
	evs, err := lw.st.Events(context.Background(), id)
	if err != nil {
		lw.t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	return strings.Join(kinds, " ")
}

// TestLimitsDigest: the staff digest marks each request whose receipt a
// limit holds and counts them, so staff know the requester has heard
// nothing yet.
func TestLimitsDigest(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour = 1 })
	for _, s := range []string{"printer", "scanner", "monitor"} {
		lw.newRequest("jane@example.test", s)
	}
	if d := lw.drainAt(t0); d.Sent != 1 || d.Held != 2 {
		t.Fatalf("%+v", d)
	}
	dept := lw.rt.Config.Departments[0]
	dept.Digest.To = []string{"alice@example.test"}
	_, rendered, _, err := DigestMail(context.Background(), lw.st, lw.rt.Templates, dept, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// REQ-2 and REQ-3, each under "New" and "Other unanswered".
	if n := strings.Count(rendered.Text, "— receipt held"); n != 4 {
		t.Errorf("digest marks %d lines as receipt held, want 4:\n%s", n, rendered.Text)
	}
	if !strings.Contains(rendered.Text, "Receipts held by a sending limit: 2") || !strings.Contains(rendered.HTML, "receipt held") {
		t.Errorf("digest does not count the held receipts:\n%s", rendered.Text)
	}
}

// sentReadStore counts the gate's reads of the send times.
type sentReadStore struct {
	store.Store
	mu    sync.Mutex
	reads int
}

func (s *sentReadStore) SentTimes(ctx context.Context, f store.SentFilter, limit int) ([]time.Time, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.Store.SentTimes(ctx, f, limit)
}

func (s *sentReadStore) SentMarks(ctx context.Context, f store.SentFilter, limit int) ([]store.SentMark, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.Store.SentMarks(ctx, f, limit)
}

// TestLimitGateCountsAMailOnce: a mail the sender hands the gate as sent
// but unrecorded, that the store records meanwhile, counts once. It
// counted twice, holding the next mail a window late: the flake of
// TestLimitsEscalationsPerRequest ("Dropped:1, want 2"), where an
// escalation was held until 49h10m instead of 48h10m.
func TestLimitGateCountsAMailOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		gate func(store.Store, func() *Runtime) outbox.Gate
	}{{"memory", NewLimitGate}, {"shared", NewSharedLimitGate}} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := at("2026-03-02 10:00")
			lw := newLimitWorld(t, t0, func(l *config.Limits) { l.GlobalPerMinute = 2 })
			lw.newRequest("jane@example.test", "printer")
			lw.newRequest("max@example.test", "scanner")
			due, err := OutboxQueue(lw.st).DueMail(t.Context(), t0, 10)
			if err != nil || len(due) != 2 {
				t.Fatalf("due %d mails, %v; want 2", len(due), err)
			}
			g := tc.gate(lw.st, func() *Runtime { return lw.rt }).(outbox.UnmarkedGate)
			if err := lw.st.MarkSent(t.Context(), due[0].ID, t0); err != nil {
				t.Fatal(err)
			}
			a, err := g.AdmitUnmarked(t.Context(), due[1], t0, []outbox.Unmarked{{Mail: due[0], At: t0}})
			if err != nil || a.Verdict != outbox.Send {
				t.Fatalf("the second of global_per_minute 2, the first both recorded and unmarked: %+v, %v; want Send", a, err)
			}
		})
	}
}

// TestLimitGateReadsEachKeyOnce: the gate of the only sender reads a
// key's sends from the store once and counts the rest in memory, so a
// backlog costs no query a mail (it read every send of the window for
// every mail), with the caps as exact as before; a shared gate (replicas)
// reads at every mail and so sees a send another replica recorded.
func TestLimitGateReadsEachKeyOnce(t *testing.T) {
	t0 := at("2026-03-02 10:00")
	lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour, l.GlobalPerMinute = 5, 1000 })
	for i := range 200 {
		lw.newRequest(fmt.Sprintf("person%d@example.test", i%20), fmt.Sprintf("printer %d", i))
	}
	cs := &sentReadStore{Store: lw.st}
	smtp := outbox.SMTPConfig{Host: lw.sink.Host(), Port: lw.sink.Port(), TLS: outbox.TLSNone, Timeout: 5 * time.Second}
	lw.sender = outbox.NewSender(OutboxQueue(lw.st), smtp, lw.log, outbox.WithClock(lw.clock.now),
		outbox.WithGate(NewLimitGate(cs, func() *Runtime { return lw.rt })))
	if d := lw.drainAt(t0); d.Sent != 100 || d.Held != 100 {
		t.Fatalf("%+v, want 5 receipts to each of 20 people sent, the rest held", d)
	}
	for to, n := range lw.received() {
		if strings.HasSuffix(to, " receipt") && n != 5 {
			t.Errorf("%s: %d, want 5", to, n)
		}
	}
	if cs.reads > 21 {
		t.Errorf("the gate read the store %d times for 200 mails, want at most 21 (the whole outbox and 20 recipients)", cs.reads)
	}

	// Replicas: another one records a send; a shared gate counts it.
	lw.clock.set(t0.Add(2 * time.Hour))
	lw.newRequest("jane@example.test", "a")
	lw.newRequest("max@example.test", "b")
	lw.rt.Config.Limits.GlobalPerMinute = 1
	due, err := OutboxQueue(lw.st).DueMail(t.Context(), lw.clock.now(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := due[len(due)-1], due[len(due)-2]
	g := NewSharedLimitGate(lw.st, func() *Runtime { return lw.rt })
	if a, err := g.Admit(t.Context(), mine, lw.clock.now()); err != nil || a.Verdict != outbox.Send {
		t.Fatalf("nothing sent this minute: %+v, %v; want Send", a, err)
	}
	if err := lw.st.MarkSent(t.Context(), theirs.ID, lw.clock.now()); err != nil {
		t.Fatal(err)
	}
	if a, err := g.Admit(t.Context(), mine, lw.clock.now()); err != nil || a.Verdict != outbox.Hold {
		t.Fatalf("after another replica's send: %+v, %v; want Hold", a, err)
	}
}
