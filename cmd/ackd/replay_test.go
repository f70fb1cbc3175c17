package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// replayConfig is the config in force while the store fills; the first
// %s is the store: section, the second the vpn rule's subject words.
const replayConfig = `store: %s
smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it-help@example.test, password_file: pw}
    staff: [alice@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00", holidays: ["2026-12-08"]}
    categories:
      access: {commitment: 4h}
      network: {commitment: 1d}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {subject: [password]}
        category: access
      - name: vpn
        match: {subject: %s}
        category: network
`

var replaySubjects = []string{
	"password reset please", "vpn down again", "wifi flaky on floor 3", "printer jams",
	"new laptop", "password for the wifi", "wifi and vpn both gone", "monitor flickers",
	"cannot reach the wiki", "guest wifi code",
}

// replayProcessor is the daemon's own processor on the store of the
// config at cfgPath, its clock read from *clock; the caller closes the
// store before running replay.
func replayProcessor(t *testing.T, cfgPath string, clock *time.Time) (*mailwatch.Processor, store.Store) {
	t.Helper()
	cfg, set, err := rules.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt := &mailwatch.Runtime{Config: cfg, Rules: set, Templates: templates.Default()}
	proc := mailwatch.NewProcessor(st, func() *mailwatch.Runtime { return rt }, func() time.Time { return *clock },
		nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return proc, st
}

// fillReplayStore records n requests through the daemon's own processor
// with the config at cfgPath, spread over the past weeks before now, and
// returns the subject of each ref.
func fillReplayStore(t *testing.T, cfgPath string, now time.Time, n int) map[string]string {
	t.Helper()
	ctx := context.Background()
	var clock time.Time
	proc, st := replayProcessor(t, cfgPath, &clock)
	defer st.Close()
	subjects := map[string]string{}
	for i := range n {
		clock = now.Add(-time.Duration(n-i) * 97 * time.Minute)
		subject := fmt.Sprintf("%s #%d", replaySubjects[i%len(replaySubjects)], i)
		raw := fmt.Sprintf("From: Jane <jane%d@example.test>\r\nTo: it-help@example.test\r\nSubject: %s\r\n"+
			"Message-ID: <replay-%d@client.example.test>\r\nContent-Type: text/plain\r\n\r\nPlease help.\r\n", i%7, subject, i)
		o, err := proc.Process(ctx, "IT Help Desk", mailwatch.Fetched{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1),
			InternalDate: clock, Raw: []byte(raw), Size: int64(len(raw))})
		if err != nil {
			t.Fatal(err)
		}
		if o.Ref == "" {
			t.Fatalf("message %d (%s): no request recorded: %+v", i, subject, o)
		}
		subjects[o.Ref] = subject
	}
	return subjects
}

// TestReplayListsExactlyWhatTheRuleMoves is the proof: 300
// requests recorded under one config, the vpn rule widened to "wifi",
// and replay lists exactly the requests whose subject says wifi and that
// no earlier rule (password) or the old vpn words already caught, and
// nothing else; the summary counts them out of default into network.
func TestReplayListsExactlyWhatTheRuleMoves(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testReplay(t, fmt.Sprintf("{driver: sqlite, dsn: %s}", filepath.Join(t.TempDir(), "ackd.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, env := testPostgresTarget(t)
		testReplay(t, fmt.Sprintf("{driver: postgres, dsn: %q, password_env: %s}", dsn, env))
	})
}

func testReplay(t *testing.T, db string) {
	dir := t.TempDir()
	oldCfg, newCfg := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "new.yaml")
	if err := os.WriteFile(oldCfg, []byte(fmt.Sprintf(replayConfig, db, "[vpn]")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newCfg, []byte(fmt.Sprintf(replayConfig, db, "[vpn, wifi]")), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 18, 12, 0, 0, 0, time.UTC)
	const n = 300
	subjects := fillReplayStore(t, oldCfg, now, n)

	var want []string
	for ref, s := range subjects {
		if strings.Contains(s, "wifi") && !strings.Contains(s, "password") && !strings.Contains(s, "vpn") {
			want = append(want, ref)
		}
	}
	slices.Sort(want)

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"replay", "-c", newCfg, "--since", "60d", "--at", now.Format(time.RFC3339)}, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	text := out.String()
	var got []string
	line := regexp.MustCompile(`(?m)^  (REQ-\d+)  (.*)$`)
	for _, m := range line.FindAllStringSubmatch(text, -1) {
		got = append(got, m[1])
		if !strings.Contains(m[2], `category default → network; rule (default) → "vpn"; commitment 3d → 1d; due `) {
			t.Errorf("%s: changes = %q", m[1], m[2])
		}
		if strings.Contains(m[2], "approximate") {
			t.Errorf("%s decided from a rebuilt message: %q", m[1], m[2])
		}
	}
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("replay listed %d requests %v, want %d %v\n%s", len(got), got, len(want), want, text)
	}
	for _, s := range []string{
		fmt.Sprintf("%d of %d would change", len(want), n),
		fmt.Sprintf("category default          %d → %d (%d out, 0 in)", count(subjects, isDefault), count(subjects, isDefault)-len(want), len(want)),
		"commitment record (kept of judged)",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}

	// The old config against its own store changes nothing.
	out.Reset()
	if code := run(context.Background(), []string{"replay", "-c", oldCfg, "--since", "60d", "--at", now.Format(time.RFC3339)}, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("0 of %d would change", n)) || line.MatchString(out.String()) {
		t.Errorf("replay with the config in force:\n%s", out.String())
	}
}

func isDefault(s string) bool {
	return !strings.Contains(s, "password") && !strings.Contains(s, "vpn")
}

func count(m map[string]string, f func(string) bool) int {
	n := 0
	for _, v := range m {
		if f(v) {
			n++
		}
	}
	return n
}

// TestReplayIsReadOnly: replay leaves the store file byte for byte as it
// was, and refuses a store it would have to migrate.
func TestReplayIsReadOnly(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ackd.db")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(replayConfig, "{driver: sqlite, dsn: "+db+"}", "[vpn]")), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 18, 12, 0, 0, 0, time.UTC)
	fillReplayStore(t, cfg, now, 5)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"replay", "-c", cfg, "--at", now.Format(time.RFC3339)}, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	after, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("replay changed the store file")
	}
}

// TestReplayOlderRows: a request recorded before ackd kept the decide
// input is decided again from its stored subject, requester and text, and
// its line says it is approximate.
func TestReplayOlderRows(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ackd.db")
	cfg := filepath.Join(dir, "new.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(replayConfig, "{driver: sqlite, dsn: "+db+"}", "[vpn, wifi]")), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 18, 12, 0, 0, 0, time.UTC)
	st, err := store.Open(context.Background(), "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(-48 * time.Hour)
	loaded, _, err := rules.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	due := loaded.Departments[0].Calendar.Due(at, loaded.Departments[0].Categories["default"].Commitment)
	for _, subject := range []string{"wifi is down", "printer jams"} {
		_, err := st.RecordRequest(context.Background(), store.NewRequest{Dept: "it-help@example.test", MessageKey: subject,
			Requester: "jane@example.test", Subject: subject, Category: "default", ReceivedAt: at, DueAt: due,
			Text: "please help"}, func(ref string) ([]store.NewMail, error) {
			return []store.NewMail{{Kind: "receipt", MessageID: "<" + ref + "@ackd>", Recipients: []string{"jane@example.test"}, Raw: []byte("x")}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"replay", "-c", cfg, "--at", now.Format(time.RFC3339)}, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		`  REQ-1  wifi is down: category default → network; rule (default) → "vpn"; due `,
		"(approximate: recorded before ackd kept the full message)",
		"1 of 2 would change; 2 decided from their stored excerpt only (no headers)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("replay lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "REQ-2") {
		t.Errorf("the printer request is listed:\n%s", text)
	}
}

// TestReplayForwardedRequest: a request #forward moved to Facilities is
// decided again there as the move decided it (by Facilities' rules, not
// as mail addressed to Facilities, which it was not): replay with the
// config in force changes nothing, and a rule that now catches it moves
// it.
func TestReplayForwardedRequest(t *testing.T) {
	dir := t.TempDir()
	db := fmt.Sprintf("{driver: sqlite, dsn: %s}", filepath.Join(dir, "ackd.db"))
	facilities := `  - name: Facilities
    address: facilities@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: facilities@example.test, password_file: pw}
    staff: [carl@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00"}
    categories:
      default: {commitment: 3d}
      furniture: {commitment: 4h}
    rules:
      - {name: desks, match: {body: [%s]}, category: furniture}
`
	cfgPath, newPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "new.yaml")
	base := fmt.Sprintf(replayConfig, db, "[vpn]")
	if err := os.WriteFile(cfgPath, []byte(base+fmt.Sprintf(facilities, "wobbles")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, []byte(base+fmt.Sprintf(facilities, "sofa")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := now
	proc, st := replayProcessor(t, cfgPath, &clock)
	for i, raw := range []string{
		"From: Jane <jane@example.test>\r\nTo: it-help@example.test\r\nSubject: Office chair\r\nMessage-ID: <chair@client.example.test>\r\n\r\nMy chair wobbles.\r\n",
		"From: Alice <alice@example.test>\r\nTo: it-help@example.test\r\nSubject: Re: Office chair\r\nMessage-ID: <fwd@client.example.test>\r\n" +
			"In-Reply-To: <chair@client.example.test>\r\n\r\n#forward Facilities\r\n",
	} {
		clock = now.Add(time.Duration(i) * 10 * time.Minute)
		o, err := proc.Process(ctx, "IT Help Desk", mailwatch.Fetched{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1),
			InternalDate: clock, Raw: []byte(raw), Size: int64(len(raw))})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"receipt", "forwarded"}[i]; o.Action != want {
			t.Fatalf("message %d: %s (%s), want %s", i+1, o.Action, o.Decision.Reason, want)
		}
	}
	st.Close()
	replay := func(path string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(ctx, []string{"replay", "-c", path, "--since", "30d", "--at", now.Add(time.Hour).Format(time.RFC3339)}, &out, &errOut); code != 0 {
			t.Fatalf("replay exit %d: %s", code, errOut.String())
		}
		text := out.String()
		return text[strings.Index(text, "Facilities:"):]
	}
	if got := replay(cfgPath); !strings.Contains(got, "0 of 1 would change") {
		t.Errorf("replay of Facilities with the config in force:\n%s", got)
	}
	if got := replay(newPath); !strings.Contains(got, `category furniture → default; rule "desks" → (default); commitment 4h → 3d`) {
		t.Errorf("replay of Facilities with the desks rule on sofas only:\n%s", got)
	}
}

// TestReplaySkippedMessages: mail that got no receipt is replayed too: a
// sender the old config did not allow gets a receipt under a config that
// allows them, and is listed; a mailing list's mail stays skipped.
func TestReplaySkippedMessages(t *testing.T) {
	dir := t.TempDir()
	db := fmt.Sprintf("{driver: sqlite, dsn: %s}", filepath.Join(dir, "ackd.db"))
	oldCfg, newCfg := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "new.yaml")
	base := fmt.Sprintf(replayConfig, db, "[vpn]")
	if err := os.WriteFile(oldCfg, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	widened := strings.Replace(base, `allowed_senders: ["*@example.test"]`, `allowed_senders: ["*@example.test", "*@partner.test"]`, 1)
	if widened == base {
		t.Fatal("the test config was not changed")
	}
	if err := os.WriteFile(newCfg, []byte(widened), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	proc, st := replayProcessor(t, oldCfg, &now)
	for i, raw := range []string{
		"From: Pat <pat@partner.test>\r\nTo: it-help@example.test\r\nSubject: VPN for the audit\r\nMessage-ID: <pat@partner.test>\r\n\r\nWe need VPN access.\r\n",
		"From: News <news@example.test>\r\nTo: it-help@example.test\r\nSubject: Weekly news\r\nList-Id: <news.example.test>\r\nMessage-ID: <news@example.test>\r\n\r\nThis week.\r\n",
	} {
		o, err := proc.Process(ctx, "IT Help Desk", mailwatch.Fetched{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1),
			InternalDate: now.Add(time.Duration(i) * time.Minute), Raw: []byte(raw), Size: int64(len(raw))})
		if err != nil {
			t.Fatal(err)
		}
		if o.Action != "skipped" {
			t.Fatalf("message %d: %s (%s), want skipped", i+1, o.Action, o.Decision.Reason)
		}
	}
	// An input this ackd cannot read is counted, not silently dropped.
	if err := st.RecordSkipped(ctx, store.Skipped{Dept: "it-help@example.test", Mailbox: "INBOX", UID: 3, MessageKey: "garbled",
		Reason: "list", Refusal: "list", At: now.Add(2 * time.Minute), DecideInput: "{not json"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"replay", "-c", newCfg, "--since", "30d", "--at", now.Add(time.Hour).Format(time.RFC3339)}, &out, &errOut); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		`skipped Tue 1 Dec 11:00 from pat@partner.test  VPN for the audit: would get a receipt, category network, rule "vpn", due Wed 2 Dec 11:00`,
		"1 of 3 skipped messages would get a receipt (their text read up to 8 KiB); 1 not replayed: their stored input cannot be read",
		"category (no receipt)     2 → 1 (1 out, 0 in)", // the unreadable one is in neither
		"category network          0 → 1 (0 out, 1 in)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("replay output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "news@example.test") {
		t.Errorf("the list's mail is listed as getting a receipt:\n%s", text)
	}
}
