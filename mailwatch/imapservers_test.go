package mailwatch

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/rules"
)

// Tests for how the watcher behaves on IMAP servers other than Dovecot
// (issue 14): imapmem plays Cyrus (LOGINDISABLED, silent IDLE) and mox
// (BYE on shutdown).

// lines returns the lines of s that contain all of want.
func lines(s *syncBuffer, want ...string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		ok := l != ""
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// startLogged starts a watcher on srv like startWatcher, logging into the
// returned buffer; tune, when set, adjusts the watcher before it runs.
func startLogged(t *testing.T, srv *imapmem.Server, cfg MailboxConfig, tune func(*Watcher)) (*watchHarness, *syncBuffer) {
	t.Helper()
	h := &watchHarness{srv: srv, cp: &memCheckpoints{}, got: make(chan Fetched, 100), done: make(chan error, 1)}
	handle := func(_ context.Context, f Fetched) error { h.got <- f; return nil }
	cfg.Addr, cfg.Username, cfg.Password = srv.Addr(), "dept", "pw"
	if cfg.TLS == "" {
		cfg.TLS = "none"
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.watcher = NewWatcher(cfg, h.cp, handle, log)
	short := Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	h.watcher.SetBackoff(short, short)
	if tune != nil {
		tune(h.watcher)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.watcher.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Errorf("watcher did not stop within 10s of cancellation")
		}
	})
	return h, logs
}

func connected(w *Watcher) func() bool {
	return func() bool { ok, _ := w.Connected(); return ok }
}

// TestWatcherLoginDisabled: a server that advertises LOGINDISABLED (Cyrus
// with allowplaintext: no) gets no password, and the error says to use
// TLS, instead of "check the username and password" every few seconds.
func TestWatcherLoginDisabled(t *testing.T) {
	serverTLS, pool, err := smtpsink.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("plain", func(t *testing.T) {
		// Nothing but the watcher talks to this server.
		trace := &syncBuffer{}
		srv := newServer(t, imapmem.Options{StartTLS: serverTLS, Debug: trace})
		h, logs := startLogged(t, srv, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, func(w *Watcher) {
			// Retried on the auth backoff, not the connection's.
			w.SetBackoff(Backoff{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond}, Backoff{Min: time.Hour, Max: time.Hour})
		})
		eventually(t, 10*time.Second, "the refusal", func() bool { return len(lines(logs, "level=ERROR")) > 0 })
		time.Sleep(300 * time.Millisecond)
		_, lastErr := h.watcher.Connected()
		if !errors.Is(lastErr, ErrLoginDisabled) || errors.Is(lastErr, ErrAuth) {
			t.Fatalf("error = %v, want ErrLoginDisabled", lastErr)
		}
		for _, want := range []string{"tls: starttls", "no password was sent"} {
			if !strings.Contains(lastErr.Error(), want) {
				t.Errorf("error %q does not say %q", lastErr, want)
			}
		}
		if n := len(lines(logs, "level=ERROR")); n != 1 {
			t.Errorf("%d errors logged in 300ms, want 1 (auth backoff):\n%s", n, logs)
		}
		if strings.Contains(logs.String(), "check the username and password") {
			t.Errorf("blamed the password:\n%s", logs)
		}
		if strings.Contains(strings.ToUpper(trace.String()), " LOGIN ") {
			t.Errorf("a LOGIN was sent to a server with LOGINDISABLED:\n%s", trace)
		}
		h.expectNothing(t, 50*time.Millisecond)
	})
	t.Run("starttls", func(t *testing.T) {
		srv := newServer(t, imapmem.Options{StartTLS: serverTLS})
		appendN(t, srv, 1, 1)
		h, _ := startLogged(t, srv, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, TLS: "starttls",
			TLSConfig: &tls.Config{RootCAs: pool}}, nil)
		h.expect(t, "request 1")
		appendN(t, srv, 2, 2)
		h.expect(t, "request 2")
	})
}

func TestLoginDisabledSaysWhatServerWants(t *testing.T) {
	caps := func(cs ...imap.Cap) imap.CapSet {
		set := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapLoginDisabled: {}}
		for _, c := range cs {
			set[c] = struct{}{}
		}
		return set
	}
	for _, tc := range []struct {
		name   string
		mode   string
		caps   imap.CapSet
		want   []string
		absent []string
	}{
		{"cyrus plain port", "none", caps(imap.CapStartTLS, "AUTH=SCRAM-SHA-256", "AUTH=GSSAPI"),
			[]string{"tls: starttls", "AUTHENTICATE with GSSAPI, SCRAM-SHA-256", "no password was sent"}, []string{"oauth2"}},
		{"no starttls", "none", caps(), []string{"tls: implicit"}, []string{"starttls", "AUTHENTICATE"}},
		{"oauth only over tls", "implicit", caps("AUTH=XOAUTH2", "AUTH=OAUTHBEARER"),
			[]string{"AUTHENTICATE with OAUTHBEARER, XOAUTH2", "imap.oauth2"}, []string{"tls:"}},
		{"nothing offered", "starttls", caps(), []string{"allow LOGIN on the server"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := loginDisabled(tc.mode, tc.caps)
			if !errors.Is(err, ErrLoginDisabled) {
				t.Fatalf("%v is not ErrLoginDisabled", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			for _, w := range tc.absent {
				if strings.Contains(err.Error(), w) {
					t.Errorf("%q has %q", err, w)
				}
			}
		})
	}
}

// TestWatcherLogsServerBye: when the server ends the session with BYE
// (mox: "* BYE mox shutting down"), the log says so, at info for a
// shutdown and warn otherwise, not "unexpected EOF"; the watcher then
// reconnects. Over STARTTLS too, where the BYE arrives encrypted.
func TestWatcherLogsServerBye(t *testing.T) {
	serverTLS, pool, err := smtpsink.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, bye, level string
		tls              bool
	}{
		{"shutdown", "mox shutting down", "INFO", false},
		{"shutdown over starttls", "Server shutting down.", "INFO", true},
		{"inactivity", "Autologout; idle for too long", "WARN", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := imapmem.Options{}
			cfg := MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}
			if tc.tls {
				opts.StartTLS = serverTLS
				cfg.TLS, cfg.TLSConfig = "starttls", &tls.Config{RootCAs: pool}
			}
			srv := newServer(t, opts)
			h, logs := startLogged(t, srv, cfg, nil)
			eventually(t, 10*time.Second, "the session", connected(h.watcher))
			time.Sleep(50 * time.Millisecond) // into IDLE
			srv.Bye(tc.bye)
			eventually(t, 10*time.Second, "the BYE in the log", func() bool { return len(lines(logs, "closed the session")) > 0 })
			line := lines(logs, "closed the session")[0]
			if !strings.Contains(line, "level="+tc.level) || !strings.Contains(line, tc.bye) {
				t.Errorf("logged %q, want level %s with %q", line, tc.level, tc.bye)
			}
			for _, bad := range []string{"use of closed network connection", "unexpected EOF"} {
				if strings.Contains(logs.String(), bad) {
					t.Errorf("log shows %q:\n%s", bad, logs)
				}
			}
			// And it is back.
			appendN(t, srv, 1, 1)
			h.expect(t, "request 1")
		})
	}
}

// TestServerConnBye: BYE is read from response lines only, never from a
// message body, however the stream is cut into reads.
func TestServerConnBye(t *testing.T) {
	body := "Subject: hi\r\n\r\n* BYE not a response {12}\r\n"
	stream := "* OK ready\r\n" +
		"* 1 FETCH (UID 1 BODY[] {" + strconv.Itoa(len(body)) + "}\r\n" + body + ")\r\n" +
		"T1 OK done\r\n"
	for _, chunk := range []int{1, 3, 7, 1 << 10} {
		c := &serverConn{}
		for s := stream; s != ""; {
			n := min(chunk, len(s))
			c.scan([]byte(s[:n]))
			s = s[n:]
		}
		if text, ok := c.Bye(); ok {
			t.Fatalf("chunk %d: BYE %q found in a message body", chunk, text)
		}
		c.scan([]byte("* BYE [UNAVAILABLE] mox shutting down\r\n"))
		if text, _ := c.Bye(); text != "[UNAVAILABLE] mox shutting down" {
			t.Errorf("chunk %d: BYE text %q", chunk, text)
		}
	}
}

// TestWatcherLogsOutAtShutdown: stopping ackd ends the IDLE and sends
// LOGOUT before closing, so the server logs a logout, not an I/O error.
func TestWatcherLogsOutAtShutdown(t *testing.T) {
	trace := &syncBuffer{}
	srv := newServer(t, imapmem.Options{Debug: trace})
	h, _ := startLogged(t, srv, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	eventually(t, 10*time.Second, "IDLE", func() bool { return strings.Contains(trace.String(), "IDLE\r\n") })
	start := time.Now()
	h.cancel()
	select {
	case <-h.done:
		h.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("watcher did not stop")
	}
	if took := time.Since(start); took > logoutGrace {
		t.Errorf("stopping took %v, more than logoutGrace", took)
	}
	tr := trace.String()
	if !strings.Contains(tr, "DONE\r\n") || !strings.Contains(tr, " LOGOUT\r\n") {
		t.Errorf("no DONE and LOGOUT before closing:\n%s", tr)
	}
}

// TestWatcherReissuesIdle: one IDLE lasts at most idleMax (25 minutes,
// RFC 9051's 29 with a margin), whatever poll_interval says.
func TestWatcherReissuesIdle(t *testing.T) {
	if maxIdle > 25*time.Minute {
		t.Errorf("maxIdle = %v, want at most 25m", maxIdle)
	}
	w := NewWatcher(MailboxConfig{PollInterval: 2 * time.Hour}, nil, nil, slog.Default())
	if w.idleMax != maxIdle {
		t.Errorf("idleMax = %v, want %v", w.idleMax, maxIdle)
	}
	trace := &syncBuffer{}
	srv := newServer(t, imapmem.Options{Debug: trace})
	h, _ := startLogged(t, srv, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, func(w *Watcher) {
		w.idleMax = 50 * time.Millisecond
	})
	eventually(t, 10*time.Second, "IDLE re-issued", func() bool { return strings.Count(trace.String(), " IDLE\r\n") >= 4 })
	appendN(t, srv, 1, 1)
	h.expect(t, "request 1")
}

// TestWatcherWarnsWhenServerNeverPushes: Cyrus without idled accepts IDLE
// and then says nothing; mail comes in only when IDLE runs out. ackd
// warns once, naming idled; a server that pushes gets no warning.
func TestWatcherWarnsWhenServerNeverPushes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noPush bool
	}{{"silent idle", true}, {"pushing idle", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, imapmem.Options{NoPush: tc.noPush})
			h, logs := startLogged(t, srv, MailboxConfig{IDLE: true, PollInterval: 300 * time.Millisecond}, nil)
			eventually(t, 10*time.Second, "the session", connected(h.watcher))
			for i := 1; i <= 4; i++ {
				time.Sleep(60 * time.Millisecond) // into IDLE
				appendN(t, srv, i, i)
				h.expect(t, "request "+strconv.Itoa(i))
			}
			warned := lines(logs, "level=WARN", "idled")
			if tc.noPush && len(warned) != 1 {
				t.Errorf("%d warnings about a silent IDLE, want 1:\n%s", len(warned), logs)
			}
			if !tc.noPush && len(warned) != 0 {
				t.Errorf("warned about a server that pushes:\n%s", logs)
			}
		})
	}
}

// TestWatcherEightBitSubjectRewritten: Cyrus writes "X" for each raw
// 8-bit header byte, so the header-less auto-reply "Réponse automatique"
// arrives as "RXXponse automatique"; it is still refused, and a request
// with an accented subject still gets its receipt.
func TestWatcherEightBitSubjectRewritten(t *testing.T) {
	srv := newServer(t, imapmem.Options{Munge8Bit: true})
	h, _ := startLogged(t, srv, MailboxConfig{IDLE: true, PollInterval: time.Hour}, nil)
	eventually(t, 10*time.Second, "the session", connected(h.watcher))
	dept := &config.Department{
		Name: "IT Help Desk", Address: "it-help@example.test", AllowedSenders: []string{"*"},
		Calendar:   &calendar.Calendar{},
		Categories: map[string]*config.Category{"default": {Name: "default", Commitment: calendar.Commitment{Days: 3}}},
	}
	for _, tc := range []struct {
		subject, arrives string
		reply            bool
	}{
		{"Réponse automatique : Absent du bureau", "RXXponse automatique : Absent du bureau", false},
		{"Problème d'imprimante au 2e étage", "ProblXXme d'imprimante au 2e XXtage", true},
	} {
		raw := "From: Marie <marie@example.test>\r\nTo: it-help@example.test\r\nSubject: " + tc.subject +
			"\r\nMessage-ID: <" + strconv.Itoa(len(tc.subject)) + "@example.test>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\n\r\nMerci.\r\n"
		if _, err := srv.Append("dept", "INBOX", []byte(raw), time.Time{}); err != nil {
			t.Fatal(err)
		}
		var f Fetched
		select {
		case f = <-h.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no message")
		}
		m, err := parse.Parse(f.Raw, parse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != tc.arrives {
			t.Errorf("subject arrived as %q, want %q", m.Subject, tc.arrives)
		}
		if d := new(rules.Set).Decide(dept, m, time.Now()); d.Reply != tc.reply {
			t.Errorf("%q: reply %v (%s %s), want %v", m.Subject, d.Reply, d.Refusal, d.Reason, tc.reply)
		}
	}
}
