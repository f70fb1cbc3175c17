package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/store/storetest"
)

func openFile(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, filepath.Join(t.TempDir(), "ackd.db"))
	})
}

func TestSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFile(t, ":memory:") })
}

func TestSQLiteDurability(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	s, err := store.Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Durability(t, s, func(t *testing.T) store.Store { return openFile(t, path) })
}

func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	s := openFile(t, path)
	// Write something so the WAL exists too.
	if err := s.SaveSyncState(t.Context(), "it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", filepath.Base(p), mode)
		}
	}
}

// rawDB opens the database file behind the store's back.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	s, err := store.Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("schema version after open = %d, want >= 1", v)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(t.Context(), "sqlite", path)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if want := fmt.Sprintf("schema version %d, this ackd knows up to %d", v+1, v); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestSQLiteReopenKeepsSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	for range 3 {
		s, err := store.Open(t.Context(), "sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := rawDB(t, path).QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("schema_version has %d rows (%v), want 1", rows, err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	openFile(t, path)
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
}

func TestSQLiteBadDSN(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{"", "file:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db") + "?_pragma=foo", filepath.Join(dir, "missing", "a.db")} {
		if s, err := store.Open(t.Context(), "sqlite", dsn); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q): no error", dsn)
		}
	}
	if _, err := store.Open(t.Context(), "oracle", "x"); err == nil {
		t.Error("unknown driver: no error")
	}
}

// Two stores on one file, as with `ackd status` beside the daemon or a
// second daemon by mistake: the guard against double receipts still holds.
func TestSQLiteTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	a, b := openFile(t, path), openFile(t, path)
	build := func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{{Kind: "receipt", MessageID: "<" + ref + "@ackd>", Recipients: []string{"x@example.test"}, Raw: []byte("x")}}, nil
	}
	req := store.NewRequest{Dept: "it", MessageKey: "k", ReceivedAt: time.Now()}
	errs := make(chan error, 2)
	for _, s := range []store.Store{a, b} {
		go func() {
			_, err := s.RecordRequest(t.Context(), req, build)
			errs <- err
		}()
	}
	var ok, dup int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrDuplicate):
			dup++
		default:
			t.Errorf("RecordRequest: %v", err)
		}
	}
	if ok != 1 || dup != 1 {
		t.Errorf("%d recorded, %d duplicates; want 1 and 1", ok, dup)
	}
	if n, err := b.PendingMail(context.Background()); err != nil || n != 1 {
		t.Errorf("pending = %d, %v; want 1", n, err)
	}
}

func BenchmarkRecordRequest(b *testing.B) {
	s, err := store.Open(b.Context(), "sqlite", filepath.Join(b.TempDir(), "ackd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw := []byte(strings.Repeat("A receipt line of about eighty characters, to make a realistic 2 KB mail.\r\n", 27))
	build := func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{{Kind: "receipt", MessageID: "<" + ref + ".receipt@ackd>", Recipients: []string{"carol@example.test"}, Raw: raw}}, nil
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("<bench-%d@client.example.test>", i)
		r := store.NewRequest{Dept: "it", MessageKey: key, MessageID: key, Requester: "carol@example.test",
			Subject: "Benchmark", Category: "default", ReceivedAt: now, DueAt: now.Add(time.Hour), Text: "text"}
		if _, err := s.RecordRequest(b.Context(), r, build); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func TestSQLiteInjectedClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	s, err := store.OpenOptions(t.Context(), "sqlite", ":memory:", store.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	build := func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{{Kind: "receipt", MessageID: "<r@ackd>", Recipients: []string{"x@example.test"}, Raw: []byte("x")}}, nil
	}
	r, err := s.RecordRequest(t.Context(), store.NewRequest{Dept: "it", MessageKey: "k", ReceivedAt: at.Add(-time.Hour)}, build)
	if err != nil {
		t.Fatal(err)
	}
	if !r.CreatedAt.Equal(at) {
		t.Errorf("CreatedAt = %v, want the injected %v", r.CreatedAt, at)
	}
	if early, err := s.DueMail(t.Context(), at.Add(-time.Millisecond), 10); err != nil || len(early) != 0 {
		t.Errorf("due before the injected now: %+v, %v", early, err)
	}
	due, err := s.DueMail(t.Context(), at, 10)
	if err != nil || len(due) != 1 || !due[0].CreatedAt.Equal(at) || !due[0].NextAttempt.Equal(at) {
		t.Errorf("due at the injected now = %+v, %v", due, err)
	}
	if err := s.RecordSkipped(t.Context(), store.Skipped{Dept: "it", MessageKey: "s"}); err != nil {
		t.Fatal(err)
	}
	if sk, err := s.RecentSkipped(t.Context(), 1); err != nil || len(sk) != 1 || !sk[0].At.Equal(at) {
		t.Errorf("skip without At = %+v, %v; want At %v", sk, err, at)
	}
}
