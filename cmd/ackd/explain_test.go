package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

const explainConfig = `store: {driver: sqlite, dsn: %s}
smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it-help@example.test, password_file: pw}
    staff: [alice@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00", holidays: ["2026-12-07"]}
    categories:
      access: {commitment: 4h, escalate: [{at: 50%%, to: staff}, {at: 90%%, to: leads}]}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {any: [{subject: [password, locked out]}, {body: "/reset (link|code)/"}]}
        category: access
`

// TestExplain: a request that arrived on a Friday afternoon before a
// holiday Monday; explain shows the rule and the words that matched, the
// hours counted and the days skipped (weekend, holiday), the ladder with
// the first step fired and the second planned, and the history.
func TestExplain(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ackd.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(explainConfig, db)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, set, err := rules.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := time.Date(2026, 12, 4, 16, 0, 0, 0, berlin)
	rt := &mailwatch.Runtime{Config: cfg, Rules: set, Templates: templates.Default()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return clock }
	sched := mailwatch.NewScheduler(st, func() *mailwatch.Runtime { return rt }, now, nil, log)
	proc := mailwatch.NewProcessor(st, func() *mailwatch.Runtime { return rt }, now, nil, sched.Kick, log)
	raw := "From: Jane <jane@example.test>\r\nTo: it-help@example.test\r\nSubject: Locked out of my account\r\n" +
		"Message-ID: <x1@client.example.test>\r\nContent-Type: text/plain\r\n\r\nThe reset link does not work.\r\n"
	o, err := proc.Process(ctx, "IT Help Desk", mailwatch.Fetched{Mailbox: "INBOX", UIDValidity: 1, UID: 1, InternalDate: clock, Raw: []byte(raw), Size: int64(len(raw))})
	if err != nil || o.Ref != "REQ-1" {
		t.Fatalf("process: %+v, %v", o, err)
	}
	clock = time.Date(2026, 12, 8, 10, 5, 0, 0, berlin)
	if _, fired, err := sched.RunOnce(ctx); err != nil || fired == 0 {
		t.Fatalf("scheduler: fired %d, %v", fired, err)
	}
	st.Close()

	var out, errOut bytes.Buffer
	at := time.Date(2026, 12, 8, 10, 30, 0, 0, berlin).Format(time.RFC3339)
	if code := run(ctx, []string{"explain", "-c", cfgPath, "--at", at, "req-1"}, &out, &errOut); code != 0 {
		t.Fatalf("explain exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		`REQ-1  IT Help Desk  "Locked out of my account" from jane@example.test`,
		"state acknowledged, escalation level 1",
		`rule "password" → category access`,
		`matched subject: "locked out"`,
		`matched body: /reset (link|code)/ found "reset link"`,
		"commitment 4h (category access) from the arrival, Fri 4 Dec 2026 16:00 CET",
		"counted Fri 4 Dec 16:00–17:00 (1h)",
		"skipped Sat 5 Dec: not a workday",
		"skipped Sun 6 Dec: not a workday",
		"skipped Mon 7 Dec: holiday",
		"counted Tue 8 Dec 09:00–12:00 (3h)",
		"→ due Tue 8 Dec 2026 12:00 CET",
		"1. at 50% to staff: Tue 8 Dec 2026 10:00 CET — fired Tue 8 Dec 2026 10:05 CET",
		"2. at 90% to leads: Tue 8 Dec 2026 11:36 CET — planned",
		"received       jane@example.test",
		"escalated",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explain lacks %q", want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log(text)
	}

	if code := run(ctx, []string{"explain", "-c", cfgPath, "REQ-99"}, &out, &errOut); code != 1 {
		t.Errorf("unknown ref: exit %d, want 1", code)
	}
}
