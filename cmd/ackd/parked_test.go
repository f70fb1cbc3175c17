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

// TestStatusListsParked: `ackd status` lists parked messages with their
// error, so an admin sees what ackd went on without.
func TestStatusListsParked(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out bytes.Buffer
	if err := printStatus(context.Background(), &out, &config.Config{}, st, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Parked") {
		t.Errorf("status without parked messages mentions them:\n%s", out.String())
	}
	if err := st.ParkMessage(context.Background(), store.Parked{Dept: "IT Help Desk", Mailbox: "INBOX", UIDValidity: 1, UID: 42,
		From: "jane@example.test", Subject: "Scanner", Attempts: 5, LastError: "record request: database is locked"}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := printStatus(context.Background(), &out, &config.Config{}, st, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Parked messages (1)", "INBOX", "42", "jane@example.test", "Scanner", "database is locked"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
