package mailwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// TestDepartmentsAreIsolated runs four departments in one daemon: one
// whose IMAP login is refused, one whose server accepts the connection and
// then says nothing (a hung server), one that receives a message its
// pipeline cannot parse, and a healthy one. The healthy department's
// requests are acknowledged while the others are broken, and the poison
// message is recorded as skipped without holding up the mail behind it.
func TestDepartmentsAreIsolated(t *testing.T) {
	srv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, u := range []string{"refused@example.test", "poison@example.test", "healthy@example.test"} {
		if err := srv.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	// A server that accepts and never greets: the session hangs in dial.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	sink, err := smtpsink.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	hhost, hport, _ := net.SplitHostPort(hung.Addr().String())
	dept := func(name, addr, h, p, pw string) string {
		return fmt.Sprintf(`  - name: %s
    address: %s
    imap: {host: %s, port: %s, tls: none, username: %q, password_file: %s, idle: true, poll_interval: 1s}
    staff: [staff@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories: {default: {commitment: 3d}}
    rules: [{name: never, match: {subject: [zzzzzz]}, category: default}]
`, name, addr, h, p, addr, pw)
	}
	yaml := fmt.Sprintf("backfill: 1h\nstore: {driver: sqlite, dsn: %s}\nsmtp: {host: %s, port: %d, tls: none}\nhttp: {listen: \"\"}\ndepartments:\n",
		filepath.Join(dir, "ackd.db"), sink.Host(), sink.Port()) +
		dept("Refused", "refused@example.test", host, port, bad) +
		dept("Hung", "hung@example.test", hhost, hport, good) +
		dept("Poison", "poison@example.test", host, port, good) +
		dept("Healthy", "healthy@example.test", host, port, good)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := NewDaemon(cfg, templates.Default(), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop within 15s with a hung server among its mailboxes")
		}
	}()

	// Poison first, then ordinary mail behind it in the same mailbox.
	if _, err := srv.Append("poison@example.test", "INBOX", []byte("\x00\x01\x02 this is not mail at all"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	req := func(from, to, subject string) []byte {
		return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" +
			strings.ReplaceAll(subject, " ", "-") + "@client.example.test>\r\n\r\nPlease help.\r\n")
	}
	if _, err := srv.Append("poison@example.test", "INBOX", req("ann@example.test", "poison@example.test", "behind the poison"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		subject := fmt.Sprintf("healthy request %d", i)
		if _, err := srv.Append("healthy@example.test", "INBOX", req("bob@example.test", "healthy@example.test", subject), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	got, err := sink.WaitFor(wctx, 4)
	if err != nil {
		t.Fatalf("receipts while other departments are broken: %v (got %d)", err, len(sink.Messages()))
	}
	to := map[string]int{}
	for _, r := range got {
		to[strings.Join(r.To, ",")]++
	}
	if to["bob@example.test"] != 3 || to["ann@example.test"] != 1 {
		t.Errorf("receipts by recipient %v, want bob 3 (healthy) and ann 1 (behind the poison)", to)
	}
	skipped, err := st.RecentSkipped(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	poisoned := false
	for _, s := range skipped {
		if s.Dept == "poison@example.test" && s.Refusal == "malformed" {
			poisoned = true
		}
	}
	if !poisoned {
		t.Errorf("the poison message was not recorded as skipped (malformed): %+v", skipped)
	}
	// The broken departments really are broken, not silently healthy.
	for _, mb := range d.Mailboxes() {
		if (mb.Name == "Refused" || mb.Name == "Hung") && mb.Connected {
			t.Errorf("mailbox %s reports connected", mb.Name)
		}
	}
}
