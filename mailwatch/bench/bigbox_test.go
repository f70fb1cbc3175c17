package bench_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch"
)

var (
	bigboxN    = flag.String("bench.bigbox", "", "mailbox sizes for TestBigMailboxRestart, comma-separated and growing (empty skips it; the issue's figure is 100000, e.g. 1000,10000,100000)")
	bigboxIdle = flag.Duration("bench.bigbox-idle", 3*time.Second, "how long each idle phase of TestBigMailboxRestart counts cycles")
)

// TestBigMailboxRestart measures what a start and a restart of the watcher
// cost against an INBOX of many messages (issue 13, item 4): the time to
// "watching" and the IMAP bytes both ways, counted by a loopback proxy
// between the watcher and Dovecot, and the bytes of one idle cycle
// (polling and IDLE). The mailbox is one fresh user whose maildir is
// written directly (Dovecot indexes it at the first SELECT, timed apart)
// and removed at the end. Constant traffic means the figures do not grow
// with the mailbox.
func TestBigMailboxRestart(t *testing.T) {
	if *bigboxN == "" {
		t.Skip("set -bench.bigbox 1000,10000,100000 for the figures of docs/performance.md")
	}
	var sizes []int
	for _, f := range strings.Split(*bigboxN, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
			t.Fatalf("-bench.bigbox %q: want growing positive sizes", *bigboxN)
		}
		sizes = append(sizes, n)
	}
	s := mailstack.Require(t)
	ctx := context.Background()
	addr := s.NewAddress(t, "bigbox")
	local, _, _ := strings.Cut(addr, "@")
	dir := filepath.Join(s.Dir, "mail", mailstack.Domain, local)
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the big mailbox: %v", err)
		}
	})
	mb := newMaildir(t, dir)
	proxy := newCountingProxy(t, s.IMAPAddr)

	t.Logf("%-8s %-48s %10s %10s %10s %8s", "messages", "phase", "ready", "up B", "down B", "handled")
	// The bytes of each phase at the smallest size: at the larger ones
	// only the numbers may grow (a few digits), never with a list of
	// UIDs or flags.
	first := map[string]int64{}
	constant := func(n int, what string, b int64) {
		t.Helper()
		if b0, ok := first[what]; !ok {
			first[what] = b
		} else if b > b0+64 {
			t.Errorf("%d messages, %s: %d bytes, %d at %d messages: traffic grows with the mailbox", n, what, b, b0, sizes[0])
		}
	}
	for _, n := range sizes {
		mb.fill(t, n)
		t0 := time.Now()
		sess, err := s.Login(ctx, addr, mailstack.Plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		sel, err := sess.Client.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		sess.Close()
		if err != nil {
			t.Fatalf("select: %v", err)
		}
		if int(sel.NumMessages) != n {
			t.Fatalf("Dovecot sees %d messages, want %d", sel.NumMessages, n)
		}
		t.Logf("%-8d %-48s %10s", n, "Dovecot indexes the new files", time.Since(t0).Round(time.Millisecond))
		// What a bare login and SELECT cost, the watcher aside: the floor
		// of its ready time. Dovecot is slower for the first sessions
		// after indexing many new files.
		var selects []string
		for range 4 {
			t1 := time.Now()
			sess, err := s.Login(ctx, addr, mailstack.Plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = sess.Client.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
			sess.Close()
			if err != nil {
				t.Fatalf("select: %v", err)
			}
			selects = append(selects, time.Since(t1).Round(time.Millisecond).String())
		}
		t.Logf("%-8d %-48s %s", n, "bare login+SELECT, 4 sessions", strings.Join(selects, " "))

		cp := &memCheckpoints{}
		base := mailwatch.MailboxConfig{
			Addr: proxy.addr, TLS: "none", Username: addr, Password: mailstack.Password,
			Mailbox: "INBOX", IDLE: true, PollInterval: time.Minute,
		}
		run := func(phase string, cfg mailwatch.MailboxConfig, cp mailwatch.Checkpoints, idleFor time.Duration) {
			t.Helper()
			var handled int
			var mu sync.Mutex
			w := mailwatch.NewWatcher(cfg, cp, func(context.Context, mailwatch.Fetched) error {
				mu.Lock()
				handled++
				mu.Unlock()
				return nil
			}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			proxy.reset()
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			start := time.Now()
			go func() { w.Run(rctx); close(done) }()
			for {
				if ok, _ := w.Connected(); ok {
					break
				}
				if time.Since(start) > time.Minute {
					cancel()
					t.Fatalf("%s: not watching after a minute", phase)
				}
				time.Sleep(time.Millisecond)
			}
			ready := time.Since(start)
			upR, downR := proxy.counts()
			// The first catch-up (one UID SEARCH) follows at once.
			time.Sleep(300 * time.Millisecond)
			up0, down0, _ := proxy.snapshot()
			time.Sleep(idleFor)
			up1, down1, sent := proxy.snapshot()
			cancel()
			<-done
			mu.Lock()
			h := handled
			mu.Unlock()
			if h != 0 {
				t.Errorf("%d messages, %s: handler got %d messages, want none (all are history)", n, phase, h)
			}
			if ready > 2*time.Second {
				t.Errorf("%d messages, %s: ready after %v, want under 2s", n, phase, ready)
			}
			t.Logf("%-8d %-48s %10s %10d %10d %8d", n, phase+" (to ready)", ready.Round(time.Millisecond), upR, downR, h)
			t.Logf("%-8d %-48s %10s %10d %10d", n, phase+" (+ first catch-up)", "", up0, down0)
			constant(n, phase, up0+down0)
			if idleFor > 0 {
				cmds := sent[len(sent)-int(up1-up0):]
				cycles := bytes.Count(cmds, []byte(" NOOP\r\n"))
				if cycles == 0 {
					t.Fatalf("%s: no NOOP in %v", phase, idleFor)
				}
				constant(n, phase+" per idle cycle", (up1-up0+down1-down0)/int64(cycles))
				t.Logf("%-8d %-48s %10s %10d %10d  (%d cycles in %v: %d B up, %d B down per cycle)", n, phase+" (idle)", "",
					up1-up0, down1-down0, cycles, idleFor, (up1-up0)/int64(cycles), (down1-down0)/int64(cycles))
			}
		}
		run("first start (no checkpoint)", base, cp, 0)
		if cp.last != uint32(n) {
			t.Errorf("%d messages: first start saved last UID %d, want %d (the newest)", n, cp.last, n)
		}
		run("restart (checkpoint at newest)", base, cp, 0)
		run("restart again", base, cp, 0)
		withBackfill := base
		withBackfill.Backfill = time.Hour
		run("first start, backfill 1h", withBackfill, &memCheckpoints{}, 0)
		run("first start, backfill 1h, again", withBackfill, &memCheckpoints{}, 0)
		poll := base
		poll.IDLE, poll.PollInterval = false, 100*time.Millisecond
		run("restart, poll 100ms", poll, cp, *bigboxIdle)
		idle := base
		idle.PollInterval = 200 * time.Millisecond // each IDLE ends after 200ms: NOOP, IDLE, DONE, UID SEARCH
		run("restart, IDLE re-issued every 200ms", idle, cp, *bigboxIdle)
	}
}

// memCheckpoints keeps the checkpoint of one mailbox in memory.
type memCheckpoints struct {
	mu             sync.Mutex
	validity, last uint32
}

func (m *memCheckpoints) Load(context.Context, string) (uint32, uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.validity, m.last, nil
}

func (m *memCheckpoints) Save(_ context.Context, _ string, validity, last uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.validity, m.last = validity, last
	return nil
}

// maildir writes messages straight into a Dovecot maildir (cur/, seen),
// owned by the user Dovecot reads mail as, dated a year back so that no
// backfill window reaches them.
type maildir struct {
	dir      string
	uid, gid int
	n        int
}

func newMaildir(t *testing.T, dir string) *maildir {
	u, err := user.Lookup("mail")
	if err != nil {
		t.Fatalf("user mail: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	m := &maildir{dir: dir, uid: uid, gid: gid}
	for _, d := range []string{dir, filepath.Join(dir, "cur"), filepath.Join(dir, "new"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *maildir) fill(t *testing.T, total int) {
	t0 := time.Now()
	old := time.Now().AddDate(-1, 0, 0)
	for ; m.n < total; m.n++ {
		date := old.Add(time.Duration(m.n) * time.Second)
		raw := fmt.Sprintf("From: Someone %d <someone%d@example.org>\r\nTo: bigbox@example.test\r\nSubject: old request %d\r\n"+
			"Date: %s\r\nMessage-ID: <bigbox-%d@example.org>\r\n\r\nPlease help with item %d.\r\n",
			m.n%300, m.n%300, m.n, date.Format(time.RFC1123Z), m.n, m.n)
		name := filepath.Join(m.dir, "cur", fmt.Sprintf("%d.M%dP1.bigbox,S=%d:2,S", date.Unix(), m.n, len(raw)))
		if err := os.WriteFile(name, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(name, m.uid, m.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(name, date, date); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d maildir files in %v", total, time.Since(t0).Round(time.Millisecond))
}

// countingProxy forwards loopback TCP to the IMAP server and counts the
// bytes each way; it keeps what the client sent, to count commands.
type countingProxy struct {
	addr   string
	target string
	mu     sync.Mutex
	up     int64
	down   int64
	sent   []byte
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &countingProxy{addr: ln.Addr().String(), target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *countingProxy) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, up bool) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				if up {
					p.up += int64(n)
					p.sent = append(p.sent, buf[:n]...)
				} else {
					p.down += int64(n)
				}
				p.mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(s, c, true)
	go pipe(c, s, false)
	<-done
	<-done
}

func (p *countingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up, p.down, p.sent = 0, 0, nil
}

func (p *countingProxy) counts() (up, down int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up, p.down
}

func (p *countingProxy) snapshot() (up, down int64, sent []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up, p.down, bytes.Clone(p.sent)
}
