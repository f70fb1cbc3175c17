package outbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/smtpsink"
)

// fakeQueue is an in-memory Queue with the store's semantics.
type fakeQueue struct {
	mu    sync.Mutex
	rows  map[int64]*QueuedMail
	next  int64
	marks int
}

func newFakeQueue() *fakeQueue { return &fakeQueue{rows: map[int64]*QueuedMail{}} }

func (q *fakeQueue) add(m QueuedMail) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	m.ID = q.next
	m.State = "pending"
	q.rows[m.ID] = &m
	return m.ID
}

func (q *fakeQueue) get(id int64) QueuedMail {
	q.mu.Lock()
	defer q.mu.Unlock()
	return *q.rows[id]
}

func (m QueuedMail) String() string {
	return fmt.Sprintf("mail %d %s attempts=%d next=%s err=%q", m.ID, m.State, m.Attempts, m.NextAttempt.Format(time.RFC3339), m.LastError)
}

func (q *fakeQueue) DueMail(_ context.Context, now time.Time, limit int) ([]QueuedMail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []QueuedMail
	for _, m := range q.rows {
		if m.State == "pending" && !m.NextAttempt.After(now) {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttempt.Equal(out[j].NextAttempt) {
			return out[i].NextAttempt.Before(out[j].NextAttempt)
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (q *fakeQueue) NextMailAttempt(context.Context) (time.Time, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	found := false
	for _, m := range q.rows {
		if m.State == "pending" && (!found || m.NextAttempt.Before(next)) {
			next, found = m.NextAttempt, true
		}
	}
	return next, found, nil
}

func (q *fakeQueue) mark(id int64, f func(*QueuedMail)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, ok := q.rows[id]
	if !ok || m.State != "pending" {
		return fmt.Errorf("mail %d is not pending", id)
	}
	q.marks++
	f(m)
	return nil
}

func (q *fakeQueue) MarkSent(_ context.Context, id int64, at time.Time) error {
	return q.mark(id, func(m *QueuedMail) { m.State, m.SentAt = "sent", at })
}

func (q *fakeQueue) MarkRetry(_ context.Context, id int64, next time.Time, lastErr string) error {
	return q.mark(id, func(m *QueuedMail) { m.Attempts++; m.NextAttempt, m.LastError = next, lastErr })
}

func (q *fakeQueue) MarkFailed(_ context.Context, id int64, at time.Time, lastErr string) error {
	return q.mark(id, func(m *QueuedMail) { m.State, m.LastError = "failed", lastErr })
}

func (q *fakeQueue) MarkHeld(_ context.Context, id int64, next time.Time, reason string, at time.Time) error {
	return q.mark(id, func(m *QueuedMail) {
		m.NextAttempt, m.HeldReason = next, reason
		if m.HeldSince.IsZero() {
			m.HeldSince = at
		}
	})
}

func (q *fakeQueue) MarkDropped(_ context.Context, id int64, at time.Time, reason string) error {
	return q.mark(id, func(m *QueuedMail) { m.State, m.LastError = "dropped", reason })
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// testBackoff is deterministic: 30s, 1m, 2m …
func testBackoff(attempts int) time.Duration { return 30 * time.Second << attempts }

type fixture struct {
	q     *fakeQueue
	clock *fakeClock
	sink  *smtpsink.Server
	logs  *lockedBuffer
	trans *lockedBuffer
}

func newFixture(t *testing.T, sinkOpts ...smtpsink.Option) *fixture {
	t.Helper()
	f := &fixture{q: newFakeQueue(), clock: &fakeClock{t: t0}, logs: &lockedBuffer{}, trans: &lockedBuffer{}}
	sink, err := smtpsink.Start(t.Context(), append([]smtpsink.Option{smtpsink.WithTranscript(f.trans)}, sinkOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	f.sink = sink
	return f
}

func (f *fixture) config() SMTPConfig {
	return SMTPConfig{Host: f.sink.Host(), Port: f.sink.Port(), TLS: TLSNone, Timeout: 5 * time.Second, HeloName: "ackd.example.test"}
}

func (f *fixture) sender(cfg SMTPConfig, opts ...Option) *Sender {
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewSender(f.q, cfg, log, append([]Option{WithClock(f.clock.Now), WithBackoff(testBackoff)}, opts...)...)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// enqueue composes a real message and queues it, due now.
func (f *fixture) enqueue(t *testing.T, n int, envFrom string, rcpts ...string) int64 {
	t.Helper()
	if len(rcpts) == 0 {
		rcpts = []string{"joerg@example.test"}
	}
	id := fmt.Sprintf("m%d@example.test", n)
	raw, err := Compose(Mail{
		From: mail.Address{Name: "IT Help Desk", Address: "it-help@example.test"}, To: []mail.Address{{Address: "joerg@example.test"}},
		Subject: fmt.Sprintf("[REQ-%d] received", n), Text: "secret body text\n.\nline after a dot\n",
		MessageID: id, AutoSubmitted: AutoReplied, Date: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.q.add(QueuedMail{Kind: "receipt", Dept: "it", MessageID: id, EnvelopeFrom: envFrom,
		Recipients: rcpts, Raw: raw, NextAttempt: f.clock.Now(), CreatedAt: f.clock.Now()})
}

func drain(t *testing.T, s *Sender) (sent, failed, retried int) {
	t.Helper()
	sent, failed, retried, err := s.DrainOnce(t.Context())
	if err != nil {
		t.Fatalf("DrainOnce: %v", err)
	}
	return sent, failed, retried
}

func TestSenderEnvelopeFrom(t *testing.T) {
	for _, tc := range []struct {
		name, envFrom, wantFrom, wantCmd string
	}{
		{"null reverse-path", "", "", "MAIL FROM:<>"},
		{"address", "bounces@example.test", "bounces@example.test", "MAIL FROM:<bounces@example.test>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.enqueue(t, 1, tc.envFrom)
			if sent, failed, retried := drain(t, f.sender(f.config())); sent != 1 || failed+retried != 0 {
				t.Fatalf("sent, failed, retried = %d, %d, %d", sent, failed, retried)
			}
			msgs := f.sink.Messages()
			if len(msgs) != 1 {
				t.Fatalf("sink got %d messages", len(msgs))
			}
			if msgs[0].From != tc.wantFrom || !slices.Equal(msgs[0].To, []string{"joerg@example.test"}) {
				t.Errorf("envelope = %q → %q", msgs[0].From, msgs[0].To)
			}
			// The command exactly, up to the ESMTP parameters go-mail appends.
			var cmd string
			for _, line := range strings.Split(f.trans.String(), "\r\n") {
				if strings.HasPrefix(line, "MAIL ") {
					cmd = line
				}
			}
			if c, _, _ := strings.Cut(cmd, " BODY="); c != tc.wantCmd {
				t.Errorf("MAIL command = %q, want %q", cmd, tc.wantCmd)
			}
			row := f.q.get(id)
			if !bytes.Equal(msgs[0].Data, row.Raw) {
				t.Errorf("data differs from queued raw:\n%q\n%q", msgs[0].Data, row.Raw)
			}
			if row.State != "sent" || !row.SentAt.Equal(t0) {
				t.Errorf("row = %s at %v", row.State, row.SentAt)
			}
		})
	}
}

func TestSenderBatchOneConnection(t *testing.T) {
	f := newFixture(t)
	var ids []int64
	for i := range 20 {
		ids = append(ids, f.enqueue(t, i, ""))
	}
	if sent, _, _ := drain(t, f.sender(f.config())); sent != 20 {
		t.Fatalf("sent = %d", sent)
	}
	msgs := f.sink.Messages()
	if len(msgs) != 20 || f.sink.Connections() != 1 {
		t.Fatalf("%d messages over %d connections", len(msgs), f.sink.Connections())
	}
	for i, m := range msgs {
		if m.Conn != 1 || !bytes.Contains(m.Data, []byte(fmt.Sprintf("<m%d@example.test>", i))) {
			t.Errorf("message %d: conn %d, wrong data", i, m.Conn)
		}
	}
	// Each transaction ended with the reply to DATA, so the next MAIL
	// follows without an RSET round trip.
	if n := strings.Count(f.trans.String(), "RSET\r\n"); n != 0 {
		t.Errorf("RSET sent %d times, want 0 after clean transactions", n)
	}
	for _, id := range ids {
		if r := f.q.get(id); r.State != "sent" {
			t.Errorf("row %d is %s", id, r.State)
		}
	}
	if strings.Contains(f.logs.String(), "secret body text") {
		t.Errorf("log contains a message body")
	}
}

func TestSenderTemporaryThenSuccess(t *testing.T) {
	for _, stage := range []smtpsink.Stage{smtpsink.StageMail, smtpsink.StageRcpt, smtpsink.StageData} {
		t.Run(string(stage), func(t *testing.T) {
			f := newFixture(t, smtpsink.WithFault(smtpsink.Fault{Stage: stage, Code: 451, Text: "greylisted, try later", Times: 2}))
			id := f.enqueue(t, 1, "")
			s := f.sender(f.config())

			for attempt, wait := range []time.Duration{30 * time.Second, time.Minute} {
				if _, _, retried := drain(t, s); retried != 1 {
					t.Fatalf("attempt %d: retried = %d", attempt, retried)
				}
				row := f.q.get(id)
				if row.State != "pending" || row.Attempts != attempt+1 || !strings.Contains(row.LastError, "451 4.0.0 greylisted, try later") {
					t.Fatalf("after attempt %d: %s, %d attempts, %q", attempt, row.State, row.Attempts, row.LastError)
				}
				if want := f.clock.Now().Add(wait); !row.NextAttempt.Equal(want) {
					t.Fatalf("next attempt %v, want %v", row.NextAttempt, want)
				}
				if sent, failed, retried := drain(t, s); sent+failed+retried != 0 {
					t.Fatalf("mail not yet due was attempted")
				}
				f.clock.Advance(wait)
			}
			if sent, _, _ := drain(t, s); sent != 1 {
				t.Fatalf("third attempt not sent: %+v", f.q.get(id))
			}
			if len(f.sink.Messages()) != 1 {
				t.Errorf("sink has %d messages", len(f.sink.Messages()))
			}
		})
	}
}

func TestSenderPermanentFailure(t *testing.T) {
	for _, stage := range []smtpsink.Stage{smtpsink.StageMail, smtpsink.StageRcpt, smtpsink.StageData} {
		t.Run(string(stage), func(t *testing.T) {
			f := newFixture(t, smtpsink.WithFault(smtpsink.Fault{Stage: stage, Code: 550, Text: "mailbox unavailable: no such user", Times: 1}))
			id := f.enqueue(t, 1, "")
			ok := f.enqueue(t, 2, "")
			if sent, failed, _ := drain(t, f.sender(f.config())); sent != 1 || failed != 1 {
				t.Fatalf("sent, failed = %d, %d", sent, failed)
			}
			row := f.q.get(id)
			if row.State != "failed" || !strings.Contains(row.LastError, "550 5.0.0 mailbox unavailable: no such user") {
				t.Errorf("row = %s %q", row.State, row.LastError)
			}
			// The connection survives a refusal: the next mail used it after RSET.
			if f.q.get(ok).State != "sent" || f.sink.Connections() != 1 {
				t.Errorf("second mail %s over %d connections", f.q.get(ok).State, f.sink.Connections())
			}
			if n := strings.Count(f.trans.String(), "RSET\r\n"); n != 1 {
				t.Errorf("RSET sent %d times, want 1 after the refused transaction", n)
			}
		})
	}
}

func TestSenderPartialRecipients(t *testing.T) {
	t.Run("permanent refusal of one", func(t *testing.T) {
		f := newFixture(t, smtpsink.WithFault(smtpsink.Fault{Stage: smtpsink.StageRcpt, Rcpt: "gone@example.test", Code: 550, Text: "no such user"}))
		id := f.enqueue(t, 1, "", "alice@example.test", "gone@example.test")
		if sent, _, _ := drain(t, f.sender(f.config())); sent != 1 {
			t.Fatalf("not sent: %+v", f.q.get(id))
		}
		if msgs := f.sink.Messages(); len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"alice@example.test"}) {
			t.Errorf("sink got %+v", msgs)
		}
		if !strings.Contains(f.logs.String(), "gone@example.test") {
			t.Errorf("refused recipient not logged")
		}
	})
	t.Run("temporary refusal of one", func(t *testing.T) {
		f := newFixture(t, smtpsink.WithFault(smtpsink.Fault{Stage: smtpsink.StageRcpt, Rcpt: "busy@example.test", Code: 452, Text: "mailbox full"}))
		id := f.enqueue(t, 1, "", "alice@example.test", "busy@example.test")
		if _, _, retried := drain(t, f.sender(f.config())); retried != 1 {
			t.Fatalf("not retried: %+v", f.q.get(id))
		}
		if n := len(f.sink.Messages()); n != 0 {
			t.Errorf("sink got %d messages; nobody should get it before everyone can", n)
		}
	})
}

func TestSenderServerDown(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	f.sink.Close()
	young := f.enqueue(t, 1, "")
	old := f.enqueue(t, 2, "")
	f.q.mu.Lock()
	f.q.rows[old].CreatedAt = t0.Add(-49 * time.Hour)
	f.q.mu.Unlock()

	s := f.sender(cfg)
	if s.Fault() != nil {
		t.Fatalf("fault before any attempt: %v", s.Fault())
	}
	_, failed, retried := drain(t, s)
	if retried != 1 || failed != 1 {
		t.Fatalf("failed, retried = %d, %d", failed, retried)
	}
	// /readyz reads this while mail is held.
	if s.Fault() == nil {
		t.Errorf("no fault reported after the server could not be reached")
	}
	if r := f.q.get(young); r.State != "pending" || !strings.Contains(r.LastError, "connect") || !r.NextAttempt.Equal(t0.Add(30*time.Second)) {
		t.Errorf("young mail: %+v", r)
	}
	if r := f.q.get(old); r.State != "failed" || !strings.Contains(r.LastError, "gave up after 48h") {
		t.Errorf("old mail: %s %q", r.State, r.LastError)
	}
}

func TestSenderCancelMidBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n int
	var mu sync.Mutex
	f := newFixture(t, smtpsink.WithOnMessage(func(smtpsink.Received) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 3 {
			cancel() // while the sender waits for the reply to its third DATA
		}
	}))
	var ids []int64
	for i := range 10 {
		ids = append(ids, f.enqueue(t, i, ""))
	}
	sent, failed, retried, err := f.sender(f.config()).DrainOnce(ctx)
	if err != nil || sent != 3 || failed+retried != 0 {
		t.Fatalf("DrainOnce = %d, %d, %d, %v; want the in-flight mail finished and no more", sent, failed, retried, err)
	}
	got := f.sink.Messages()
	delivered := map[string]bool{}
	for _, m := range got {
		for _, id := range ids {
			if bytes.Contains(m.Data, []byte("<"+f.q.get(id).MessageID+">")) {
				delivered[f.q.get(id).MessageID] = true
			}
		}
	}
	for _, id := range ids {
		r := f.q.get(id)
		switch {
		case r.State == "sent" && delivered[r.MessageID]:
		case r.State == "pending" && r.Attempts == 0 && !delivered[r.MessageID]:
		default:
			t.Errorf("row %d: state %s, attempts %d, delivered %v", id, r.State, r.Attempts, delivered[r.MessageID])
		}
	}
	if len(got) != 3 {
		t.Errorf("sink got %d messages", len(got))
	}
}

func TestSenderAuth(t *testing.T) {
	for _, mechs := range [][]string{{"PLAIN"}, {"LOGIN"}} {
		t.Run(mechs[0], func(t *testing.T) {
			f := newFixture(t, smtpsink.WithAuth("ackd", "s3cret-pw"), smtpsink.WithAuthMechanisms(mechs...))
			cfg := f.config()
			cfg.Username, cfg.Password = "ackd", "s3cret-pw"
			f.enqueue(t, 1, "")
			if sent, _, _ := drain(t, f.sender(cfg)); sent != 1 {
				t.Fatalf("not sent; logs:\n%s", f.logs)
			}
			if m := f.sink.Messages(); m[0].User != "ackd" {
				t.Errorf("user = %q", m[0].User)
			}
		})
	}
	t.Run("wrong password retries", func(t *testing.T) {
		f := newFixture(t, smtpsink.WithAuth("ackd", "s3cret-pw"))
		cfg := f.config()
		cfg.Username, cfg.Password = "ackd", "wrong-pw-value"
		id := f.enqueue(t, 1, "")
		if _, _, retried := drain(t, f.sender(cfg)); retried != 1 {
			t.Fatalf("not retried: %+v", f.q.get(id))
		}
		if strings.Contains(f.logs.String(), "wrong-pw-value") || strings.Contains(f.q.get(id).LastError, "wrong-pw-value") {
			t.Errorf("password leaked into logs or the row")
		}
	})
	t.Run("no auth configured, server requires it", func(t *testing.T) {
		f := newFixture(t, smtpsink.WithAuth("ackd", "s3cret-pw"))
		id := f.enqueue(t, 1, "")
		if _, failed, _ := drain(t, f.sender(f.config())); failed != 1 {
			t.Fatalf("row %+v", f.q.get(id))
		}
	})
}

func TestSenderTLS(t *testing.T) {
	serverTLS, pool, err := smtpsink.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		sinkOpt smtpsink.Option
		mode    string
		trust   bool
		sent    bool
	}{
		{"starttls trusted", smtpsink.WithSTARTTLS(serverTLS), TLSStartTLS, true, true},
		{"implicit trusted", smtpsink.WithImplicitTLS(serverTLS), TLSImplicit, true, true},
		{"starttls untrusted", smtpsink.WithSTARTTLS(serverTLS), TLSStartTLS, false, false},
		{"implicit untrusted", smtpsink.WithImplicitTLS(serverTLS), TLSImplicit, false, false},
		{"starttls not offered", smtpsink.WithDomain("plain.test"), TLSStartTLS, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.sinkOpt, smtpsink.WithAuth("ackd", "pw"))
			cfg := f.config()
			cfg.TLS, cfg.Username, cfg.Password = tc.mode, "ackd", "pw"
			if tc.trust {
				cfg.RootCAs = pool
			} else {
				cfg.RootCAs = nil // the system pool does not know the throwaway CA
			}
			id := f.enqueue(t, 1, "")
			sent, _, retried := drain(t, f.sender(cfg))
			if tc.sent {
				if sent != 1 {
					t.Fatalf("not sent: %+v\n%s", f.q.get(id), f.logs)
				}
				if m := f.sink.Messages(); !m[0].TLS || m[0].User != "ackd" {
					t.Errorf("received TLS=%v user=%q", m[0].TLS, m[0].User)
				}
				return
			}
			if retried != 1 || len(f.sink.Messages()) != 0 {
				t.Errorf("retried %d, sink got %d", retried, len(f.sink.Messages()))
			}
		})
	}
}

func TestSMTPConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg SMTPConfig
		ok  bool
	}{
		{SMTPConfig{Host: "127.0.0.1", TLS: TLSNone}, true},
		{SMTPConfig{Host: "localhost", TLS: TLSNone}, true},
		{SMTPConfig{Host: "::1", TLS: TLSNone}, true},
		{SMTPConfig{Host: "mail.example.test", TLS: TLSNone}, false},
		{SMTPConfig{Host: "10.0.0.1", TLS: TLSNone}, false},
		{SMTPConfig{Host: "mail.example.test"}, true},
		{SMTPConfig{Host: "mail.example.test", TLS: "ssl"}, false},
		{SMTPConfig{Host: ""}, false},
		{SMTPConfig{Host: "mail.example.test", Port: 70000}, false},
		{SMTPConfig{Host: "mail.example.test", HeloName: "a\r\nMAIL FROM:<x>"}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v", tc.cfg, err)
		}
	}
}

func TestSenderRefusesPlaintextToRemoteHost(t *testing.T) {
	f := newFixture(t)
	id := f.enqueue(t, 1, "")
	// Never dialled: the configuration is refused before any network use.
	cfg := SMTPConfig{Host: "mail.example.test", Port: 2525, TLS: TLSNone}
	if _, _, retried := drain(t, f.sender(cfg)); retried != 1 {
		t.Fatalf("row %+v", f.q.get(id))
	}
	if r := f.q.get(id); !strings.Contains(r.LastError, "loopback") {
		t.Errorf("last error %q", r.LastError)
	}
}

func TestSenderRefusesBadEnvelope(t *testing.T) {
	f := newFixture(t)
	bad := f.enqueue(t, 1, "", "x@example.test>\r\nRCPT TO:<evil@example.test")
	good := f.enqueue(t, 2, "")
	if sent, failed, _ := drain(t, f.sender(f.config())); sent != 1 || failed != 1 {
		t.Fatalf("sent, failed = %d, %d", sent, failed)
	}
	if f.q.get(bad).State != "failed" || f.q.get(good).State != "sent" {
		t.Errorf("states %s, %s", f.q.get(bad).State, f.q.get(good).State)
	}
	for _, m := range f.sink.Messages() {
		if slices.Contains(m.To, "evil@example.test") {
			t.Errorf("injected recipient reached the server")
		}
	}
}

func TestExponentialBackoff(t *testing.T) {
	b := ExponentialBackoff(30*time.Second, 30*time.Minute)
	for _, tc := range []struct {
		attempts int
		max      time.Duration
	}{{0, 30 * time.Second}, {1, time.Minute}, {2, 2 * time.Minute}, {6, 30 * time.Minute}, {50, 30 * time.Minute}} {
		for range 50 {
			if d := b(tc.attempts); d > tc.max || d < tc.max*4/5 {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", tc.attempts, d, tc.max*4/5, tc.max)
			}
		}
	}
}

// manualTimer replaces Run's timer so tests see each wait and decide when
// it fires.
type manualTimer struct {
	waits chan time.Duration
	fire  chan time.Time
}

func installManualTimer(s *Sender) *manualTimer {
	mt := &manualTimer{waits: make(chan time.Duration, 16), fire: make(chan time.Time)}
	s.timer = func(d time.Duration) (<-chan time.Time, func() bool) {
		mt.waits <- d
		return mt.fire, func() bool { return true }
	}
	return mt
}

func TestSenderRun(t *testing.T) {
	f := newFixture(t, smtpsink.WithFault(smtpsink.Fault{Stage: smtpsink.StageData, Code: 451, Text: "later", Times: 1}))
	s := f.sender(f.config(), WithPollInterval(time.Hour))
	mt := installManualTimer(s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	if d := <-mt.waits; d != time.Hour {
		t.Fatalf("idle wait = %s, want the poll interval", d)
	}
	f.enqueue(t, 1, "")
	s.Kick()
	// The first attempt is deferred for 30s; Run must sleep exactly that long.
	if d := <-mt.waits; d != 30*time.Second {
		t.Fatalf("wait after deferral = %s, want 30s", d)
	}
	f.clock.Advance(30 * time.Second)
	mt.fire <- f.clock.Now()
	msgs, err := f.sink.WaitFor(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := <-mt.waits; d != time.Hour {
		t.Fatalf("idle wait = %s", d)
	}
	if len(msgs) != 1 || f.q.get(1).State != "sent" {
		t.Fatalf("row %+v", f.q.get(1))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestKickNeverBlocks: Kick is called from the store's write path, so it
// must return at once even when nobody is listening, and the kicks that
// piled up must leave exactly one wake-up for Run.
func TestKickNeverBlocks(t *testing.T) {
	s := NewSender(newFakeQueue(), SMTPConfig{Host: "127.0.0.1", TLS: TLSNone}, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			s.Kick()
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Kick blocked with no Run loop listening")
	}
	if n := len(s.kick); n != 1 {
		t.Fatalf("%d wake-ups pending after 10 kicks, want 1", n)
	}
}
