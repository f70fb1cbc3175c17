package store_test

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

func leaseTargets() []struct {
	name string
	open func(t *testing.T) store.Store
} {
	return []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"sqlite", func(t *testing.T) store.Store { return openFile(t, filepath.Join(t.TempDir(), "l.db")) }},
		{"postgres", func(t *testing.T) store.Store { dsn, pw := freshDatabase(t); return openPostgres(t, dsn, pw) }},
	}
}

func TestLease(t *testing.T) {
	for _, tc := range leaseTargets() {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.open(t).(store.Leaser)
			ctx := t.Context()
			t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			ttl := 10 * time.Second
			steps := []struct {
				what   string
				holder string
				at     time.Duration
				want   bool
			}{
				{"a takes the free lease", "a", 0, true},
				{"b cannot take a live lease", "b", 5 * time.Second, false},
				{"a renews", "a", 8 * time.Second, true},
				{"b still cannot: the renewal moved the expiry", "b", 15 * time.Second, false},
				{"b takes it once expired", "b", 19 * time.Second, true},
				{"a lost it", "a", 20 * time.Second, false},
			}
			for _, s := range steps {
				got, err := l.AcquireLease(ctx, "it", s.holder, ttl, t0.Add(s.at))
				if err != nil || got != s.want {
					t.Fatalf("%s: AcquireLease = %v, %v; want %v", s.what, got, err, s.want)
				}
			}
			if ok, _ := l.AcquireLease(ctx, "hr", "a", ttl, t0.Add(20*time.Second)); !ok {
				t.Error("leases are per department: a cannot take hr")
			}
			if err := l.ReleaseLease(ctx, "it", "a"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := l.AcquireLease(ctx, "it", "a", ttl, t0.Add(21*time.Second)); ok {
				t.Error("a released a lease it did not hold, and took b's")
			}
			if err := l.ReleaseLease(ctx, "it", "b"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := l.AcquireLease(ctx, "it", "a", ttl, t0.Add(21*time.Second)); !ok {
				t.Error("a cannot take a released lease before its expiry")
			}

			// Racing replicas: exactly one wins a free lease.
			var wg sync.WaitGroup
			wins := make(chan string, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := string(rune('p' + i))
					ok, err := l.AcquireLease(ctx, "race", h, ttl, t0)
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins <- h
					}
				}()
			}
			wg.Wait()
			close(wins)
			if n := len(wins); n != 1 {
				t.Errorf("%d replicas won the same free lease, want 1", n)
			}
		})
	}
}

func TestLiveReplicas(t *testing.T) {
	for _, tc := range leaseTargets() {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.open(t).(store.Leaser)
			ctx := t.Context()
			t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			ttl := 10 * time.Second
			take := func(dept, holder string, at time.Duration) {
				t.Helper()
				if ok, err := l.AcquireLease(ctx, dept, holder, ttl, t0.Add(at)); err != nil || !ok {
					t.Fatalf("take %s for %s: %v %v", dept, holder, ok, err)
				}
			}
			take(store.PresenceLease("b"), "b", 0)
			take(store.PresenceLease("a"), "a", 5*time.Second)
			take("it", "a", 5*time.Second)
			take("hr", "a", 5*time.Second)
			take("sales", "b", 0)
			// c holds a department but announced no presence: not a replica
			// that takes a share, and its lease does not count for a or b.
			take("legal", "c", 5*time.Second)
			got, err := l.LiveReplicas(ctx, t0.Add(8*time.Second))
			want := []store.ReplicaLoad{{ID: "a", Leases: 2}, {ID: "b", Leases: 1}}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("LiveReplicas = %v, %v; want %v", got, err, want)
			}
			// At the expiry instant b is still live (AcquireLease would not
			// take its lease yet); a millisecond later it is gone.
			if got, err := l.LiveReplicas(ctx, t0.Add(ttl)); err != nil || len(got) != 2 {
				t.Errorf("at b's expiry LiveReplicas = %v, %v; want a and b", got, err)
			}
			got, err = l.LiveReplicas(ctx, t0.Add(ttl+time.Millisecond))
			want = []store.ReplicaLoad{{ID: "a", Leases: 2}}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("after b's expiry LiveReplicas = %v, %v; want %v", got, err, want)
			}
			// a's expired department leases no longer count.
			take(store.PresenceLease("a"), "a", 14*time.Second)
			got, err = l.LiveReplicas(ctx, t0.Add(16*time.Second))
			want = []store.ReplicaLoad{{ID: "a", Leases: 0}}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("after a's departments expired LiveReplicas = %v, %v; want %v", got, err, want)
			}
			if err := l.ReleaseLease(ctx, store.PresenceLease("a"), "a"); err != nil {
				t.Fatal(err)
			}
			if got, err := l.LiveReplicas(ctx, t0.Add(16*time.Second)); err != nil || len(got) != 0 {
				t.Errorf("after a left LiveReplicas = %v, %v; want none", got, err)
			}
		})
	}
}

func TestClaimMail(t *testing.T) {
	for _, tc := range leaseTargets() {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			seedHistory(t, s) // a third of the mails stay pending
			l := s.(store.Leaser)
			ctx := t.Context()
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			due, err := s.DueMail(ctx, now, 100)
			if err != nil || len(due) == 0 {
				t.Fatalf("no due mail to claim: %v", err)
			}
			ttl := time.Minute
			a, err := l.ClaimMail(ctx, "a", now, 100, ttl)
			if err != nil || len(a) != len(due) {
				t.Fatalf("a claims %d mails (%v), want %d", len(a), err, len(due))
			}
			for i := range a {
				if a[i].ID != due[i].ID {
					t.Errorf("claim %d is mail %d, want %d (DueMail order)", i, a[i].ID, due[i].ID)
				}
			}
			if b, err := l.ClaimMail(ctx, "b", now.Add(30*time.Second), 100, ttl); err != nil || len(b) != 0 {
				t.Errorf("b claimed %d mails a holds (%v), want 0", len(b), err)
			}
			if again, err := l.ClaimMail(ctx, "a", now.Add(30*time.Second), 100, ttl); err != nil || len(again) != len(a) {
				t.Errorf("a renews %d of its %d claims (%v)", len(again), len(a), err)
			}
			// A retry gives the mail up; a sent mail is never claimed again.
			if err := s.MarkRetry(ctx, a[0].ID, now, "421"); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkSent(ctx, a[1].ID, now); err != nil {
				t.Fatal(err)
			}
			b, err := l.ClaimMail(ctx, "b", now.Add(time.Second), 100, ttl)
			if err != nil || len(b) != 1 || b[0].ID != a[0].ID {
				t.Errorf("after a's retry b claims %v (%v), want mail %d", b, err, a[0].ID)
			}
			// Once a's claims lapse (a died), b takes the rest, minus the sent one.
			b, err = l.ClaimMail(ctx, "b", now.Add(2*time.Minute), 100, ttl)
			if err != nil || len(b) != len(a)-1 {
				t.Errorf("after a's claims lapsed b claims %d (%v), want %d", len(b), err, len(a)-1)
			}
		})
	}
}
