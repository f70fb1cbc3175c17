package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
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
