package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
)

// TestLeaseWorkIsFenced: a replica that froze while holding a department
// and woke after another took it over cannot write for the department
// any more, from its watchers (the work's context) or its scheduler (the
// holdings), even before its own supervisor has noticed the loss; and
// when it finds on renewal that another replica held the lease
// meanwhile, it restarts the work under the new generation.
func TestLeaseWorkIsFenced(t *testing.T) {
	st, err := store.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := st.(store.Leaser)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	started := make(chan context.Context, 4)
	work := []leaseWork{{dept: "it", runs: []func(context.Context) error{func(ctx context.Context) error {
		started <- ctx
		<-ctx.Done()
		return nil
	}}}}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := 10 * time.Second
	owned := newHoldings(nil)
	s := newSupervisor(l, HA{ReplicaID: "a", LeaseTTL: ttl}, work, func() time.Time { return now }, owned, log)
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); s.shutdown(ctx) }()
	s.tick(ctx)
	wctx := <-started
	sched := store.WithFences(t.Context(), owned.fence)
	save := func(ctx context.Context, uid uint32) error {
		return st.SaveSyncState(ctx, "it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: uid})
	}
	queue := func(ctx context.Context, n int) error {
		return st.QueueMail(ctx, "it", []store.NewMail{{Kind: "late", MessageID: fmt.Sprintf("late-%d@x", n), Recipients: []string{"lead@x"}, Raw: []byte("x")}})
	}
	if err := save(wctx, 1); err != nil {
		t.Fatalf("the holder's watcher cannot write: %v", err)
	}
	if err := queue(sched, 1); err != nil {
		t.Fatalf("the holder's scheduler cannot write: %v", err)
	}

	// a freezes; its lease lapses and b takes the department.
	if ok, err := l.AcquireLease(t.Context(), "it", "b", ttl, now.Add(2*ttl)); err != nil || !ok {
		t.Fatalf("b takes the lapsed lease: %v %v", ok, err)
	}
	if err := save(wctx, 2); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the zombie's watcher wrote after the takeover: %v, want ErrFenced", err)
	}
	if err := queue(sched, 2); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the zombie's scheduler wrote after the takeover: %v, want ErrFenced", err)
	}

	// b gives the department up again and a, awake, renews it: the work it
	// still runs is fenced off, so it starts afresh under the new number.
	if err := l.ReleaseLease(t.Context(), "it", "b"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2*ttl + time.Second)
	s.tick(ctx)
	select {
	case <-wctx.Done():
	default:
		t.Error("the work started under the old generation still runs")
	}
	var fresh context.Context
	select {
	case fresh = <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the department's work did not start again under the new generation")
	}
	if err := save(fresh, 3); err != nil {
		t.Errorf("the restarted work cannot write: %v", err)
	}
	if err := queue(sched, 3); err != nil {
		t.Errorf("the scheduler cannot write under the renewed lease: %v", err)
	}
}

// TestClaimQueueEndsBatchBeforeClaimLapses: the sender's claim check fails
// once half the claim's time has passed on the monotonic clock (a process
// that stood still counts too), and when the store says another claim took
// the mail.
func TestClaimQueueEndsBatchBeforeClaimLapses(t *testing.T) {
	mono := time.Unix(1000, 0)
	var fenced atomic.Bool
	q := &claimQueue{
		claim: func(context.Context, time.Time, int) ([]store.Mail, error) {
			return []store.Mail{{ID: 1, ClaimToken: "t1"}, {ID: 2, ClaimToken: "t1"}}, nil
		},
		check: func(_ context.Context, id int64, token string) error {
			if token != "t1" {
				t.Errorf("checked mail %d with token %q, want t1", id, token)
			}
			if fenced.Load() {
				return fmt.Errorf("check: %w", store.ErrFenced)
			}
			return nil
		},
		ttl:  claimTTL,
		mono: func() time.Time { return mono },
	}
	if _, err := q.DueMail(t.Context(), time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	if err := q.CheckClaim(t.Context(), 1); err != nil {
		t.Errorf("fresh claim: %v", err)
	}
	if err := q.CheckClaim(t.Context(), 3); !errors.Is(err, outbox.ErrClaimLost) {
		t.Errorf("a mail not claimed here: %v, want ErrClaimLost", err)
	}
	fenced.Store(true)
	if err := q.CheckClaim(t.Context(), 1); !errors.Is(err, outbox.ErrClaimLost) {
		t.Errorf("a claim the store says is gone: %v, want ErrClaimLost", err)
	}
	fenced.Store(false)
	mono = mono.Add(claimTTL / 2)
	if err := q.CheckClaim(t.Context(), 2); !errors.Is(err, outbox.ErrClaimLost) {
		t.Errorf("a claim half its time old: %v, want ErrClaimLost", err)
	}
}

// TestWatcherRetriesStoreWithinStoreRetry: after failed store writes a
// watcher tries again within the store retry (ttl/3 for replicas), not
// after its IMAP reconnect backoff, which grows to minutes. Before, a
// department's new holder waited minutes after its first writes met a
// frozen holder's locks.
func TestWatcherRetriesStoreWithinStoreRetry(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	if _, err := srv.Append("dept", "INBOX", rawMail(1), time.Time{}); err != nil {
		t.Fatal(err)
	}
	var fails atomic.Int32
	got := make(chan struct{})
	handle := func(context.Context, Fetched) error {
		if fails.Add(1) <= 4 {
			return errors.New("record request: lock timeout")
		}
		close(got)
		return nil
	}
	cfg := MailboxConfig{Addr: srv.Addr(), TLS: "none", Username: "dept", Password: "pw", PollInterval: time.Hour, IDLE: true, Backfill: time.Hour}
	w := NewWatcher(cfg, &memCheckpoints{}, handle, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.SetBackoff(Backoff{Min: 4 * time.Second, Max: time.Minute}, Backoff{Min: time.Minute, Max: time.Minute})
	w.SetStoreRetry(200 * time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	start := time.Now()
	select {
	case <-got:
	case <-time.After(4 * time.Second):
		t.Fatalf("the message was not recorded %s after 4 failed writes with a store retry of 200ms", time.Since(start).Round(time.Millisecond))
	}
}
