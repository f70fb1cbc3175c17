package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
)

// TestPushHandler: a push wakes only with the shared secret (bearer, or
// basic auth's password as Dovecot's ox driver sends it), by POST or PUT,
// and passes on the user and folder of the JSON body.
func TestPushHandler(t *testing.T) {
	const secret = "s3cret-push"
	basic := func(user, pw string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pw) }
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	for _, tc := range []struct {
		name     string
		method   string
		auth     func(*http.Request)
		body     string
		want     int
		wantWake *PushEvent
	}{
		{"bearer", "POST", bearer(secret), `{"user":"it-help@example.test","folder":"INBOX"}`, 204, &PushEvent{"it-help@example.test", "INBOX"}},
		{"ox: PUT, basic auth, more fields", "PUT", basic("ackd", secret),
			`{"user":"it-help@example.test","event":"messageNew","folder":"INBOX","imap-uidvalidity":1,"imap-uid":7,"from":"a@b","subject":"x","unseen":1}`,
			204, &PushEvent{"it-help@example.test", "INBOX"}},
		{"empty body wakes all", "POST", bearer(secret), "", 204, &PushEvent{}},
		{"no credentials", "POST", nil, `{"user":"u","folder":"INBOX"}`, 401, nil},
		{"wrong bearer", "POST", bearer("s3cret-pusH"), `{"user":"u","folder":"INBOX"}`, 401, nil},
		{"secret as the basic user, not the password", "POST", basic(secret, "x"), `{}`, 401, nil},
		{"a prefix of the secret", "POST", bearer("s3cret"), `{}`, 401, nil},
		{"empty bearer", "POST", bearer(""), `{}`, 401, nil},
		{"GET", "GET", bearer(secret), "", 405, nil},
		{"not JSON", "POST", bearer(secret), "user=u", 400, nil},
		{"too large", "POST", bearer(secret), `{"user":"` + strings.Repeat("x", maxPushBody) + `"}`, 413, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []PushEvent
			h := PushHandler(secret, func(ev PushEvent) int { got = append(got, ev); return 1 }, slog.New(slog.DiscardHandler))
			r := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			if tc.auth != nil {
				tc.auth(r)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			switch {
			case tc.wantWake == nil && len(got) > 0:
				t.Errorf("woke %v, want nothing", got)
			case tc.wantWake != nil && (len(got) != 1 || got[0] != *tc.wantWake):
				t.Errorf("woke %v, want %v", got, *tc.wantWake)
			}
			if tc.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestDaemonWakeMatches: a push wakes the watchers of the user it names
// (in any case) that watch its folder, or a Sent mailbox found by
// SPECIAL-USE; an empty push wakes all.
func TestDaemonWakeMatches(t *testing.T) {
	nop := func(context.Context, Fetched) error { return nil }
	mk := func(user, mailbox string, discover bool) *Watcher {
		return NewWatcher(MailboxConfig{Username: user, Mailbox: mailbox, DiscoverSent: discover}, &memCheckpoints{}, nop, slog.New(slog.DiscardHandler))
	}
	d := &Daemon{watched: map[string]*Watcher{
		"it":        mk("it-help@example.test", "INBOX", false),
		"it/sent":   mk("it-help@example.test", "Sent", false),
		"hr":        mk("hr@example.test", "", false), // INBOX by default
		"hr/sent":   mk("hr@example.test", "", true),
		"payroll":   mk("payroll@example.test", "Requests", false),
		"unrelated": mk("other@example.test", "INBOX", false),
	}}
	for _, tc := range []struct {
		ev   PushEvent
		want []string
	}{
		{PushEvent{"IT-Help@example.test", "INBOX"}, []string{"it"}},
		{PushEvent{"it-help@example.test", "inbox"}, []string{"it"}},
		{PushEvent{"it-help@example.test", "Sent"}, []string{"it/sent"}},
		{PushEvent{"hr@example.test", "INBOX"}, []string{"hr", "hr/sent"}},
		{PushEvent{"payroll@example.test", "INBOX"}, nil},
		{PushEvent{"payroll@example.test", "Requests"}, []string{"payroll"}},
		{PushEvent{"nobody@example.test", "INBOX"}, nil},
		{PushEvent{}, []string{"hr", "hr/sent", "it", "it/sent", "payroll", "unrelated"}},
	} {
		for _, w := range d.watched { // drain earlier kicks
			select {
			case <-w.kick:
			default:
			}
		}
		n := d.Wake(tc.ev)
		var woke []string
		for _, name := range []string{"hr", "hr/sent", "it", "it/sent", "payroll", "unrelated"} {
			select {
			case <-d.watched[name].kick:
				woke = append(woke, name)
			default:
			}
		}
		if strings.Join(woke, ",") != strings.Join(tc.want, ",") || n != len(tc.want) {
			t.Errorf("Wake(%+v) woke %v (n=%d), want %v", tc.ev, woke, n, tc.want)
		}
	}
}

// TestWatcherKick: a watcher whose IDLE hears nothing and that polls
// once an hour picks up new mail at once when kicked (a push); without
// the kick the mail would wait for the hour.
func TestWatcherKick(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts imapmem.Options
		idle bool
	}{
		// IDLE on a server that announces nothing during IDLE (as
		// Dovecot announces late): only the kick brings the mail in.
		// (Polling against the in-memory server cannot show it: that
		// server reports new mail unasked; the end-to-end test on
		// Dovecot covers polling.)
		{"idle, silent server", imapmem.Options{NoPush: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.opts)
			appendN(t, srv, 1, 1)
			h := startWatcher(t, srv, &memCheckpoints{}, MailboxConfig{Backfill: time.Hour, IDLE: tc.idle, PollInterval: time.Hour}, nil)
			h.expect(t, "request 1")          // the first catch-up is done
			time.Sleep(50 * time.Millisecond) // and the watcher waits
			appendN(t, srv, 2, 2)
			h.expectNothing(t, 100*time.Millisecond)
			start := time.Now()
			h.watcher.Kick()
			h.expect(t, "request 2")
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("kicked watcher took %s", d)
			}
			// Kicks never block, even many while the watcher is busy.
			for range 100 {
				h.watcher.Kick()
			}
			appendN(t, srv, 3, 3)
			h.watcher.Kick()
			h.expect(t, "request 3")
		})
	}
}

// TestServePush: the listener serves the handler and stops with ctx.
func TestServePush(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []PushEvent
	h := PushHandler("tok", func(ev PushEvent) int { mu.Lock(); got = append(got, ev); mu.Unlock(); return 0 }, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ServePush(ctx, ln, h) }()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", strings.NewReader(`{"user":"u","folder":"INBOX"}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Expect", "100-continue") // as Dovecot's HTTP client sends it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServePush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != (PushEvent{"u", "INBOX"}) {
		t.Errorf("woke %v", got)
	}
}
