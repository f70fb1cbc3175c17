package storetest

import (
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// testAdoptDepartment: a department's state written under its display name
// moves to its new key whole, once, and never over state the key has.
func testAdoptDepartment(t *testing.T, s store.Store) {
	ctx := t.Context()
	const oldKey, newKey = "IT Help Desk", "it-help@example.test"
	if err := s.SaveSyncState(ctx, oldKey, "INBOX", store.SyncState{UIDValidity: 7, LastUID: 42}); err != nil {
		t.Fatal(err)
	}
	r1 := record(t, s, newRequest(oldKey, "k1"), receipts("<r1@ackd>"))
	record(t, s, newRequest(oldKey, "k2"), receipts("<r2@ackd>"))
	apply(t, s, store.Change{RequestID: r1.ID, MessageKey: "reply-1", ThreadKeys: []string{"<reply-1@x>"},
		Events: []store.Event{{Kind: store.EventReminder, At: base.Add(time.Hour), Actor: "carol@example.test"}}})
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: oldKey, Mailbox: "INBOX", UID: 9, MessageKey: "k-skip", Reason: "list", Refusal: "list", At: base}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.QueueDigest(ctx, oldKey, "2026-11-24", []store.NewMail{mail("digest", "<d1@ackd>")}); err != nil || !ok {
		t.Fatalf("QueueDigest = %v, %v", ok, err)
	}
	// Another department's state stays where it is.
	record(t, s, newRequest("Payroll", "k1"), receipts("<p1@ackd>"))

	if moved, err := s.AdoptDepartment(ctx, "Nobody", "nobody@example.test"); err != nil || moved {
		t.Fatalf("AdoptDepartment of a department without state = %v, %v; want false, nil", moved, err)
	}
	moved, err := s.AdoptDepartment(ctx, oldKey, newKey)
	if err != nil || !moved {
		t.Fatalf("AdoptDepartment = %v, %v; want true, nil", moved, err)
	}

	if st, err := s.SyncState(ctx, newKey, "INBOX"); err != nil || st != (store.SyncState{UIDValidity: 7, LastUID: 42}) {
		t.Errorf("checkpoint under the new key = %+v, %v; want 7/42", st, err)
	}
	if st, err := s.SyncState(ctx, oldKey, "INBOX"); err != nil || st != (store.SyncState{}) {
		t.Errorf("checkpoint under the old key = %+v, %v; want none", st, err)
	}
	if got := refs(openRequests(t, s, newKey)); len(got) != 2 {
		t.Errorf("open requests under the new key = %v; want REQ-1 and REQ-2", got)
	}
	if got := openRequests(t, s, oldKey); len(got) != 0 {
		t.Errorf("open requests left under the old key = %v", refs(got))
	}
	if r, err := s.RequestByRef(ctx, newKey, "REQ-1"); err != nil || r.Dept != newKey {
		t.Errorf("RequestByRef(new, REQ-1) = %+v, %v", r, err)
	}
	if r, err := s.FindThread(ctx, newKey, []string{"<reply-1@x>"}); err != nil || r.ID != r1.ID {
		t.Errorf("FindThread(new, reply) = %d, %v; want request %d", r.ID, err, r1.ID)
	}
	if r, err := s.FindThread(ctx, newKey, []string{"<r2@ackd>"}); err != nil || r.Ref != "REQ-2" {
		t.Errorf("FindThread(new, receipt 2) = %s, %v; want REQ-2", r.Ref, err)
	}
	for _, k := range []string{"k1", "k2", "reply-1", "k-skip"} {
		wantSeen(t, s, newKey, k, true)
		wantSeen(t, s, oldKey, k, false)
	}
	// The reference counter goes on where it stopped.
	if r3 := record(t, s, newRequest(newKey, "k3"), receipts("<r3@ackd>")); r3.Ref != "REQ-3" {
		t.Errorf("next reference under the new key = %s; want REQ-3", r3.Ref)
	}
	evs, err := s.EventsSince(ctx, newKey, time.Time{})
	if err != nil || len(evs) < 3 {
		t.Errorf("events under the new key = %d, %v; want the received events and the reminder", len(evs), err)
	}
	if evs, _ := s.EventsSince(ctx, oldKey, time.Time{}); len(evs) != 0 {
		t.Errorf("events left under the old key: %d", len(evs))
	}
	if ok, err := s.QueueDigest(ctx, newKey, "2026-11-24", []store.NewMail{mail("digest", "<d2@ackd>")}); err != nil || ok {
		t.Errorf("second digest for the same day under the new key = %v, %v; want false", ok, err)
	}
	for _, m := range dueMail(t, s, 100) {
		if m.Dept == oldKey {
			t.Errorf("outbox mail %s still under the old key", m.MessageID)
		}
	}
	for _, sk := range skippedList(t, s, 100) {
		if sk.Dept == oldKey {
			t.Errorf("skipped %s still under the old key", sk.MessageKey)
		}
	}
	if got := refs(openRequests(t, s, "Payroll")); len(got) != 1 {
		t.Errorf("another department's requests = %v; want its REQ-1 untouched", got)
	}

	// Once moved, or when the new key has state of its own, nothing moves.
	if moved, err := s.AdoptDepartment(ctx, oldKey, newKey); err != nil || moved {
		t.Errorf("second AdoptDepartment = %v, %v; want false, nil", moved, err)
	}
	record(t, s, newRequest(oldKey, "late"), receipts("<late@ackd>"))
	if moved, err := s.AdoptDepartment(ctx, oldKey, newKey); err != nil || moved {
		t.Errorf("AdoptDepartment onto a key with state = %v, %v; want false, nil", moved, err)
	}
	if got := refs(openRequests(t, s, oldKey)); len(got) != 1 {
		t.Errorf("old key's new request after a refused adoption = %v; want it left alone", got)
	}
}
