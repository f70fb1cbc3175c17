package store

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStmtCachePreparesOnce: on SQLite a query read twice is prepared
// once; one written inside a transaction waits until the next transaction
// begins and is prepared then, outside any (preparing inside would wait
// for the writer's only connection, which the transaction holds).
func TestStmtCachePreparesOnce(t *testing.T) {
	ctx := t.Context()
	s := openTestSQLite(t, filepath.Join(t.TempDir(), "ackd.db"))
	st := Store(s)
	count := func() (stmts, pending int) {
		s.stmts.mu.Lock()
		defer s.stmts.mu.Unlock()
		return len(s.stmts.stmts), len(s.stmts.pending)
	}
	for range 3 {
		if _, err := st.Seen(ctx, "it", "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if n, p := count(); n != 1 || p != 0 {
		t.Fatalf("after three reads: %d statements cached, %d pending; want 1, 0", n, p)
	}
	skip := func(key string) {
		t.Helper()
		if err := st.RecordSkipped(ctx, Skipped{Dept: "it", MessageKey: key, Reason: "list", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	skip("a")
	n1, p1 := count()
	if p1 == 0 {
		t.Fatalf("a write in a transaction left nothing pending (%d cached)", n1)
	}
	skip("b") // its transaction prepares what the first one asked for
	skip("c")
	if n, p := count(); p != 0 || n != n1+p1 {
		t.Fatalf("after three writes: %d cached, %d pending; want %d, 0", n, p, n1+p1)
	}
}
