package storetest

import (
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

var replayTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"DecideInputs", testDecideInputs},
	{"SkippedInputs", testSkippedInputs},
}

// testSkippedInputs: a skip keeps its input (cleaned like a request's),
// only skips with one are returned, by department and since, oldest
// first; an input older than SkippedInputKeep is cleared when a later
// skip of the department comes in, the row itself stays.
func testSkippedInputs(t *testing.T, s store.Store) {
	ctx := t.Context()
	skip := func(dept, key, input string, at time.Time) {
		t.Helper()
		if err := s.RecordSkipped(ctx, store.Skipped{Dept: dept, Mailbox: "INBOX", UID: 1, MessageKey: key, From: "x@example.test",
			Subject: key, Reason: "not allowed", Refusal: "sender-not-allowed", At: at, DecideInput: input}); err != nil {
			t.Fatal(err)
		}
	}
	skip("it", "old", `{"old":1}`, base)
	skip("it", "none", "", base.Add(time.Hour))
	skip("it", "bad", "bad \xff and \x00", base.Add(2*time.Hour))
	skip("hr", "other", `{}`, base.Add(2*time.Hour))
	got, err := s.SkippedInputs(ctx, "it", base)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].MessageKey != "old" || got[0].DecideInput != `{"old":1}` || got[1].DecideInput != "bad \uFFFD and \uFFFD" ||
		!got[1].At.Equal(base.Add(2*time.Hour)) || got[1].Refusal != "sender-not-allowed" {
		t.Fatalf("SkippedInputs(it) = %+v, want old and bad", got)
	}
	if got, err := s.SkippedInputs(ctx, "it", base.Add(time.Minute)); err != nil || len(got) != 1 || got[0].MessageKey != "bad" {
		t.Fatalf("SkippedInputs(it, since +1m) = %+v, %v; want only bad", got, err)
	}
	// A skip past the keep clears the old input, not its row.
	skip("it", "later", `{"later":1}`, base.Add(store.SkippedInputKeep+time.Minute))
	got, err = s.SkippedInputs(ctx, "it", time.Time{})
	if err != nil || len(got) != 2 || got[0].MessageKey != "bad" || got[1].MessageKey != "later" {
		t.Fatalf("after the keep: %+v, %v; want bad and later", got, err)
	}
	if all, err := s.RecentSkipped(ctx, 10); err != nil || len(all) != 5 {
		t.Fatalf("RecentSkipped = %d rows, %v; want all 5 kept", len(all), err)
	}
}

// testDecideInputs: the input is kept as given (invalid UTF-8 and NUL
// cleaned), only requests that have one are returned, and since and dept
// filter like RequestsSince.
func testDecideInputs(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newRequest("it", "a")
	a.DecideInput = `{"subject":"VPN down"}`
	ra := record(t, s, a, receipts())
	b := newRequest("it", "b")
	b.DecideInput = "bad \xff and \x00"
	b.ReceivedAt = base.Add(time.Hour)
	rb := record(t, s, b, receipts())
	record(t, s, newRequest("it", "none"), receipts())
	c := newRequest("hr", "c")
	c.DecideInput = `{}`
	rc := record(t, s, c, receipts())

	got, err := s.DecideInputs(ctx, "it", base)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{ra.ID: a.DecideInput, rb.ID: "bad \uFFFD and \uFFFD"}
	if len(got) != len(want) || got[ra.ID] != want[ra.ID] || got[rb.ID] != want[rb.ID] {
		t.Errorf("DecideInputs(it) = %v, want %v", got, want)
	}
	got, err = s.DecideInputs(ctx, "it", base.Add(time.Minute))
	if err != nil || len(got) != 1 || got[rb.ID] == "" {
		t.Errorf("DecideInputs(it, since +1m) = %v, %v; want only %d", got, err, rb.ID)
	}
	got, err = s.DecideInputs(ctx, "", base)
	if err != nil || len(got) != 3 || got[rc.ID] != "{}" {
		t.Errorf("DecideInputs(all) = %v, %v; want 3 with %d", got, err, rc.ID)
	}
	for id, want := range map[int64]string{ra.ID: a.DecideInput, rb.ID: "bad \uFFFD and \uFFFD", rc.ID + 1000: ""} {
		if got, err := s.DecideInputOf(ctx, id); err != nil || got != want {
			t.Errorf("DecideInputOf(%d) = %q, %v; want %q", id, got, err, want)
		}
	}
}

// ReadOnly fills s, closes it and reopens the database with reopenRO
// (Options.ReadOnly): everything reads as before and every write fails.
func ReadOnly(t *testing.T, s store.Store, reopenRO func(t *testing.T) store.Store) {
	ctx := t.Context()
	in := newRequest("it", "k1")
	in.DecideInput = `{"x":1}`
	r1 := record(t, s, in, receipts())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := reopenRO(t)
	got, err := ro.RequestByRef(ctx, "it", r1.Ref)
	if err != nil || got.ID != r1.ID {
		t.Fatalf("read-only RequestByRef = %+v, %v", got, err)
	}
	ins, err := ro.DecideInputs(ctx, "", time.Time{})
	if err != nil || ins[r1.ID] != in.DecideInput {
		t.Errorf("read-only DecideInputs = %v, %v", ins, err)
	}
	if _, err := ro.RecordRequest(ctx, newRequest("it", "k2"), receipts()); err == nil {
		t.Error("read-only store: RecordRequest succeeded")
	}
	if err := ro.SaveSyncState(ctx, "it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: 2}); err == nil {
		t.Error("read-only store: SaveSyncState succeeded")
	}
	if _, err := ro.Apply(ctx, store.Change{RequestID: r1.ID, Events: []store.Event{{Kind: store.EventAnswered}}}); err == nil {
		t.Error("read-only store: Apply succeeded")
	}
}
