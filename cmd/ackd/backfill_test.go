package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ackd/ackd/internal/imapmem"
)

// TestBackfillDryRun lists the window of a department's INBOX with what a
// first start would do, and touches nothing: no store file, no \Seen flag,
// no mail (the SMTP server in the config does not exist).
func TestBackfillDryRun(t *testing.T) {
	srv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddUser(deptAddr, imapPass); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	msg := func(from, subject, extra string, age time.Duration) {
		raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%d@client.example.test>\r\n%s\r\nPlease help.\r\n",
			from, deptAddr, subject, now.Add(-age).UnixNano(), extra)
		if _, err := srv.Append(deptAddr, "INBOX", []byte(raw), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	msg("Jane <jane@example.test>", "Locked out since Monday", "", 3*24*time.Hour)                // before the window
	msg("Max <max@example.test>", "Printer on 3rd floor", "", 30*time.Hour)                       // answered
	msg("Li <li@example.test>", "Out of office", "Auto-Submitted: auto-replied\r\n", 2*time.Hour) // a robot
	msg("Jane <jane@example.test>", "Forgot my password", "", time.Hour)                          // answered, rule password-reset
	msg("Mallory <mallory@elsewhere.test>", "Wire money", "", time.Hour)                          // not allowed

	dir := t.TempDir()
	pw := filepath.Join(dir, "imap.pw")
	if err := os.WriteFile(pw, []byte(imapPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(srv.Addr(), ":")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`store: {driver: sqlite, dsn: ackd.db}
smtp: {host: 127.0.0.1, port: 1, tls: none}
backfill: 2d
departments:
  - name: IT Help Desk
    address: %s
    imap: {host: %s, port: %s, tls: none, username: %s, password_file: %s}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      access: {commitment: 4h}
      default: {commitment: 3d}
    rules:
      - {name: password-reset, match: {subject: [password, locked out]}, category: access}
`, deptAddr, host, port, deptAddr, pw)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"backfill", "-c", cfgPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"== IT Help Desk <" + deptAddr + ">: INBOX since",
		"(2d)",
		"4 message(s), 2 would get a receipt on a first start. Nothing was written or sent.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	lines := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		for _, s := range []string{"Locked out", "Printer", "Out of office", "Forgot my password", "Wire money"} {
			if strings.Contains(line, s) {
				lines[s] = line
			}
		}
	}
	if l, ok := lines["Locked out"]; ok {
		t.Errorf("a message before the window is listed: %s", l)
	}
	for s, want := range map[string][]string{
		"Printer":            {" yes ", " default "},
		"Forgot my password": {" yes ", " password-reset ", " access "},
		"Out of office":      {" no ", "auto-submitted"},
		"Wire money":         {" no ", "sender-not-allowed"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[s], w) {
				t.Errorf("line for %q lacks %q: %q", s, w, lines[s])
			}
		}
	}

	// --since widens the window; --dept takes the address too.
	stdout.Reset()
	if code := run(context.Background(), []string{"backfill", "-c", cfgPath, "--since", "4d", "--dept", deptAddr}, &stdout, &stderr); code != 0 {
		t.Fatalf("--since 4d: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "5 message(s), 3 would get a receipt") {
		t.Errorf("--since 4d:\n%s", stdout.String())
	}

	if _, err := os.Stat(filepath.Join(dir, "ackd.db")); !os.IsNotExist(err) {
		t.Errorf("backfill created the store: %v", err)
	}
	c, err := srv.Login(deptAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for _, f := range m.Flags {
			if f == imap.FlagSeen {
				t.Errorf("message %d marked \\Seen by a dry run", m.SeqNum)
			}
		}
	}
}
