package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

var batchTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"BatchCommitsTogether", testBatchCommitsTogether},
	{"BatchRollsBack", testBatchRollsBack},
	{"BatchFailedCallKeepsOthers", testBatchFailedCallKeepsOthers},
}

// testBatchCommitsTogether: a watcher's fetch group (requests, a skip, a
// follow-up, the checkpoint) is invisible to everyone else, the sender
// included, until the batch commits; inside, reads see the batch's own
// writes; AfterCommit runs after the commit, in order.
func testBatchCommitsTogether(t *testing.T, s store.Store) {
	var order []string
	err := s.Batch(t.Context(), func(ctx context.Context) error {
		if !store.InBatch(ctx) {
			t.Error("InBatch = false inside Batch")
		}
		a, err := s.RecordRequest(ctx, newRequest("it", "a"), receipts("<ra@ackd>"))
		if err != nil {
			return err
		}
		store.AfterCommit(ctx, func() { order = append(order, "a") })
		if _, err := s.RecordRequest(ctx, newRequest("it", "b"), receipts("<rb@ackd>")); err != nil {
			return err
		}
		store.AfterCommit(ctx, func() { order = append(order, "b") })
		if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "s", Reason: "robot", At: base}); err != nil {
			return err
		}
		// A reply to a in the same batch finds a's thread.
		got, err := s.FindThread(ctx, "it", []string{"<ra@ackd>"})
		if err != nil || got.ID != a.ID {
			t.Errorf("FindThread inside the batch = %+v, %v; want request %d", got, err, a.ID)
		}
		if _, err := s.Apply(ctx, store.Change{RequestID: a.ID, MessageKey: "reply-a", Update: func(r *store.Request) ([]store.NewMail, error) {
			r.State = store.StateAnswered
			return nil, nil
		}}); err != nil {
			return err
		}
		if err := s.SaveSyncState(ctx, "it", "INBOX", store.SyncState{UIDValidity: 7, LastUID: 4}); err != nil {
			return err
		}
		if seen, err := s.Seen(ctx, "it", "reply-a"); err != nil || !seen {
			t.Errorf("Seen inside the batch = %v, %v; want true", seen, err)
		}
		// Nobody else sees any of it yet. (A store with one connection for
		// everything, SQLite in memory, makes them wait for the commit
		// instead, which hides the batch as well.)
		if v, ok := lookOutside(s, time.Second); ok && (v.due != 0 || v.last != 0 || v.seen) {
			t.Errorf("before the commit others see %+v; want nothing", v)
		}
		if len(order) != 0 {
			t.Errorf("AfterCommit ran before the commit: %v", order)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if !slices.Equal(order, []string{"a", "b"}) {
		t.Errorf("AfterCommit ran %v, want [a b]", order)
	}
	if n := len(dueMail(t, s, 10)); n != 2 {
		t.Errorf("due after the commit: %d mails, want 2", n)
	}
	if st, err := s.SyncState(t.Context(), "it", "INBOX"); err != nil || st.LastUID != 4 {
		t.Errorf("checkpoint after the commit = %+v, %v; want 4", st, err)
	}
	a, err := s.RequestByRef(t.Context(), "it", "REQ-1")
	if err != nil || a.State != store.StateAnswered {
		t.Errorf("REQ-1 = %+v, %v; want answered", a, err)
	}
	wantSeen(t, s, "it", "s", true)
	wantSeen(t, s, "it", "b", true)
}

// testBatchRollsBack: fn's error writes nothing of the batch, and
// AfterCommit never runs.
func testBatchRollsBack(t *testing.T, s store.Store) {
	if err := s.SaveSyncState(t.Context(), "it", "INBOX", store.SyncState{UIDValidity: 7, LastUID: 1}); err != nil {
		t.Fatal(err)
	}
	before := snap(t, s)
	crash := errors.New("crash before the commit")
	ran := false
	err := s.Batch(t.Context(), func(ctx context.Context) error {
		if _, err := s.RecordRequest(ctx, newRequest("it", "a"), receipts("<ra@ackd>")); err != nil {
			return err
		}
		store.AfterCommit(ctx, func() { ran = true })
		if err := s.SaveSyncState(ctx, "it", "INBOX", store.SyncState{UIDValidity: 7, LastUID: 2}); err != nil {
			return err
		}
		return crash
	})
	if !errors.Is(err, crash) {
		t.Fatalf("Batch = %v, want the crash", err)
	}
	if ran {
		t.Error("AfterCommit ran after a rollback")
	}
	sameSnapshot(t, "rolled-back batch", before, snap(t, s))
	wantSeen(t, s, "it", "a", false)
	if st, err := s.SyncState(t.Context(), "it", "INBOX"); err != nil || st.LastUID != 1 {
		t.Errorf("checkpoint = %+v, %v; want 1 (it moves only with the commit)", st, err)
	}
	// The message is recorded again, once, after the "restart".
	record(t, s, newRequest("it", "a"), receipts("<ra@ackd>"))
	if n := pending(t, s); n != 1 {
		t.Errorf("pending = %d, want 1", n)
	}
}

// testBatchFailedCallKeepsOthers: a call that fails inside a batch (a
// duplicate, a build error, a stale Apply) undoes only its own writes; the
// rest commits, and a build's reference stays spent as without a batch.
// On PostgreSQL a failed statement would abort the whole transaction
// without the per-call savepoint.
func testBatchFailedCallKeepsOthers(t *testing.T, s store.Store) {
	record(t, s, newRequest("it", "dup"), receipts("<rdup@ackd>"))
	err := s.Batch(t.Context(), func(ctx context.Context) error {
		if _, err := s.RecordRequest(ctx, newRequest("it", "a"), receipts("<ra@ackd>")); err != nil {
			return err
		}
		if _, err := s.RecordRequest(ctx, newRequest("it", "dup"), receipts("<rdup2@ackd>")); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("duplicate inside the batch: %v, want ErrDuplicate", err)
		}
		if _, err := s.RecordRequest(ctx, newRequest("it", "b"), func(string) ([]store.NewMail, error) { return nil, errBuild }); !errors.Is(err, errBuild) {
			t.Errorf("build error inside the batch: %v", err)
		}
		// A mail whose Message-ID is already queued fails in the database.
		if _, err := s.RecordRequest(ctx, newRequest("it", "c"), receipts("<ra@ackd>")); err == nil {
			t.Error("clashing Message-ID inside the batch: no error")
		}
		if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "a", Reason: "x"}); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("skip of a recorded key inside the batch: %v, want ErrDuplicate", err)
		}
		// Nested: joins.
		return s.Batch(ctx, func(ctx context.Context) error {
			_, err := s.RecordRequest(ctx, newRequest("it", "d"), receipts("<rd@ackd>"))
			return err
		})
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	got := refs(openRequests(t, s, "it"))
	if !slices.Equal(got, []string{"REQ-1", "REQ-2", "REQ-5"}) {
		t.Errorf("open requests %v, want [REQ-1 REQ-2 REQ-5] (REQ-3 and REQ-4 were shown to failed builds)", got)
	}
	wantSeen(t, s, "it", "b", false)
	wantSeen(t, s, "it", "c", false)
	if n := pending(t, s); n != 3 {
		t.Errorf("pending = %d, want 3", n)
	}
}

// outside is what a reader outside a batch sees.
type outside struct {
	due  int
	last uint32
	seen bool
	err  error
}

// lookOutside reads, from another goroutine and outside any batch, the
// due mail, it/INBOX's checkpoint and whether key "a" was processed; ok
// is false when the reads did not finish within wait (they wait for the
// batch's commit, as on a single-connection store).
func lookOutside(s store.Store, wait time.Duration) (outside, bool) {
	got := make(chan outside, 1)
	go func() {
		ctx := context.Background()
		var v outside
		var ms []store.Mail
		ms, v.err = s.DueMail(ctx, time.Now().Add(time.Hour), 10)
		v.due = len(ms)
		if st, err := s.SyncState(ctx, "it", "INBOX"); err == nil {
			v.last = st.LastUID
		} else {
			v.err = errors.Join(v.err, err)
		}
		seen, err := s.Seen(ctx, "it", "a")
		v.seen, v.err = seen, errors.Join(v.err, err)
		got <- v
	}()
	select {
	case v := <-got:
		return v, v.err == nil
	case <-time.After(wait):
		return outside{}, false
	}
}
