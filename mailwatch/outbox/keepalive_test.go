package outbox

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/ackd/ackd/internal/smtpsink"
)

// waitOpen waits until the sink has n connections open.
func waitOpen(t *testing.T, sink *smtpsink.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for sink.OpenConnections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d connections open, want %d", sink.OpenConnections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countCmd(trans, cmd string) int { return strings.Count(trans, "\r\n"+cmd+"\r\n") }

// TestSenderKeepAlive: a mail that trickles in within the keep-alive goes
// over the last batch's connection after a NOOP, with no new handshake;
// after the keep-alive, or with none, it takes a new connection.
func TestSenderKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		gap       time.Duration
		wantConns int
	}{
		{"within the keep-alive", 30 * time.Second, 10 * time.Second, 1},
		{"after the keep-alive", 30 * time.Second, 30 * time.Second, 2},
		{"no keep-alive", 0, time.Second, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.sender(f.config(), WithKeepAlive(tc.keepAlive))
			a := f.enqueue(t, 1, "")
			if sent, _, _ := drain(t, s); sent != 1 {
				t.Fatalf("first batch sent %d", sent)
			}
			f.clock.Advance(tc.gap)
			b := f.enqueue(t, 2, "")
			if sent, _, _ := drain(t, s); sent != 1 {
				t.Fatalf("second batch sent %d", sent)
			}
			msgs := f.sink.Messages()
			if len(msgs) != 2 || f.sink.Connections() != tc.wantConns || msgs[1].Conn != tc.wantConns {
				t.Fatalf("%d messages over %d connections, want 2 over %d", len(msgs), f.sink.Connections(), tc.wantConns)
			}
			wantNoop := 0
			if tc.wantConns == 1 {
				wantNoop = 1
			}
			if n := countCmd(f.trans.String(), "NOOP"); n != wantNoop {
				t.Errorf("NOOP sent %d times, want %d", n, wantNoop)
			}
			// A connection that idled too long, or is not kept at all,
			// was closed politely.
			wantQuit := tc.wantConns - 1
			if tc.keepAlive == 0 {
				wantQuit = tc.wantConns
			}
			if n := countCmd(f.trans.String(), "QUIT"); n != wantQuit {
				t.Errorf("QUIT sent %d times before CloseIdle, want %d", n, wantQuit)
			}
			s.CloseIdle()
			waitOpen(t, f.sink, 0)
			if n := countCmd(f.trans.String(), "QUIT"); n != tc.wantConns {
				t.Errorf("QUIT sent %d times, want %d", n, tc.wantConns)
			}
			for _, id := range []int64{a, b} {
				if r := f.q.get(id); r.State != "sent" || r.Attempts != 0 {
					t.Errorf("row %s", r)
				}
			}
		})
	}
}

// TestSenderKeepAliveServerClosed: the server drops the kept connection
// between batches (restart, its own idle timeout). The liveness check
// notices, the sender reconnects, and the mail goes out exactly once with
// no attempt counted against it.
func TestSenderKeepAliveServerClosed(t *testing.T) {
	for _, reply := range []string{"", "421 4.4.2 sink: idle too long"} {
		t.Run("reply "+reply, func(t *testing.T) { testKeptConnectionClosed(t, reply) })
	}
}

func testKeptConnectionClosed(t *testing.T, reply string) {
	f := newFixture(t)
	s := f.sender(f.config(), WithKeepAlive(time.Minute))
	defer s.CloseIdle()
	f.enqueue(t, 1, "")
	if sent, _, _ := drain(t, s); sent != 1 {
		t.Fatalf("first batch sent %d", sent)
	}
	f.sink.DropConnections(reply)
	waitOpen(t, f.sink, 0)
	id := f.enqueue(t, 2, "")
	if sent, failed, retried := drain(t, s); sent != 1 || failed+retried != 0 {
		t.Fatalf("sent, failed, retried = %d, %d, %d", sent, failed, retried)
	}
	msgs := f.sink.Messages()
	if len(msgs) != 2 || msgs[1].Conn != 2 {
		t.Fatalf("%d messages, the second over connection %d", len(msgs), msgs[len(msgs)-1].Conn)
	}
	if r := f.q.get(id); r.State != "sent" || r.Attempts != 0 || r.LastError != "" {
		t.Errorf("row %s", r)
	}
	if s.Fault() != nil {
		t.Errorf("Fault = %v after a successful reconnect", s.Fault())
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "kept SMTP connection no longer usable") || reply != "" && !strings.Contains(logs, "421") {
		t.Errorf("the liveness check did not notice the closed connection:\n%s", logs)
	}
}

// TestSenderKeepAliveAfterRefusal: refusals mid-batch are handled as
// without a keep-alive (4xx retried, 5xx failed, the rest of the batch
// sent) and the connection is kept; one left in an unfinished transaction
// is checked with RSET instead of NOOP, so the next batch starts clean.
func TestSenderKeepAliveAfterRefusal(t *testing.T) {
	for _, tc := range []struct {
		stage               smtpsink.Stage
		code                int
		wantFailed, wantRet int
		wantRSET, wantNOOP  int
	}{
		// The refused mail is the last of its batch, so the kept
		// connection is checked with RSET (as the next mail of the same
		// batch would have been), not NOOP.
		{smtpsink.StageMail, 451, 0, 1, 1, 0},
		{smtpsink.StageRcpt, 550, 1, 0, 1, 0},
		{smtpsink.StageData, 451, 0, 1, 1, 0},
		{smtpsink.StageData, 554, 1, 0, 1, 0},
	} {
		t.Run(string(tc.stage)+" "+string(rune('0'+tc.code/100)), func(t *testing.T) {
			f := newFixture(t)
			s := f.sender(f.config(), WithKeepAlive(time.Hour))
			defer s.CloseIdle()
			ok := f.enqueue(t, 1, "")
			if sent, _, _ := drain(t, s); sent != 1 {
				t.Fatal("first mail not sent")
			}
			f.sink.Inject(smtpsink.Fault{Stage: tc.stage, Code: tc.code, Text: "refused", Times: 1})
			bad := f.enqueue(t, 2, "")
			sent, failed, retried := drain(t, s)
			if sent != 0 || failed != tc.wantFailed || retried != tc.wantRet {
				t.Fatalf("sent, failed, retried = %d, %d, %d", sent, failed, retried)
			}
			f.clock.Advance(time.Minute) // past the retry's backoff
			later := f.enqueue(t, 3, "")
			wantSent := 1 + tc.wantRet
			if sent, _, _ := drain(t, s); sent != wantSent {
				t.Fatalf("third batch sent %d, want %d", sent, wantSent)
			}
			if n := f.sink.Connections(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
			tr := f.trans.String()
			if n := countCmd(tr, "RSET"); n != tc.wantRSET {
				t.Errorf("RSET sent %d times, want %d", n, tc.wantRSET)
			}
			if n := countCmd(tr, "NOOP"); n != tc.wantNOOP+1 {
				t.Errorf("NOOP sent %d times, want %d", n, tc.wantNOOP+1)
			}
			if r := f.q.get(ok); r.State != "sent" {
				t.Errorf("first row %s", r)
			}
			if r := f.q.get(later); r.State != "sent" {
				t.Errorf("later row %s", r)
			}
			want := "sent"
			if tc.wantFailed == 1 {
				want = "failed"
			}
			if r := f.q.get(bad); r.State != want {
				t.Errorf("refused row %s, want %s", r, want)
			}
		})
	}
}

// TestSenderRunKeepAlive: Run wakes up when the kept connection has idled
// for the keep-alive and closes it with QUIT (a timer, no goroutine), and
// closes the one it holds when it returns.
func TestSenderRunKeepAlive(t *testing.T) {
	f := newFixture(t)
	s := f.sender(f.config(), WithPollInterval(time.Hour), WithKeepAlive(20*time.Second))
	mt := installManualTimer(s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	if d := <-mt.waits; d != time.Hour {
		t.Fatalf("wait without a connection = %s, want the poll interval", d)
	}
	f.enqueue(t, 1, "")
	s.Kick()
	if d := <-mt.waits; d != 20*time.Second {
		t.Fatalf("wait with a kept connection = %s, want the keep-alive", d)
	}
	if f.sink.OpenConnections() != 1 || countCmd(f.trans.String(), "QUIT") != 0 {
		t.Fatalf("connection not kept: %d open", f.sink.OpenConnections())
	}
	f.clock.Advance(20 * time.Second)
	mt.fire <- f.clock.Now()
	if d := <-mt.waits; d != time.Hour {
		t.Fatalf("wait after the idle close = %s, want the poll interval", d)
	}
	waitOpen(t, f.sink, 0)
	if n := countCmd(f.trans.String(), "QUIT"); n != 1 {
		t.Fatalf("QUIT sent %d times on idle timeout, want 1", n)
	}

	f.enqueue(t, 2, "")
	s.Kick()
	if d := <-mt.waits; d != 20*time.Second {
		t.Fatalf("wait = %s", d)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	waitOpen(t, f.sink, 0)
	if n := countCmd(f.trans.String(), "QUIT"); n != 2 {
		t.Fatalf("QUIT sent %d times after shutdown, want 2", n)
	}
	if msgs := f.sink.Messages(); len(msgs) != 2 || msgs[1].Conn != 2 {
		t.Fatalf("messages %d", len(msgs))
	}
}

// countingSASL authenticates with PLAIN through the SASLAuth path and
// counts the credentials it hands out.
type countingSASL struct{ calls atomic.Int32 }

func (a *countingSASL) SMTPAuth(context.Context) (smtp.Auth, func() bool, error) {
	a.calls.Add(1)
	return smtp.PlainAuth("", "ackd", "token", "127.0.0.1", true), func() bool { return true }, nil
}

func (a *countingSASL) Mechanism() string { return "PLAIN" }

// TestSenderKeepAliveSASL: a kept connection stays authenticated, so no
// token is fetched for it; a new connection (the server dropped the old
// one, or it is a minute old, short of a token's least remaining life)
// authenticates with a new one.
func TestSenderKeepAliveSASL(t *testing.T) {
	f := newFixture(t, smtpsink.WithAuth("ackd", "token"))
	auth := &countingSASL{}
	cfg := f.config()
	cfg.Auth = auth
	s := f.sender(cfg, WithKeepAlive(time.Minute))
	defer s.CloseIdle()
	for i, step := range []struct {
		advance   time.Duration
		drop      bool
		wantCalls int32
		wantConn  int
	}{
		{0, false, 1, 1},
		{20 * time.Second, false, 1, 1},
		{0, true, 2, 2},
		{30 * time.Second, false, 2, 2},
		{29 * time.Second, false, 2, 2},
		{time.Second, false, 3, 3}, // connection 2 is a minute old
	} {
		f.clock.Advance(step.advance)
		if step.drop {
			f.sink.DropConnections("")
			waitOpen(t, f.sink, 0)
		}
		f.enqueue(t, i, "")
		if sent, _, _ := drain(t, s); sent != 1 {
			t.Fatalf("step %d sent %d: %s", i, sent, f.logs.String())
		}
		if n := auth.calls.Load(); n != step.wantCalls {
			t.Errorf("after step %d: %d credentials fetched, want %d", i, n, step.wantCalls)
		}
		msgs := f.sink.Messages()
		if m := msgs[len(msgs)-1]; m.Conn != step.wantConn || m.User != "ackd" {
			t.Errorf("step %d went over connection %d as %q, want %d as ackd", i, m.Conn, m.User, step.wantConn)
		}
	}
}

// TestSenderKeepAliveMaxLife: a connection kept busy never idles out, but
// is replaced once it is ten minutes old.
func TestSenderKeepAliveMaxLife(t *testing.T) {
	f := newFixture(t)
	s := f.sender(f.config(), WithKeepAlive(time.Minute))
	defer s.CloseIdle()
	for i := range 12 { // at 0, 55s, … 10m05s
		f.enqueue(t, i, "")
		if sent, _, _ := drain(t, s); sent != 1 {
			t.Fatalf("mail %d not sent", i)
		}
		f.clock.Advance(55 * time.Second)
	}
	msgs := f.sink.Messages()
	for i, m := range msgs {
		want := 1
		if i == 11 {
			want = 2
		}
		if m.Conn != want {
			t.Errorf("mail %d over connection %d, want %d", i, m.Conn, want)
		}
	}
}
