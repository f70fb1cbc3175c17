package mailwatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/outbox"
)

// The transport end to end on the real Dovecot + Postfix stack: every TLS
// mode a config can name, with the stack's CA and without it.

// memCheckpoints keeps a watcher's checkpoint in memory.
type memCheckpoints struct {
	mu             sync.Mutex
	validity, last uint32
}

func (c *memCheckpoints) Load(context.Context, string) (uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.validity, c.last, nil
}

func (c *memCheckpoints) Save(_ context.Context, _ string, v, l uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.validity, c.last = v, l
	return nil
}

// recordHandler passes every log record to a channel, so a test can wait
// for what the watcher reports instead of polling it.
type recordHandler struct{ ch chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Clone():
	default:
	}
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

type imapCase struct {
	name string
	tls  string
	addr func(*mailstack.Stack) string
}

var imapModes = []imapCase{
	{"implicit", "implicit", func(s *mailstack.Stack) string { return s.IMAPSAddr }},
	{"starttls", "starttls", func(s *mailstack.Stack) string { return s.IMAPAddr }},
}

// startWatcher watches user's INBOX at addr until the test ends.
func startWatcher(t *testing.T, addr, mode, user, caFile string) (*mailwatch.Watcher, <-chan mailwatch.Fetched, <-chan slog.Record) {
	t.Helper()
	tc, err := mailwatch.TLSConfig("127.0.0.1", caFile, false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan mailwatch.Fetched, 8)
	logs := make(chan slog.Record, 64)
	w := mailwatch.NewWatcher(mailwatch.MailboxConfig{
		Addr: addr, TLS: mode, Username: user, Password: mailstack.Password, TLSConfig: tc,
		Mailbox: "INBOX", IDLE: true, PollInterval: time.Minute, DialTimeout: 10 * time.Second,
	}, &memCheckpoints{}, func(_ context.Context, f mailwatch.Fetched) error {
		got <- f
		return nil
	}, slog.New(recordHandler{logs}))
	// One attempt is all a test needs to see; no reconnect storm.
	w.SetBackoff(mailwatch.Backoff{Min: time.Hour, Max: time.Hour}, mailwatch.Backoff{Min: time.Hour, Max: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher Run: %v", err)
		}
	})
	return w, got, logs
}

// waitLog returns the first record with message msg.
func waitLog(t *testing.T, logs <-chan slog.Record, msg string) slog.Record {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case r := <-logs:
			if r.Message == msg {
				return r
			}
		case <-deadline:
			t.Fatalf("no log %q after 20s", msg)
		}
	}
}

func deliverOne(t *testing.T, s *mailstack.Stack, to, subject string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	from := s.NewAddress(t, "requester")
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d@tls.example.test>\r\n\r\nHello.\r\n", from, to, subject, time.Now().UnixNano())
	if err := s.Send(ctx, from, to, []byte(raw)); err != nil {
		t.Fatal(err)
	}
}

func waitFetched(t *testing.T, got <-chan mailwatch.Fetched, subject string) {
	t.Helper()
	select {
	case f := <-got:
		if !strings.Contains(string(f.Raw), "Subject: "+subject) {
			t.Errorf("fetched a message without the subject %q:\n%s", subject, f.Raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the watcher fetched nothing within 20s")
	}
}

func TestE2EWatcherTLS(t *testing.T) {
	s := mailstack.Require(t)
	modes := append(imapModes, imapCase{"none on loopback", "none", func(s *mailstack.Stack) string { return s.IMAPAddr }})
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			user := s.NewAddress(t, "dept")
			w, got, logs := startWatcher(t, m.addr(s), m.tls, user, s.CAFile)
			waitLog(t, logs, "watching mailbox")
			if ok, err := w.Connected(); !ok {
				t.Fatalf("not connected after logging in: %v", err)
			}
			deliverOne(t, s, user, "over "+m.name)
			waitFetched(t, got, "over "+m.name)
		})
	}
}

func TestE2EWatcherRefusesUnknownCA(t *testing.T) {
	s := mailstack.Require(t)
	for _, m := range imapModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			// No ca_file: the system roots, which do not know the stack's CA.
			w, got, logs := startWatcher(t, m.addr(s), m.tls, s.NewAddress(t, "dept"), "")
			r := waitLog(t, logs, "IMAP session ended; reconnecting")
			if msg := attr(r, "err"); !strings.Contains(msg, "certificate") {
				t.Errorf("the logged error %q does not say the certificate is the problem", msg)
			}
			ok, err := w.Connected()
			if ok || err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("Connected() = %v, %v; want false with a certificate error", ok, err)
			}
			select {
			case f := <-got:
				t.Errorf("fetched uid %d over an unverified connection", f.UID)
			default:
			}
		})
	}
}

// oneMail is an outbox queue holding a single mail, recording its fate.
type oneMail struct {
	mail    outbox.QueuedMail
	mu      sync.Mutex
	state   string
	lastErr string
}

func (q *oneMail) DueMail(context.Context, time.Time, int) ([]outbox.QueuedMail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != "" {
		return nil, nil
	}
	return []outbox.QueuedMail{q.mail}, nil
}
func (q *oneMail) NextMailAttempt(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (q *oneMail) set(state, err string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.state, q.lastErr = state, err
	return nil
}
func (q *oneMail) MarkSent(context.Context, int64, time.Time) error { return q.set("sent", "") }
func (q *oneMail) MarkRetry(_ context.Context, _ int64, _ time.Time, e string) error {
	return q.set("retry", e)
}
func (q *oneMail) MarkFailed(_ context.Context, _ int64, _ time.Time, e string) error {
	return q.set("failed", e)
}
func (q *oneMail) MarkHeld(_ context.Context, _ int64, _ time.Time, reason string, _ time.Time) error {
	return q.set("held", reason)
}
func (q *oneMail) MarkDropped(_ context.Context, _ int64, _ time.Time, reason string) error {
	return q.set("dropped", reason)
}

func TestE2ESenderTLS(t *testing.T) {
	s := mailstack.Require(t)
	tests := []struct {
		name, tls string
		addr      string
		withCA    bool
		wantSent  bool
	}{
		{"starttls with CA", outbox.TLSStartTLS, s.SMTPAddr, true, true},
		{"implicit with CA", outbox.TLSImplicit, s.SMTPSAddr, true, true},
		{"none on loopback", outbox.TLSNone, s.SMTPAddr, false, true},
		{"starttls without CA", outbox.TLSStartTLS, s.SMTPAddr, false, false},
		{"implicit without CA", outbox.TLSImplicit, s.SMTPSAddr, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host, portStr, _ := net.SplitHostPort(tc.addr)
			port, _ := strconv.Atoi(portStr)
			cfg := outbox.SMTPConfig{Host: host, Port: port, TLS: tc.tls, Timeout: 10 * time.Second}
			if tc.withCA {
				cfg.RootCAs = s.CAPool()
			}
			to := s.NewAddress(t, "requester")
			subject := "receipt over " + tc.name
			q := &oneMail{mail: outbox.QueuedMail{
				ID: 1, Dept: "it", Kind: "receipt", MessageID: "<tls@ackd.example.test>", Recipients: []string{to},
				Raw:       []byte("From: IT <it-help@example.test>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nAuto-Submitted: auto-replied\r\n\r\nReceived.\r\n"),
				CreatedAt: time.Now(),
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sent, _, _, err := outbox.NewSender(q, cfg, nil).DrainOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantSent {
				if sent != 0 || q.state == "sent" {
					t.Fatalf("sent over TLS the client cannot verify")
				}
				if !strings.Contains(q.lastErr, "certificate") {
					t.Errorf("the recorded error %q does not say the certificate is the problem", q.lastErr)
				}
				return
			}
			if sent != 1 || q.state != "sent" {
				t.Fatalf("not sent: state %q, error %q", q.state, q.lastErr)
			}
			msgs, err := s.WaitForMessages(ctx, to, "INBOX", 1)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(msgs[0].Raw), subject) {
				t.Errorf("delivered a different message:\n%s", msgs[0].Raw)
			}
		})
	}
}
