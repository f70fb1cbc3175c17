package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
)

// TestStatusReceiptHeld: a request whose receipt a sending limit holds is
// listed like any other, marked "receipt held", and the held mail is
// listed with its reason and next try.
func TestStatusReceiptHeld(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	st, err := store.OpenOptions(ctx, "sqlite", filepath.Join(t.TempDir(), "ackd.db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, subject := range []string{"printer jams", "scanner"} {
		_, err := st.RecordRequest(ctx, store.NewRequest{Dept: "IT Help Desk", MessageKey: subject, Requester: "jane@example.test",
			Subject: subject, Category: "default", ReceivedAt: now, DueAt: now.Add(72 * time.Hour)},
			func(ref string) ([]store.NewMail, error) {
				return []store.NewMail{{Kind: "receipt", MessageID: "<receipt-" + ref + "@ackd>", Recipients: []string{"jane@example.test"}, Raw: []byte("x")}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	due, err := st.DueMail(ctx, now, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due %v, %v", due, err)
	}
	if err := st.MarkSent(ctx, due[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := st.HoldMail(ctx, due[1].ID, now.Add(time.Hour), "per_sender_per_hour (1) reached for jane@example.test", now); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printStatus(ctx, &out, &config.Config{}, st, now.Add(5*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	var req1, req2 string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "REQ-1 ") && req1 == "":
			req1 = l
		case strings.HasPrefix(l, "REQ-2 ") && req2 == "":
			req2 = l
		}
	}
	if !strings.Contains(req2, "acknowledged, receipt held") || strings.Contains(req1, "receipt held") {
		t.Errorf("open requests:\n%s", text)
	}
	_, held, ok := strings.Cut(text, "Held by a sending limit (1)")
	if !ok || !strings.Contains(held, "REQ-2") || !strings.Contains(held, "receipt") ||
		!strings.Contains(held, "in 55m") || !strings.Contains(held, "per_sender_per_hour (1) reached for jane@example.test") {
		t.Errorf("held section:\n%s", text)
	}
}
