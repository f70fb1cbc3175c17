package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// testParked: parking adds attempts and keeps the newest error, the list is
// per department or for all, unparking deletes, and a parked message's key
// is not marked processed (it may still be handled later).
func testParked(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := store.Parked{Dept: "it", Mailbox: "INBOX", UIDValidity: 7, UID: 3, MessageID: "m3@x", From: "a@example.test",
		Subject: "bad\x00 subject \xff", Size: 1234, ReceivedAt: base, Attempts: 5, LastError: "record request: disk I/O error",
		ParkedAt: base.Add(time.Minute)}
	if err := s.ParkMessage(ctx, p); err != nil {
		t.Fatal(err)
	}
	again := store.Parked{Dept: "it", Mailbox: "INBOX", UIDValidity: 7, UID: 3, Attempts: 1, LastError: "still failing",
		ParkedAt: base.Add(time.Hour)}
	if err := s.ParkMessage(ctx, again); err != nil {
		t.Fatal(err)
	}
	if err := s.ParkMessage(ctx, store.Parked{Dept: "payroll", Mailbox: "INBOX", UIDValidity: 1, UID: 9, Attempts: 2,
		ParkedAt: base.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ParkedMessages(ctx, "it")
	if err != nil || len(got) != 1 {
		t.Fatalf("ParkedMessages(it) = %+v, %v; want 1", got, err)
	}
	g := got[0]
	if g.Attempts != 6 || g.LastError != "still failing" || g.MessageID != "m3@x" || g.From != "a@example.test" ||
		g.Size != 1234 || !g.ReceivedAt.Equal(base) || g.UIDValidity != 7 || g.UID != 3 {
		t.Errorf("parked twice = %+v; want 6 attempts, the newest error, the first descriptive fields", g)
	}
	if !g.FirstParked.Equal(base.Add(time.Minute)) || !g.ParkedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("first parked %v, parked at %v; want %v and %v", g.FirstParked, g.ParkedAt, base.Add(time.Minute), base.Add(time.Hour))
	}
	if g.Subject != "bad\uFFFD subject \uFFFD" {
		t.Errorf("subject = %q; want NUL and invalid bytes as U+FFFD", g.Subject)
	}
	all, err := s.ParkedMessages(ctx, "")
	if err != nil || len(all) != 2 || all[0].Dept != "it" || all[1].Dept != "payroll" {
		t.Fatalf("ParkedMessages(all) = %+v, %v; want it then payroll", all, err)
	}
	if seen, err := s.Seen(ctx, "it", "m3@x"); err != nil || seen {
		t.Errorf("Seen(parked message) = %v, %v; want false: parking processes nothing", seen, err)
	}
	if err := s.ParkMessage(ctx, store.Parked{Dept: "it", Mailbox: "INBOX", UID: 4}); err == nil {
		t.Error("ParkMessage with 0 attempts: no error")
	}
	if err := s.UnparkMessage(ctx, "it", "INBOX", 7, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.UnparkMessage(ctx, "it", "INBOX", 7, 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second UnparkMessage = %v; want ErrNotFound", err)
	}
	if got, err := s.ParkedMessages(ctx, "it"); err != nil || len(got) != 0 {
		t.Errorf("after unpark: %+v, %v; want none", got, err)
	}
}
