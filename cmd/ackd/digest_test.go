package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

const testConfig = `store: {driver: sqlite, dsn: ackd.db}
smtp:  {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, port: 1430, tls: none, username: it, password_env: ACKD_TEST_NONE}
    staff: [alice@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, workdays: [mon, tue, wed, thu, fri], hours: "09:00-17:00"}
    digest: {to: [alice@example.test], at: "08:30"}
    categories:
      access:  {commitment: 4h}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {subject: ["password", "locked out"]}
        category: access
`

// seeded writes the config and a store with two access requests: one
// answered after 1h (kept), one unanswered past due (missed).
func seeded(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	none := func(string) ([]store.NewMail, error) { return nil, nil }
	mar := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	r1, err := st.RecordRequest(ctx, store.NewRequest{Dept: "IT Help Desk", MessageKey: "<1@x>", Requester: "jane@example.test",
		Subject: "Locked out", Category: "access", ReceivedAt: mar(9, 9), DueAt: mar(9, 13)}, none)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, store.Change{RequestID: r1.ID, Events: []store.Event{{Kind: store.EventAnswered, At: mar(9, 10)}},
		Update: func(r *store.Request) ([]store.NewMail, error) {
			r.State, r.FirstResponseAt, r.AnsweredAt = store.StateAnswered, mar(9, 10), mar(9, 10)
			return nil, nil
		}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordRequest(ctx, store.NewRequest{Dept: "IT Help Desk", MessageKey: "<2@x>", Requester: "omar@example.test",
		Subject: "Password expired", Category: "access", ReceivedAt: mar(10, 9), DueAt: mar(10, 13)}, none); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDigestPrint(t *testing.T) {
	cfg := seeded(t)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"digest", "-c", cfg, "--print", "--at", "2026-03-11T08:30:00Z"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"Subject: [IT Help Desk] Digest: 1 new, 1 overdue", "[REQ-2] Password expired", "50% kept (1 of 2)", "<!DOCTYPE html>"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReportJSON(t *testing.T) {
	cfg := seeded(t)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"report", "-c", cfg, "--since", "30d", "--json", "--at", "2026-03-11T08:30:00Z"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got reportJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if got.Department != "IT Help Desk" || got.Overall.Kept != 1 || got.Overall.Missed != 1 || got.Overdue != 1 ||
		got.Overall.KeptPercent == nil || *got.Overall.KeptPercent != 50 || got.Overall.MedianHours != 1 {
		t.Errorf("report = %s", out.String())
	}
}

// pending counts the mails in the outbox of the store next to cfg.
func pending(t *testing.T, cfg string) int {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(filepath.Dir(cfg), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.PendingMail(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// scheduledDigest runs the daemon's digest scheduler once at now and
// returns how many digests it queued.
func scheduledDigest(t *testing.T, cfgPath string, now time.Time) int {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.Load(cfg.Templates)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite", filepath.Join(filepath.Dir(cfgPath), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rt := &mailwatch.Runtime{Config: cfg, Templates: tpl}
	g := mailwatch.NewDigester(st, func() *mailwatch.Runtime { return rt }, func() time.Time { return now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, n, err := g.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDigestSendMarksTheDay(t *testing.T) {
	digest := func(t *testing.T, cfg string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append([]string{"digest", "-c", cfg}, args...)
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	// Wednesday 11 March; digest.at is 08:30 UTC.
	early := "2026-03-11T07:00:00Z"
	slot := time.Date(2026, 3, 11, 8, 30, 0, 0, time.UTC)

	t.Run("manual first: the scheduled digest does not follow", func(t *testing.T) {
		cfg := seeded(t)
		if out := digest(t, cfg, "--send", "--at", early); !strings.Contains(out, "digest for 2026-03-11 queued for 1 recipients") {
			t.Errorf("--send said %q", out)
		}
		if n := scheduledDigest(t, cfg, slot); n != 0 {
			t.Errorf("scheduler queued %d digests after a manual one the same day", n)
		}
		if n := pending(t, cfg); n != 1 {
			t.Errorf("outbox holds %d mails, want the 1 manual digest", n)
		}
		// The next working day is a new day.
		if n := scheduledDigest(t, cfg, slot.Add(24*time.Hour)); n != 1 {
			t.Errorf("scheduler queued %d digests the next day, want 1", n)
		}
	})
	t.Run("already sent: --send refuses, --force sends", func(t *testing.T) {
		cfg := seeded(t)
		if n := scheduledDigest(t, cfg, slot); n != 1 {
			t.Fatalf("scheduler queued %d digests, want 1", n)
		}
		out := digest(t, cfg, "--send", "--at", "2026-03-11T10:00:00Z")
		if !strings.Contains(out, "already sent") {
			t.Errorf("--send said %q, want that the digest was already sent", out)
		}
		if n := pending(t, cfg); n != 1 {
			t.Errorf("outbox holds %d mails after a refused --send, want 1", n)
		}
		out = digest(t, cfg, "--send", "--force", "--at", "2026-03-11T10:00:00Z")
		if !strings.Contains(out, "queued for 1 recipients") {
			t.Errorf("--send --force said %q", out)
		}
		if n := pending(t, cfg); n != 2 {
			t.Errorf("outbox holds %d mails after --force, want 2", n)
		}
	})
	t.Run("--force needs --send", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"digest", "-c", seeded(t), "--print", "--force"}, &out, &errb); code != 2 {
			t.Errorf("exit %d, want 2 (usage): %s", code, errb.String())
		}
	})
}

// TestReportAimBesidePromise: with access aimed at 30m beside its 4h
// promise, ackd report shows both, in text and JSON (issue 16): the
// request answered after 1h kept the promise and missed the aim.
func TestReportAimBesidePromise(t *testing.T) {
	cfg := seeded(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	aimed := strings.Replace(string(b), "access:  {commitment: 4h}", "access:  {commitment: 4h, aim: 30m}", 1)
	if err := os.WriteFile(cfg, []byte(aimed), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"report", "-c", cfg, "--since", "30d", "--at", "2026-03-11T08:30:00Z"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if want := "access (4h, aim 30m) 50% kept (1 of 2), 0% met the aim (0 of 2)"; !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"report", "-c", cfg, "--since", "30d", "--json", "--at", "2026-03-11T08:30:00Z"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got reportJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var access reportRecord
	for _, c := range got.Categories {
		if c.Category == "access" {
			access = c
		}
	}
	if access.Aim != "30m" || access.AimMet != 0 || access.AimMissed != 2 || access.AimPercent == nil || *access.AimPercent != 0 ||
		access.KeptPercent == nil || *access.KeptPercent != 50 {
		t.Errorf("access record = %+v", access)
	}
}

// TestStatusLanguageAndAim: ackd status shows each open request's
// language and, where its category has one, its aim (issue 16).
func TestStatusLanguageAndAim(t *testing.T) {
	cfgPath := seeded(t)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	aimed := strings.Replace(string(b), "access:  {commitment: 4h}", "access:  {commitment: 4h, aim: 1h}", 1)
	aimed = strings.Replace(aimed, "    staff: [alice@example.test]\n", "    staff: [alice@example.test]\n    language: nl\n", 1)
	if err := os.WriteFile(cfgPath, []byte(aimed), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(filepath.Dir(cfgPath), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) ([]store.NewMail, error) { return nil, nil }
	if _, err := st.RecordRequest(ctx, store.NewRequest{Dept: "it-help@example.test", MessageKey: "<3@x>", Requester: "max@example.test",
		Subject: "Drucker", Category: "access", Language: "de", ReceivedAt: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC),
		DueAt: time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)}, none); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"status", "-c", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var row string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "max@example.test") {
			row = l
		}
	}
	if !strings.Contains(out.String(), "DUE   ") || !strings.Contains(out.String(), "AIM") || !strings.Contains(out.String(), "LANG") {
		t.Errorf("no AIM and LANG columns:\n%s", out.String())
	}
	if !strings.Contains(row, "Tue 10 Mar 13:00 UTC  Tue 10 Mar 10:00 UTC  de") {
		t.Errorf("row lacks due, aim and language:\n%s", out.String())
	}
}
