package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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

// A database written by the first schema keeps its requests, marks, keys
// and mail through migration 0002, with the new lifecycle fields filled in
// from what it knew, and its foreign keys still enforced after processed
// was rebuilt.
func TestSQLiteMigrateFromVersion1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ackd.db")
	v1, err := os.ReadFile(filepath.Join("migrations", "sqlite", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 11, 24, 9, 30, 0, 123_000_000, time.UTC)
	answered := received.Add(2 * time.Hour)
	db := rawDB(t, path+"?_pragma=foreign_keys(1)")
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version (version) VALUES (1)`,
		string(v1),
		fmt.Sprintf(`INSERT INTO processed VALUES ('it', 'k1', 'request', %[1]d), ('it', 'k2', 'request', %[1]d), ('it', 's1', 'skipped', %[1]d)`, ms(received)),
		fmt.Sprintf(`INSERT INTO requests (id, dept, seq, ref, message_key, message_id, mailbox, uid, requester, requester_name,
				subject, category, rule, state, received_at, due_at, created_at, updated_at, first_response_at, text)
			VALUES (1, 'it', 1, 'REQ-1', 'k1', '<k1@x>', 'INBOX', 7, 'carol@example.test', 'Carol', 'Printer', 'default', '',
				'acknowledged', %[1]d, %[2]d, %[1]d, %[1]d, NULL, 'It jams.'),
			(2, 'it', 2, 'REQ-2', 'k2', '<k2@x>', 'INBOX', 8, 'dan@example.test', 'Dan', 'VPN', 'access', 'vpn',
				'answered', %[1]d, %[2]d, %[1]d, %[1]d, %[3]d, 'Down.')`, ms(received), ms(received.Add(72*time.Hour)), ms(answered)),
		`INSERT INTO ref_counters VALUES ('it', 2)`,
		`INSERT INTO thread_keys VALUES ('it', 'k1@x', 1), ('it', 'receipt-1@ackd', 1), ('it', 'k2@x', 2)`,
		fmt.Sprintf(`INSERT INTO skipped (dept, mailbox, uid, message_key, message_id, from_addr, subject, reason, refusal, skipped_at)
			VALUES ('it', 'INBOX', 9, 's1', '<s1@x>', 'list@example.test', 'News', 'List-Id present', 'list', %d)`, ms(received)),
		fmt.Sprintf(`INSERT INTO outbox (request_id, dept, kind, message_id, envelope_from, recipients, raw, state, next_attempt, created_at)
			VALUES (1, 'it', 'receipt', '<receipt-1@ackd>', '', '["carol@example.test"]', X'41', 'pending', %[1]d, %[1]d)`, ms(received)),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("build version 1 database: %v\n%s", err, q)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openFile(t, path)
	r1, err := s.RequestByRef(ctx, "it", "REQ-1")
	if err != nil {
		t.Fatal(err)
	}
	want1 := store.Request{ID: 1, Dept: "it", Ref: "REQ-1", MessageKey: "k1", MessageID: "<k1@x>", Mailbox: "INBOX", UID: 7,
		Requester: "carol@example.test", RequesterName: "Carol", Subject: "Printer", Category: "default",
		State: store.StateAcknowledged, ReceivedAt: received, DueAt: received.Add(72 * time.Hour), CreatedAt: received,
		Text: "It jams.", CycleStart: received, LastActivityAt: received,
		// 0009: an open request is planned at once, its real wake-up
		// computed by the scheduler.
		NextWake: time.UnixMilli(0).UTC(), Version: 1}
	if !reflect.DeepEqual(r1, want1) {
		t.Errorf("REQ-1 after migration\n %+v\nwant\n %+v", r1, want1)
	}
	r2, err := s.RequestByRef(ctx, "it", "REQ-2")
	if err != nil {
		t.Fatal(err)
	}
	if !r2.CycleStart.Equal(received) || !r2.AnsweredAt.Equal(answered) || !r2.FirstResponseAt.Equal(answered) ||
		!r2.LastActivityAt.Equal(answered) {
		t.Errorf("REQ-2 after migration: %+v; want CycleStart %v, answered and last activity %v", r2, received, answered)
	}
	evs, err := s.Events(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantEv := []store.Event{{ID: evs[0].ID, RequestID: 2, Dept: "it", Kind: store.EventReceived, At: received,
		Actor: "dan@example.test", Detail: "category access, rule vpn"}}
	if !reflect.DeepEqual(evs, wantEv) {
		t.Errorf("back-filled history of REQ-2 = %+v, want %+v", evs, wantEv)
	}
	for _, key := range []string{"k1", "k2", "s1"} {
		if seen, err := s.Seen(ctx, "it", key); err != nil || !seen {
			t.Errorf("Seen(%s) after migration = %v, %v", key, seen, err)
		}
	}
	if _, err := s.RecordRequest(ctx, store.NewRequest{Dept: "it", MessageKey: "k1", ReceivedAt: received},
		func(string) ([]store.NewMail, error) { return nil, nil }); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("re-recording k1 after migration: err = %v, want ErrDuplicate", err)
	}
	if f, err := s.FindThread(ctx, "it", []string{"<receipt-1@ackd>"}); err != nil || f.ID != 1 {
		t.Errorf("FindThread by the old receipt = %d, %v", f.ID, err)
	}
	if n, err := s.PendingMail(ctx); err != nil || n != 1 {
		t.Errorf("pending after migration = %d, %v; want 1", n, err)
	}
	// The rebuilt outbox holds, drops and counts; the pending receipt's
	// recipient was filled in for the per-address limit.
	if err := s.HoldMail(ctx, 1, received.Add(time.Hour), "per_sender_per_hour", received); err != nil {
		t.Fatalf("HoldMail after migration: %v", err)
	}
	if err := s.MarkSent(ctx, 1, received.Add(time.Hour)); err != nil {
		t.Fatalf("MarkSent after migration: %v", err)
	}
	if got, err := s.SentTimes(ctx, store.SentFilter{To: "Carol@example.test", Since: received}, 5); err != nil || len(got) != 1 {
		t.Errorf("SentTimes to carol after migration = %v, %v; want one", got, err)
	}
	// The rebuilt processed table takes follow-ups.
	if _, err := s.Apply(ctx, store.Change{RequestID: 1, MessageKey: "reply-1", Mailbox: "INBOX", UID: 10,
		Update: func(r *store.Request) ([]store.NewMail, error) { r.Reminders++; return nil, nil }}); err != nil {
		t.Fatalf("Apply after migration: %v", err)
	}
	r, err := s.RecordRequest(ctx, store.NewRequest{Dept: "it", MessageKey: "k3", ReceivedAt: received},
		func(string) ([]store.NewMail, error) { return nil, nil })
	if err != nil || r.Ref != "REQ-3" {
		t.Errorf("next request after migration = %s, %v; want REQ-3", r.Ref, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db = rawDB(t, path+"?_pragma=foreign_keys(1)")
	var version int
	// The latest version is the number of migration files.
	files, err := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("list migrations: %v (%d files)", err, len(files))
	}
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(files) {
		t.Errorf("schema version = %d, %v; want %d", version, err, len(files))
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		t.Error("foreign_key_check reports a dangling reference after migration")
	}
	rows.Close()
	// requests and skipped still reference processed: their marks cannot go.
	for _, key := range []string{"k1", "s1"} {
		if _, err := db.Exec(`DELETE FROM processed WHERE dept = 'it' AND message_key = $1`, key); err == nil {
			t.Errorf("deleting the processed mark of %s: no foreign key error", key)
		}
	}
	var mailbox string
	var uid int64
	if err := db.QueryRow(`SELECT mailbox, uid FROM processed WHERE message_key = 'reply-1' AND outcome = 'followup'`).Scan(&mailbox, &uid); err != nil || mailbox != "INBOX" || uid != 10 {
		t.Errorf("follow-up mark = %q %d, %v; want INBOX 10", mailbox, uid, err)
	}
}

func TestSQLiteReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ackd.db")
	s, err := store.Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.ReadOnly(t, s, func(t *testing.T) store.Store {
		ro, err := store.OpenOptions(t.Context(), "sqlite", path, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ro.Close() })
		return ro
	})
	if _, err := store.OpenOptions(t.Context(), "sqlite", filepath.Join(t.TempDir(), "absent.db"), store.Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file succeeded")
	}
}
