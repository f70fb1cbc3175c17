package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRecentRequestsKept: on SQLite a batch answers LatestRequests from
// the rows kept after the first read (storetest checks that the answers
// are the table's); another process's commit, seen by the writer's
// data_version, and a new writer connection make it read the table again.
func TestRecentRequestsKept(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ackd.db")
	s, other := openTestSQLite(t, path), openTestSQLite(t, path)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	n := 0
	record := func(s *sqlStore, ctx context.Context) string {
		t.Helper()
		n++
		key := fmt.Sprintf("m%d", n)
		r, err := s.RecordRequest(ctx, NewRequest{Dept: "it", MessageKey: key, MessageID: "<" + key + "@example.test>",
			Requester: "jane@example.test", Subject: "Printer " + key, Rule: "printer", ReceivedAt: at.Add(time.Duration(n) * time.Minute)},
			func(ref string) ([]NewMail, error) {
				return []NewMail{{Kind: "receipt", MessageID: "<r-" + key + "@ackd>", Recipients: []string{"jane@example.test"}, Raw: []byte("x")}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return r.Ref
	}
	kept := func() int {
		s.recent.mu.Lock()
		defer s.recent.mu.Unlock()
		return len(s.recent.depts["it"])
	}
	latest := func() []string {
		t.Helper()
		var refs []string
		err := s.Batch(ctx, func(ctx context.Context) error {
			got, err := s.LatestRequests(ctx, "it", at, 10, nil)
			for _, r := range got {
				refs = append(refs, r.Ref)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return refs
	}
	first, second := record(s, ctx), record(s, ctx)
	if got := latest(); !slices.Equal(got, []string{second, first}) || kept() != 2 {
		t.Fatalf("first read: %q with %d kept, want [%s %s] and 2 kept", got, kept(), second, first)
	}
	// A batch's own request joins the kept rows at its commit.
	var third string
	if err := s.Batch(ctx, func(ctx context.Context) error { third = record(s, ctx); return nil }); err != nil {
		t.Fatal(err)
	}
	if kept() != 3 {
		t.Errorf("after a batch that recorded one: %d kept, want 3", kept())
	}
	// Outside a batch, recording forgets (it is not read there).
	fourth := record(s, ctx)
	if kept() != 0 {
		t.Errorf("after recording outside a batch: %d kept, want none", kept())
	}
	if got := latest(); !slices.Equal(got, []string{fourth, third, second, first}) {
		t.Errorf("read again: %q", got)
	}
	// Another connection's commit (another ackd process) is read.
	fifth := record(other, ctx)
	if got := latest(); !slices.Equal(got, []string{fifth, fourth, third, second, first}) {
		t.Errorf("after another process recorded %s: %q", fifth, got)
	}
	// A new writer connection (the old one broke) starts its data_version
	// anew: the kept rows are read again.
	if kept() != 5 {
		t.Fatalf("%d kept, want 5", kept())
	}
	s.recent.mu.Lock()
	s.recent.depts["it"] = s.recent.depts["it"][:1]
	s.recent.mu.Unlock()
	s.recent.conns.Add(1)
	if got := latest(); len(got) != 5 {
		t.Errorf("after a new writer connection: %q, want all 5 read again", got)
	}
}

// TestRecentRequestsAsTheTable: through hundreds of requests, recorded in
// batches, some arriving out of order, some batches rolled back, the kept
// rows answer as the table does, past the point where the oldest are
// dropped.
func TestRecentRequestsAsTheTable(t *testing.T) {
	ctx := t.Context()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "ackd.db"))
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	refsOf := func(rs []Request) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Ref)
		}
		return out
	}
	printer := func(r Request) bool { return r.Rule == "printer" }
	for batch := range 60 {
		rollBack := batch%7 == 3
		err := s.Batch(ctx, func(ctx context.Context) error {
			for range 12 {
				n++
				minute := n
				if rng.IntN(5) == 0 {
					minute -= rng.IntN(300) // out of order, now and then far back
				}
				key := fmt.Sprintf("m%d", n)
				rule := []string{"printer", "vpn", "mail"}[rng.IntN(3)]
				_, err := s.RecordRequest(ctx, NewRequest{Dept: "it", MessageKey: key, MessageID: "<" + key + "@example.test>",
					Requester: "jane@example.test", Subject: "Subject " + key, Rule: rule,
					ReceivedAt: base.Add(time.Duration(minute) * time.Minute)},
					func(ref string) ([]NewMail, error) {
						return []NewMail{{Kind: "receipt", MessageID: "<r-" + key + "@ackd>", Recipients: []string{"jane@example.test"}, Raw: []byte("x")}}, nil
					})
				if err != nil {
					return err
				}
				for _, limit := range []int{1, 50, 200, recentKeep} {
					since := base.Add(time.Duration(n-rng.IntN(400)) * time.Minute)
					got, err := s.LatestRequests(ctx, "it", since, limit, printer)
					if err != nil {
						return err
					}
					table, err := s.latestRows(ctx, s.rd(ctx), "it", since, limit)
					if err != nil {
						return err
					}
					table = slices.DeleteFunc(table, func(r Request) bool { return !printer(r) })
					if g, w := refsOf(got), refsOf(table); !slices.Equal(g, w) {
						t.Fatalf("batch %d, request %d, limit %d: kept rows say %q, the table %q", batch, n, limit, g, w)
					}
				}
			}
			if rollBack {
				return errRolledBack
			}
			return nil
		})
		if err != nil && !(rollBack && errors.Is(err, errRolledBack)) {
			t.Fatal(err)
		}
	}
	s.recent.mu.Lock()
	kept := len(s.recent.depts["it"])
	s.recent.mu.Unlock()
	if kept < recentKeep {
		t.Errorf("%d rows kept at the end, want at least %d (the test reads the kept rows)", kept, recentKeep)
	}
}

var errRolledBack = errors.New("roll back")

// openTestSQLite opens a SQLite store at path for a test, closed with it.
func openTestSQLite(t *testing.T, path string) *sqlStore {
	t.Helper()
	st, err := Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st.(*sqlStore)
}
