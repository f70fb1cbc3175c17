package mailwatch

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ackd/ackd/internal/imapmem"
)

// logLines hands every log line to a channel, so a test can wait for one.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

func (l logLines) waitFor(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-l:
			if strings.Contains(line, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line containing %q", substr)
		}
	}
}

func TestWatcherDiscoversSentBySpecialUse(t *testing.T) {
	const gmailSent = "[Gmail]/Sent Mail"
	for _, tc := range []struct {
		name string
		opts imapmem.Options
	}{
		// IMAP4rev2: LIST … RETURN (SPECIAL-USE).
		{"list-extended", imapmem.Options{}},
		// IMAP4rev1 only, as Gmail: attributes on a plain LIST.
		{"plain-list", imapmem.Options{NoIdle: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.SpecialUse = map[string][]imap.MailboxAttr{gmailSent: {imap.MailboxAttrSent}, "Drafts": {imap.MailboxAttrDrafts}}
			srv, err := imapmem.Start(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			// "Sent" exists but is not marked: the attribute decides, not the name.
			if err := srv.AddUser("dept", "pw", "Drafts", "Sent", gmailSent); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Append("dept", "Sent", rawMail(1), time.Time{}); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Append("dept", gmailSent, rawMail(2), time.Time{}); err != nil {
				t.Fatal(err)
			}
			cp := &memCheckpoints{}
			h := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, DiscoverSent: true, IDLE: true, PollInterval: time.Hour}, nil)
			select {
			case f := <-h.got:
				if f.Mailbox != gmailSent || !strings.Contains(string(f.Raw), "Subject: request 2\r\n") {
					t.Fatalf("got uid %d from %q: %q; want request 2 from %q", f.UID, f.Mailbox, f.Raw, gmailSent)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("timed out waiting for the Sent message")
			}
			if _, err := srv.Append("dept", gmailSent, rawMail(3), time.Time{}); err != nil {
				t.Fatal(err)
			}
			h.expect(t, "request 3")
			h.cancel()
			<-h.done
			h.done <- nil // for the harness cleanup
			if _, last, _ := cp.Load(context.Background(), gmailSent); last != 2 {
				t.Errorf("checkpoint of %q = uid %d, want 2", gmailSent, last)
			}
		})
	}
}

func TestWatcherWithoutSentMailboxIdles(t *testing.T) {
	srv := newServer(t, imapmem.Options{SpecialUse: map[string][]imap.MailboxAttr{"Drafts": {imap.MailboxAttrDrafts}}})
	lines := make(logLines, 100)
	cfg := MailboxConfig{Addr: srv.Addr(), TLS: "none", Username: "dept", Password: "pw", DiscoverSent: true, IDLE: true}
	w := NewWatcher(cfg, &memCheckpoints{}, func(context.Context, Fetched) error {
		t.Error("handler called without a \\Sent mailbox")
		return nil
	}, slog.New(slog.NewTextHandler(lines, nil)))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.session(ctx) }()
	lines.waitFor(t, "no mailbox is marked")
	if ok, err := w.Connected(); ok || !errors.Is(err, ErrNoSentMailbox) {
		t.Errorf("Connected() = %v, %v; want false, ErrNoSentMailbox", ok, err)
	}
	cancel()
	// A session that gave up on its own (and so would be retried, over and
	// over) returns its own error; an idle one only the cancellation.
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("session returned %v, want it to wait for cancellation", err)
	}
}
