package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ackd/ackd/internal/imapmem"
)

type memCheckpoints struct {
	mu    sync.Mutex
	state map[string][2]uint32
}

func (m *memCheckpoints) Load(_ context.Context, mb string) (uint32, uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state[mb]
	return s[0], s[1], nil
}

func (m *memCheckpoints) Save(_ context.Context, mb string, v, l uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		m.state = map[string][2]uint32{}
	}
	m.state[mb] = [2]uint32{v, l}
	return nil
}

func rawMail(n int) []byte {
	return []byte(fmt.Sprintf("From: Jane <jane@example.test>\r\nTo: it-help@example.test\r\nSubject: request %d\r\nMessage-ID: <m%d@example.test>\r\n\r\nbody %d\r\n", n, n, n))
}

type watchHarness struct {
	srv     *imapmem.Server
	cp      *memCheckpoints
	got     chan Fetched
	cancel  context.CancelFunc
	done    chan error
	watcher *Watcher
}

func startWatcher(t *testing.T, srv *imapmem.Server, cp *memCheckpoints, cfg MailboxConfig, handle Handler) *watchHarness {
	t.Helper()
	h := &watchHarness{srv: srv, cp: cp, got: make(chan Fetched, 100), done: make(chan error, 1)}
	if handle == nil {
		handle = func(_ context.Context, f Fetched) error { h.got <- f; return nil }
	}
	if cfg.Addr == "" {
		cfg.Addr = srv.Addr()
	}
	cfg.TLS, cfg.Username, cfg.Password = "none", "dept", "pw"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.watcher = NewWatcher(cfg, cp, handle, log)
	h.watcher.SetBackoff(Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}, Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.watcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("watcher did not stop within 10s of cancellation")
		}
	})
	return h
}

func (h *watchHarness) expect(t *testing.T, subjects ...string) {
	t.Helper()
	for _, want := range subjects {
		select {
		case f := <-h.got:
			if !strings.Contains(string(f.Raw), "Subject: "+want+"\r\n") {
				t.Fatalf("got message uid %d %q, want subject %q", f.UID, f.Raw, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %q", want)
		}
	}
}

func (h *watchHarness) expectNothing(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case f := <-h.got:
		t.Fatalf("unexpected message uid %d: %q", f.UID, f.Raw)
	case <-time.After(within):
	}
}

func newServer(t *testing.T, opts imapmem.Options) *imapmem.Server {
	t.Helper()
	srv, err := imapmem.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("dept", "pw", "Sent"); err != nil {
		t.Fatal(err)
	}
	return srv
}

func appendN(t *testing.T, srv *imapmem.Server, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := srv.Append("dept", "INBOX", rawMail(i), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatcherReadsBacklogThenNewMail(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts imapmem.Options
		cfg  MailboxConfig
	}{
		{"idle", imapmem.Options{}, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, BatchSize: 2}},
		// Without IDLE the poll interval is what brings new mail in.
		{"poll", imapmem.Options{NoIdle: true}, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: 50 * time.Millisecond, BatchSize: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.opts)
			appendN(t, srv, 1, 5)
			cp := &memCheckpoints{}
			h := startWatcher(t, srv, cp, tc.cfg, nil)
			h.expect(t, "request 1", "request 2", "request 3", "request 4", "request 5")
			appendN(t, srv, 6, 6)
			h.expect(t, "request 6")
			h.expectNothing(t, 200*time.Millisecond)
			h.cancel()
			<-h.done
			h.done <- nil
			if _, last, _ := cp.Load(context.Background(), "INBOX"); last != 6 {
				t.Errorf("checkpoint last UID = %d, want 6", last)
			}
		})
	}
}

func TestWatcherResumesFromCheckpoint(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, 3)
	cp := &memCheckpoints{}
	h := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h.expect(t, "request 1", "request 2", "request 3")
	h.cancel()
	<-h.done
	h.done <- nil // let the cleanup see a clean stop

	appendN(t, srv, 4, 4)
	h2 := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h2.expect(t, "request 4")
	h2.expectNothing(t, 200*time.Millisecond)
}

func TestWatcherRereadsAfterUIDValidityChange(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, 2)
	cp := &memCheckpoints{}
	h := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h.expect(t, "request 1", "request 2")
	h.cancel()
	<-h.done
	h.done <- nil
	oldValidity, _, _ := cp.Load(context.Background(), "INBOX")

	if err := srv.RecreateMailbox("dept", "INBOX"); err != nil {
		t.Fatal(err)
	}
	appendN(t, srv, 1, 3)
	h2 := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	// Everything is handed over again; recognising request 1 and 2 by
	// Message-ID is the handler's job.
	h2.expect(t, "request 1", "request 2", "request 3")
	// The checkpoint moves after the handler returns: stop the watcher
	// before reading it.
	h2.cancel()
	<-h2.done
	h2.done <- nil
	newValidity, last, _ := cp.Load(context.Background(), "INBOX")
	if newValidity == oldValidity || last != 3 {
		t.Errorf("checkpoint = (%d, %d), want a new UIDVALIDITY (old %d) and last 3", newValidity, last, oldValidity)
	}
}

func TestWatcherRetriesAfterHandlerError(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, 2)
	var mu sync.Mutex
	failures := 1
	got := make(chan Fetched, 10)
	handle := func(_ context.Context, f Fetched) error {
		mu.Lock()
		defer mu.Unlock()
		if f.UID == 2 && failures > 0 {
			failures--
			return errors.New("store unavailable")
		}
		got <- f
		return nil
	}
	cp := &memCheckpoints{}
	h := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, handle)
	h.got = got
	// UID 1 once, then UID 2 after the failed attempt is retried on a new
	// session; UID 1 is not handed over again.
	h.expect(t, "request 1", "request 2")
	h.expectNothing(t, 200*time.Millisecond)
}

func TestWatcherDoesNotSetSeen(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, 1)
	h := startWatcher(t, srv, &memCheckpoints{}, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h.expect(t, "request 1")
	c, err := srv.Login("dept")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch flags: %v (%d messages)", err, len(msgs))
	}
	for _, f := range msgs[0].Flags {
		if f == imap.FlagSeen {
			t.Fatalf("watcher set \\Seen on a staff mailbox message: %v", msgs[0].Flags)
		}
	}
}

func TestWatcherSkipsBodyOfGiantMessage(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	big := append(rawMail(1), []byte(strings.Repeat("x", 4096))...)
	if _, err := srv.Append("dept", "INBOX", big, time.Time{}); err != nil {
		t.Fatal(err)
	}
	h := startWatcher(t, srv, &memCheckpoints{}, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, MaxMessageBytes: 1024}, nil)
	select {
	case f := <-h.got:
		if !f.TooLarge || f.Raw != nil || f.Size != int64(len(big)) {
			t.Fatalf("got TooLarge=%v raw=%d bytes size=%d; want TooLarge, no body, size %d", f.TooLarge, len(f.Raw), f.Size, len(big))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}

func TestWatcherReportsRefusedLogin(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	cfg := MailboxConfig{Addr: srv.Addr(), TLS: "none", Username: "dept", Password: "wrong", IDLE: true}
	w := NewWatcher(cfg, &memCheckpoints{}, func(context.Context, Fetched) error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := w.session(context.Background())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("session error = %v, want ErrAuth", err)
	}
}

// cutProxy forwards TCP to target and can cut every live connection, as
// a server restart or a NAT timeout would.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	return n
}

func TestWatcherReconnectsAfterConnectionLoss(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, 1)
	proxy := newCutProxy(t, srv.Addr())
	cp := &memCheckpoints{}
	h := startWatcher(t, srv, cp, MailboxConfig{Addr: proxy.ln.Addr().String(), Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h.expect(t, "request 1")
	if n := proxy.cut(); n != 1 {
		t.Fatalf("cut %d sessions, want the watcher's 1", n)
	}
	// Mail that lands while the watcher is away is picked up after it
	// reconnects, and nothing already handled comes again.
	appendN(t, srv, 2, 2)
	h.expect(t, "request 2")
	h.expectNothing(t, 200*time.Millisecond)
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i := 0; i < 20; i++ {
		d := b.Next()
		if d <= 0 || d > time.Second {
			t.Fatalf("step %d: backoff %v outside (0, 1s]", i, d)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset, backoff %v > Min", d)
	}
}
