package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

func fencedRequest(key string) store.NewRequest {
	return store.NewRequest{Dept: "it", MessageKey: key, MessageID: key, Mailbox: "INBOX", UID: 1,
		Requester: "ann@example.test", Subject: "printer", Category: "hardware",
		ReceivedAt: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
}

func receiptFor(key string) func(string) ([]store.NewMail, error) {
	return func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{{Kind: "receipt", MessageID: "ack-" + key, Recipients: []string{"ann@example.test"},
			Raw: []byte("Subject: [" + ref + "]\r\n\r\nbody")}}, nil
	}
}

// TestFence: the lease generation grows with every change of holder, and
// every write a department's work makes under a stale generation is
// refused with ErrFenced, on both backends.
func TestFence(t *testing.T) {
	for _, tc := range leaseTargets() {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			l := s.(store.Leaser)
			ctx := t.Context()
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			ttl := 10 * time.Second
			gen := func(holder string, at time.Time) int64 {
				t.Helper()
				g, err := l.AcquireLeaseGeneration(ctx, "it", holder, ttl, at)
				if err != nil {
					t.Fatal(err)
				}
				return g
			}
			a1 := gen("a", t0)
			if a1 <= 0 {
				t.Fatalf("a takes a free lease: generation %d", a1)
			}
			if g := gen("a", t0.Add(3*time.Second)); g != a1 {
				t.Errorf("a renewal moved the generation from %d to %d", a1, g)
			}
			if g := gen("b", t0.Add(5*time.Second)); g != 0 {
				t.Errorf("b took a live lease of a: generation %d", g)
			}
			// a froze; its lease lapses and b takes it.
			b1 := gen("b", t0.Add(20*time.Second))
			if b1 <= a1 {
				t.Fatalf("b took the lease over with generation %d, want > %d", b1, a1)
			}
			// b releases it; a retakes it: the number must not start over.
			if err := l.ReleaseLease(ctx, "it", "b"); err != nil {
				t.Fatal(err)
			}
			a2 := gen("a", t0.Add(21*time.Second))
			if a2 <= b1 {
				t.Errorf("after a release the generation went from %d to %d, want it to grow", b1, a2)
			}

			// Something to change, recorded without a fence.
			req, err := s.RecordRequest(ctx, fencedRequest("r1@x"), receiptFor("r1@x"))
			if err != nil {
				t.Fatal(err)
			}
			zombie := store.WithFence(ctx, "it", a1) // a before it froze
			other := store.WithFence(ctx, "hr", a2)  // a fence for another department
			live := store.WithFence(ctx, "it", a2)
			mail := []store.NewMail{{Kind: "late", MessageID: "late-1", Recipients: []string{"lead@example.test"}, Raw: []byte("x")}}
			writes := []struct {
				name  string
				write func(ctx context.Context, i int) error
			}{
				{"RecordRequest", func(ctx context.Context, i int) error {
					k := fmt.Sprintf("w%d@x", i)
					_, err := s.RecordRequest(ctx, fencedRequest(k), receiptFor(k))
					return err
				}},
				{"RecordSkipped", func(ctx context.Context, i int) error {
					return s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: fmt.Sprintf("s%d@x", i), Reason: "auto-reply"})
				}},
				{"SaveSyncState", func(ctx context.Context, i int) error {
					return s.SaveSyncState(ctx, "it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: uint32(i)})
				}},
				{"ParkMessage", func(ctx context.Context, i int) error {
					return s.ParkMessage(ctx, store.Parked{Dept: "it", Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i), Attempts: 1})
				}},
				{"Apply", func(ctx context.Context, i int) error {
					_, err := s.Apply(ctx, store.Change{RequestID: req.ID, MessageKey: fmt.Sprintf("f%d@x", i),
						Events: []store.Event{{Kind: store.EventAnswered, At: t0, Actor: "bob@example.test"}},
						Update: func(r *store.Request) ([]store.NewMail, error) { r.State = store.StateAnswered; return nil, nil }})
					return err
				}},
				{"QueueMail", func(ctx context.Context, i int) error {
					m := mail
					m[0].MessageID = fmt.Sprintf("late-%d", i)
					return s.QueueMail(ctx, "it", m)
				}},
				{"QueueDigest", func(ctx context.Context, i int) error {
					m := mail
					m[0].MessageID = fmt.Sprintf("digest-%d", i)
					_, err := s.QueueDigest(ctx, "it", fmt.Sprintf("2030-01-%02d", i), m)
					return err
				}},
				{"AddThreadKeys", func(ctx context.Context, i int) error {
					return s.AddThreadKeys(ctx, req.ID, []string{fmt.Sprintf("k%d@x", i)})
				}},
			}
			for i, w := range writes {
				if err := w.write(zombie, 10+i); !errors.Is(err, store.ErrFenced) {
					t.Errorf("%s under a stale generation: %v, want ErrFenced", w.name, err)
				}
				if err := w.write(other, 30+i); !errors.Is(err, store.ErrFenced) {
					t.Errorf("%s under another department's fence: %v, want ErrFenced", w.name, err)
				}
				if err := w.write(live, 50+i); err != nil {
					t.Errorf("%s under the current generation: %v", w.name, err)
				}
			}
			// The refused writes left nothing behind.
			for _, key := range []string{"w10@x", "w30@x"} {
				if seen, err := s.Seen(ctx, "it", key); err != nil || seen {
					t.Errorf("a refused RecordRequest left %s processed (%v)", key, err)
				}
			}
		})
	}
}

// TestClaimToken: only the claim that holds a mail may finish it; a
// replica whose claim lapsed and was taken by another is refused.
func TestClaimToken(t *testing.T) {
	for _, tc := range leaseTargets() {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			seedHistory(t, s)
			l := s.(store.Leaser)
			ctx := t.Context()
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			a, err := l.ClaimMail(ctx, "a", now, 100, time.Minute)
			if err != nil || len(a) < 4 {
				t.Fatalf("a claims %d mails (%v), want at least 4", len(a), err)
			}
			for _, m := range a {
				if m.ClaimToken == "" || m.ClaimToken != a[0].ClaimToken {
					t.Fatalf("claimed mails carry tokens %q and %q, want one non-empty token", m.ClaimToken, a[0].ClaimToken)
				}
				if err := l.CheckClaim(ctx, m.ID, m.ClaimToken); err != nil {
					t.Errorf("CheckClaim of a's own claim: %v", err)
				}
			}
			// a froze; its claims lapse and b claims the mail.
			b, err := l.ClaimMail(ctx, "b", now.Add(2*time.Minute), 100, time.Minute)
			if err != nil || len(b) != len(a) {
				t.Fatalf("b claims %d mails (%v), want %d", len(b), err, len(a))
			}
			za := store.WithClaim(ctx, a[0].ClaimToken)
			marks := []struct {
				name string
				mark func(ctx context.Context, id int64) error
			}{
				{"MarkSent", func(ctx context.Context, id int64) error { return s.MarkSent(ctx, id, now) }},
				{"MarkRetry", func(ctx context.Context, id int64) error { return s.MarkRetry(ctx, id, now.Add(time.Hour), "421") }},
				{"MarkFailed", func(ctx context.Context, id int64) error { return s.MarkFailed(ctx, id, now, "550") }},
				{"HoldMail", func(ctx context.Context, id int64) error {
					return s.HoldMail(ctx, id, now.Add(time.Hour), "limit", now)
				}},
				{"DropMail", func(ctx context.Context, id int64) error { return s.DropMail(ctx, id, now, "stale") }},
			}
			for i, m := range marks {
				id := a[i].ID
				if err := l.CheckClaim(ctx, id, a[0].ClaimToken); !errors.Is(err, store.ErrFenced) {
					t.Errorf("CheckClaim of a's lapsed claim: %v, want ErrFenced", err)
				}
				if err := m.mark(za, id); !errors.Is(err, store.ErrFenced) {
					t.Errorf("%s by a after b claimed the mail: %v, want ErrFenced", m.name, err)
				}
				got, err := s.MailByID(ctx, id)
				if err != nil || got.State != store.MailPending || got.Attempts != a[i].Attempts || got.HeldReason != a[i].HeldReason {
					t.Errorf("%s by a changed the mail: %+v (%v)", m.name, got, err)
				}
				if err := m.mark(store.WithClaim(ctx, b[0].ClaimToken), id); err != nil {
					t.Errorf("%s by b, the claim holder: %v", m.name, err)
				}
			}
		})
	}
}

// TestFrozenTransactionLosesItsLocks: a replica that froze inside
// RecordRequest (its transaction holds the department's ref_counters row)
// must not keep the department's new holder from recording for longer
// than about the lease ttl. Before, the lock lasted the whole freeze.
func TestFrozenTransactionLosesItsLocks(t *testing.T) {
	dsn, pw := freshDatabase(t)
	const ttl = 3 * time.Second
	open := func() store.Store {
		// A query timeout far beyond the ttl: the session limits must end
		// the frozen transaction, not the zombie's own deadline.
		s, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw, LeaseTTL: ttl, QueryTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	zombie, survivor := open(), open()
	frozen := make(chan struct{})
	wake := make(chan struct{})
	zerr := make(chan error, 1)
	go func() {
		_, err := zombie.RecordRequest(t.Context(), fencedRequest("z@x"), func(ref string) ([]store.NewMail, error) {
			close(frozen)
			<-wake // stands still, as a SIGSTOPped process would, with the counter locked
			return receiptFor("z@x")(ref)
		})
		zerr <- err
	}()
	<-frozen
	start := time.Now()
	for {
		_, err := survivor.RecordRequest(t.Context(), fencedRequest("s@x"), receiptFor("s@x"))
		if err == nil {
			break
		}
		if time.Since(start) > 2*ttl {
			close(wake)
			t.Fatalf("the survivor still cannot record %s after the freeze: %v", time.Since(start).Round(time.Millisecond), err)
		}
		t.Logf("survivor: %v", err)
		time.Sleep(ttl / 10)
	}
	waited := time.Since(start)
	t.Logf("the survivor recorded %s after the holder froze in its transaction (ttl %s)", waited.Round(time.Millisecond), ttl)
	if waited > ttl {
		t.Errorf("the survivor waited %s behind a frozen transaction, want <= ttl %s", waited.Round(time.Millisecond), ttl)
	}
	close(wake)
	if err := <-zerr; err == nil {
		t.Error("the zombie's transaction committed after its session should have ended")
	}
}

// TestReplicaWaitsForAMigration: a replica's lock_timeout (ttl/2) does not
// apply to the migration lock, so a replica that starts while another
// holds it waits instead of failing to start.
func TestReplicaWaitsForAMigration(t *testing.T) {
	dsn, pw := freshDatabase(t)
	const ttl = 3 * time.Second
	holder := rawPostgres(t, dsn, pw)
	tx, err := holder.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `SELECT pg_advisory_xact_lock(1633905508)`); err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(ttl, func() { _ = tx.Rollback() }) // longer than lock_timeout ttl/2
	defer release.Stop()
	s, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw, LeaseTTL: ttl, QueryTimeout: 4 * ttl})
	if err != nil {
		t.Fatalf("a replica starting beside a migration: %v", err)
	}
	_ = s.Close()
}
