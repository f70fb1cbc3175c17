package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/mailwatch/store"
)

// countingCheckpoints is the daemon's checkpoints, counting the saves.
type countingCheckpoints struct {
	checkpoints
	saves atomic.Int32
}

func (c *countingCheckpoints) Save(ctx context.Context, mailbox string, validity, last uint32) error {
	c.saves.Add(1)
	return c.checkpoints.Save(ctx, mailbox, validity, last)
}

// batchWorld appends n requests to a fresh in-process mailbox.
func batchWorld(t *testing.T, n int) (*world, *imapmem.Server) {
	t.Helper()
	w := newWorld(t)
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, n)
	return w, srv
}

func countOpen(t *testing.T, w *world) int {
	t.Helper()
	open, err := w.st.OpenRequests(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(open)
}

func checkpointOf(t *testing.T, w *world) uint32 {
	t.Helper()
	st, err := w.st.SyncState(context.Background(), dept, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return st.LastUID
}

// TestWatcherRecordsFetchGroupInOneCommit (issue 13, backlog): the five
// requests of one FETCH, their receipts and the checkpoint after them are
// recorded in one transaction. While the third is being decided, nothing
// of the first two is visible outside (no request, no receipt for the
// sender, no checkpoint), and the checkpoint is written once, with the
// group. Before, each request was a commit of its own (an fsync each) and
// the checkpoint a further one, and the first receipts were visible to
// the sender while the rest of the group was still being decided.
func TestWatcherRecordsFetchGroupInOneCommit(t *testing.T) {
	w, srv := batchWorld(t, 5)
	cp := &countingCheckpoints{checkpoints: checkpoints{st: w.st, dept: dept}}
	var mu sync.Mutex
	var during []string
	handle := func(ctx context.Context, f Fetched) error {
		if f.UID == 3 {
			bg := context.Background()
			_, err := w.st.RequestByRef(bg, dept, "REQ-1")
			due, derr := w.st.DueMail(bg, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 10)
			st, serr := w.st.SyncState(bg, dept, "INBOX")
			mu.Lock()
			during = append(during, fmt.Sprintf("REQ-1 outside: %v; due outside: %d (%v); checkpoint outside: %d (%v)",
				err, len(due), derr, st.LastUID, serr))
			if !errors.Is(err, store.ErrNotFound) || len(due) != 0 || st.LastUID != 0 {
				during = append(during, "VISIBLE")
			}
			mu.Unlock()
		}
		_, err := w.proc.Process(ctx, dept, f)
		return err
	}
	startWatcherCP(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, GroupCommit: time.Hour}, handle)
	eventually(t, 10*time.Second, "five requests and checkpoint 5", func() bool {
		return countOpen(t, w) == 5 && checkpointOf(t, w) == 5
	})
	mu.Lock()
	defer mu.Unlock()
	if len(during) == 0 {
		t.Fatal("uid 3 was never handled")
	}
	if len(during) > 1 {
		t.Errorf("the group's first requests were visible before the group committed: %v", during)
	}
	// One save at the first start (the start point), one with the group.
	if n := cp.saves.Load(); n != 2 {
		t.Errorf("checkpoint saved %d times, want 2 (start point, then once with the group of five)", n)
	}
	if n := len(w.queued()); n != 5 {
		t.Errorf("%d receipts queued, want 5", n)
	}
}

// crashingCheckpoints "kills the process" at the commit of the first
// batch: the group was fetched, parsed, decided and written into the
// batch, then the process dies before the commit. After that every call
// fails, as nothing runs in a dead process.
type crashingCheckpoints struct {
	checkpoints
	dead    atomic.Bool
	crashed chan struct{}
}

var errKilled = errors.New("process killed")

func (c *crashingCheckpoints) Load(ctx context.Context, mailbox string) (uint32, uint32, error) {
	if c.dead.Load() {
		return 0, 0, errKilled
	}
	return c.checkpoints.Load(ctx, mailbox)
}

func (c *crashingCheckpoints) Save(ctx context.Context, mailbox string, validity, last uint32) error {
	if c.dead.Load() {
		return errKilled
	}
	err := c.checkpoints.Save(ctx, mailbox, validity, last)
	if err == nil && store.InBatch(ctx) {
		// Everything of the group is written into the batch: die now.
		c.dead.Store(true)
		close(c.crashed)
		return errKilled
	}
	return err
}

// TestWatcherCrashBeforeBatchCommitLosesNothing (issue 13): a crash
// between deciding a fetch group and committing it leaves nothing of the
// group in the store (no request, no receipt the sender could send, the
// checkpoint where it was); after the restart every request is recorded
// once, with one receipt each.
func TestWatcherCrashBeforeBatchCommitLosesNothing(t *testing.T) {
	w, srv := batchWorld(t, 4)
	cp := &crashingCheckpoints{checkpoints: checkpoints{st: w.st, dept: dept}, crashed: make(chan struct{})}
	handle := func(ctx context.Context, f Fetched) error {
		if cp.dead.Load() {
			return errKilled
		}
		_, err := w.proc.Process(ctx, dept, f)
		return err
	}
	h := startWatcherCP(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, ParkAttempts: 1000}, handle)
	select {
	case <-cp.crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch never reached its commit")
	}
	h.cancel()
	<-h.done
	h.done <- nil
	if n := countOpen(t, w); n != 0 {
		t.Errorf("after the crash %d requests are recorded, want 0 (the batch never committed)", n)
	}
	if n := len(w.queued()); n != 0 {
		t.Errorf("after the crash %d receipts could be sent, want 0", n)
	}
	if last := checkpointOf(t, w); last != 0 {
		t.Errorf("after the crash the checkpoint is %d, want 0", last)
	}

	// The restart.
	startWatcherCP(t, srv, checkpoints{st: w.st, dept: dept}, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, w.proc.Handler(dept))
	eventually(t, 10*time.Second, "four requests and checkpoint 4", func() bool {
		return countOpen(t, w) == 4 && checkpointOf(t, w) == 4
	})
	ms := w.queued()
	if len(ms) != 4 {
		t.Fatalf("%d receipts queued, want 4", len(ms))
	}
	perRequest := map[int64]int{}
	for _, m := range ms {
		perRequest[m.RequestID]++
	}
	for id, n := range perRequest {
		if n != 1 {
			t.Errorf("request %d has %d receipts, want 1", id, n)
		}
	}
}

// breakingCheckpoints fails the first batch that holds uid 3 as a
// transaction that cannot commit would (SQLite rolls one back whole on a
// full disk).
type breakingCheckpoints struct {
	checkpoints
	broke atomic.Bool
}

func (c *breakingCheckpoints) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	return c.checkpoints.Batch(ctx, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		if !c.broke.Swap(true) {
			return errors.New("the transaction was rolled back")
		}
		return nil
	})
}

// TestWatcherBrokenBatchFallsBackToSingles: a group whose batch cannot
// commit is recorded again one message at a time, so a message that
// breaks the shared transaction does not hold its neighbours back; each
// request is recorded once.
func TestWatcherBrokenBatchFallsBackToSingles(t *testing.T) {
	w, srv := batchWorld(t, 3)
	cp := &breakingCheckpoints{checkpoints: checkpoints{st: w.st, dept: dept}}
	startWatcherCP(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, w.proc.Handler(dept))
	eventually(t, 10*time.Second, "three requests and checkpoint 3", func() bool {
		return countOpen(t, w) == 3 && checkpointOf(t, w) == 3
	})
	if n := len(w.queued()); n != 3 {
		t.Errorf("%d receipts queued, want 3", n)
	}
	if !cp.broke.Load() {
		t.Error("the batch never broke")
	}
}

// TestWatcherGroupYieldsToWaitingWrite (issue 13, real-stack backlog): a
// write that waits for the store's one write connection while a fetch
// group is being recorded (the outbox sender's marks of sent mail) gets
// it once the group's transaction has run for groupYieldAfter: the group
// commits the messages handled so far with their checkpoint and records
// the rest in a transaction of its own. Before, the write waited for the
// whole group, so during a backlog the sender, at most 8 mails ahead of
// its marks, sent 8 mails per group of 50 requests recorded.
func TestWatcherGroupYieldsToWaitingWrite(t *testing.T) {
	w, srv := batchWorld(t, 6)
	cp := &countingCheckpoints{checkpoints: checkpoints{st: w.st, dept: dept}}
	written := make(chan struct{})
	var problems problemLog
	fail := problems.add
	handle := func(ctx context.Context, f Fetched) error {
		switch f.UID {
		case 2:
			// Another writer of the process starts waiting for the
			// connection this group's batch holds.
			go func() {
				defer close(written)
				err := w.st.SaveSyncState(context.Background(), dept, "Elsewhere", store.SyncState{UIDValidity: 1, LastUID: 1})
				if err != nil {
					fail("the waiting write: " + err.Error())
				}
			}()
			deadline := time.Now().Add(5 * time.Second)
			for !store.WriterWaiting(ctx) {
				if time.Now().After(deadline) {
					fail("store.WriterWaiting never saw the waiting write")
					break
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(groupYieldAfter) // the group has run long enough
		case 4:
			// The group committed up to uid 2, the write went through,
			// and uid 4 is handled in a transaction of its own.
			select {
			case <-written:
			case <-time.After(5 * time.Second):
				fail("the write still waited while uid 4 of the group was handled")
			}
			if st, err := w.st.SyncState(context.Background(), dept, "INBOX"); err != nil || st.LastUID != 2 {
				fail(fmt.Sprintf("checkpoint outside the batch while uid 4 is handled: %d (%v), want 2", st.LastUID, err))
			}
		}
		_, err := w.proc.Process(ctx, dept, f)
		return err
	}
	startWatcherCP(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, GroupCommit: time.Hour}, handle)
	eventually(t, 20*time.Second, "six requests and checkpoint 6", func() bool {
		return countOpen(t, w) == 6 && checkpointOf(t, w) == 6
	})
	problems.report(t)
	// The start point, the group's first part (uids 1-2), the rest (3-6).
	if n := cp.saves.Load(); n != 3 {
		t.Errorf("checkpoint saved %d times, want 3 (start point, uids 1-2, uids 3-6)", n)
	}
	if n := len(w.queued()); n != 6 {
		t.Errorf("%d receipts queued, want 6", n)
	}
}

// TestWatcherGroupCommitsInTimedParts (issue 13, real-stack backlog): a
// fetch group whose transaction has run for MailboxConfig.GroupCommit
// commits what it has, with its checkpoint, so the sender sees those
// receipts while the rest of the group is recorded. Before, a group of 50
// was one transaction of ~300 ms under load and the sender, with nothing
// committed to send, idled through it (35 receipts/s sent while recording,
// 200/s after).
func TestWatcherGroupCommitsInTimedParts(t *testing.T) {
	w, srv := batchWorld(t, 4)
	cp := &countingCheckpoints{checkpoints: checkpoints{st: w.st, dept: dept}}
	var problems problemLog
	handle := func(ctx context.Context, f Fetched) error {
		if f.UID == 3 {
			// GroupCommit is 1ns: uids 1 and 2 were each committed.
			due, err := w.st.DueMail(context.Background(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 10)
			st, serr := w.st.SyncState(context.Background(), dept, "INBOX")
			if err != nil || len(due) != 2 || serr != nil || st.LastUID != 2 {
				problems.add(fmt.Sprintf("while uid 3 is handled: %d receipts due outside (%v), checkpoint %d (%v); want 2 and 2", len(due), err, st.LastUID, serr))
			}
		}
		_, err := w.proc.Process(ctx, dept, f)
		return err
	}
	startWatcherCP(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour, GroupCommit: time.Nanosecond}, handle)
	eventually(t, 10*time.Second, "four requests and checkpoint 4", func() bool {
		return countOpen(t, w) == 4 && checkpointOf(t, w) == 4
	})
	problems.report(t)
	// The start point, then one per message; the last part ends the group.
	if n := cp.saves.Load(); n != 5 {
		t.Errorf("checkpoint saved %d times, want 5 (start point, then each message)", n)
	}
}

// problemLog collects what a handler running on the watcher's goroutine
// found wrong, for the test's goroutine to report.
type problemLog struct {
	mu   sync.Mutex
	list []string
}

func (p *problemLog) add(s string) {
	p.mu.Lock()
	p.list = append(p.list, s)
	p.mu.Unlock()
}

func (p *problemLog) report(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.list {
		t.Error(s)
	}
}
