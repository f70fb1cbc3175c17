package store_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/store/storetest"
)

// pgEnv returns the test server's DSN and password from the environment
// that `scripts/pgstack env` prints. Without them the tests skip, except in
// CI, which must run them.
func pgEnv(t testing.TB) (dsn, password string) {
	t.Helper()
	dsn = os.Getenv("ACKD_TEST_POSTGRES")
	if dsn == "" {
		const how = "ACKD_TEST_POSTGRES is unset; run `scripts/pgstack start && eval \"$(scripts/pgstack env)\"`, or scripts/test, which does it"
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but the PostgreSQL store tests cannot run: " + how)
		}
		t.Skip("########## SKIPPING the PostgreSQL store tests: " + how + " ##########")
	}
	return dsn, os.Getenv("ACKD_TEST_POSTGRES_PASSWORD")
}

// withDatabase returns dsn naming database name instead.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("ACKD_TEST_POSTGRES is not a valid URL: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // the last of a repeated keyword wins
}

// rawPostgres opens dsn with password behind the store's back.
func rawPostgres(t testing.TB, dsn, password string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse ACKD_TEST_POSTGRES: %v", err)
	}
	cfg.Password = password
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// freshDatabase creates an empty database for one test and drops it when the
// test ends; it returns the database's DSN and the password.
func freshDatabase(t testing.TB) (dsn, password string) {
	t.Helper()
	dsn, password = pgEnv(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "ackd_t_" + hex.EncodeToString(b[:])
	admin := rawPostgres(t, dsn, password)
	if _, err := admin.ExecContext(t.Context(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already canceled here.
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, dsn, name), password
}

func openPostgres(t testing.TB, dsn, password string) store.Store {
	t.Helper()
	s, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: password})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	pgEnv(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, pw := freshDatabase(t)
		return openPostgres(t, dsn, pw)
	})
}

func TestPostgresDurability(t *testing.T) {
	dsn, pw := freshDatabase(t)
	s, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Durability(t, s, func(t *testing.T) store.Store { return openPostgres(t, dsn, pw) })
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	dsn, pw := freshDatabase(t)
	s := openPostgres(t, dsn, pw)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawPostgres(t, dsn, pw)
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
	_, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if want := fmt.Sprintf("schema version %d, this ackd knows up to %d", v+1, v); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// Replicas starting at once on an empty database: every Open succeeds and
// the schema is created once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn, pw := freshDatabase(t)
	const n = 6
	stores := make([]store.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	var rows, version int
	db := rawPostgres(t, dsn, pw)
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version < 1 {
		t.Errorf("schema_version: %d rows, version %d; want 1 row", rows, version)
	}
	// Each store works on the shared schema and shares the counter.
	for i, s := range stores {
		key := fmt.Sprintf("k%d", i)
		r, err := s.RecordRequest(t.Context(), store.NewRequest{Dept: "it", MessageKey: key, ReceivedAt: time.Now()}, receipt)
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		if want := fmt.Sprintf("REQ-%d", i+1); r.Ref != want {
			t.Errorf("store %d: ref %s, want %s", i, r.Ref, want)
		}
	}
}

// Under READ COMMITTED a duplicate must still be caught before build: the
// department's counter row serialises RecordRequest, and the processed check
// runs after taking it.
func TestPostgresConcurrentDuplicateNeverBuilds(t *testing.T) {
	dsn, pw := freshDatabase(t)
	// Two stores, as two replicas would be.
	a, b := openPostgres(t, dsn, pw), openPostgres(t, dsn, pw)
	const n = 8
	var builds atomic.Int32
	build := func(ref string) ([]store.NewMail, error) {
		builds.Add(1)
		return receipt(ref)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			_, errs[i] = s.RecordRequest(t.Context(), store.NewRequest{Dept: "it", MessageKey: "same", ReceivedAt: time.Now()}, build)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrDuplicate):
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if ok != 1 || builds.Load() != 1 {
		t.Errorf("%d recorded, build called %d times; want 1 and 1", ok, builds.Load())
	}
	// The duplicates spent no reference.
	if r, err := a.RecordRequest(t.Context(), store.NewRequest{Dept: "it", MessageKey: "next", ReceivedAt: time.Now()}, receipt); err != nil || r.Ref != "REQ-2" {
		t.Errorf("next request: %s, %v; want REQ-2", r.Ref, err)
	}
}

func receipt(ref string) ([]store.NewMail, error) {
	return []store.NewMail{{Kind: "receipt", MessageID: "<" + ref + "@ackd>", Recipients: []string{"x@example.test"}, Raw: []byte("x")}}, nil
}

// No error names the password, whether it came through Options or, refused,
// inside the DSN.
func TestPostgresPasswordNeverInErrors(t *testing.T) {
	dsn, pw := pgEnv(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skipf("ACKD_TEST_POSTGRES is not a URL (%v): these cases build URLs", err)
	}
	const secret = "Zq7-never-show-me-4711"
	withPW := func(raw string) string {
		v, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		v.User = url.UserPassword(v.User.Username(), secret)
		return v.String()
	}
	other := *u
	other.Host = "127.0.0.1:1" // loopback, nothing listens
	missingDB := withDatabase(t, dsn, "ackd_no_such_database")
	cases := []struct {
		name     string
		dsn      string
		password string // Options.Password
		mustSay  string // a word the error must contain, so it stays useful
	}{
		{"wrong password", dsn, secret, "password authentication failed"},
		{"right password, unknown database", missingDB, pw, "ackd_no_such_database"},
		{"nothing listening", other.String(), secret, "127.0.0.1"},
		{"password in the URL", withPW(dsn), "", "password"},
		{"password in the URL and in Options", withPW(dsn), secret, "password"},
		{"password as a URL parameter", dsn + "&password=" + secret, "", "password"},
		{"password in key=value form", "host=127.0.0.1 port=15432 user=ackd password=" + secret, "", "password"},
		{"quoted password in key=value form", "host=127.0.0.1 user=ackd password='" + secret + " x'", "", "password"},
		{"password in a malformed URL", "postgres://ackd:" + secret + "@127.0.0.1:notaport/db", "", "password"},
		{"malformed URL, password in Options", "postgres://ackd@127.0.0.1:notaport/db?x=" + secret, secret, "notaport"},
		{"malformed key=value, password in Options", "host='127.0.0.1 user=" + secret, secret, "parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.OpenOptions(t.Context(), "postgres", tc.dsn, store.Options{Password: tc.password, QueryTimeout: 5 * time.Second})
			if err == nil {
				_ = s.Close()
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, leak := range []string{secret, pw} {
				if leak != "" && strings.Contains(msg, leak) {
					t.Errorf("error leaks a password: %q", msg)
				}
			}
			if !strings.Contains(msg, tc.mustSay) {
				t.Errorf("error %q does not say %q", msg, tc.mustSay)
			}
		})
	}
}

// The password given in Options is the one used: without it the same DSN
// cannot log in (the test server has no trust authentication).
func TestPostgresPasswordFromOptions(t *testing.T) {
	dsn, pw := freshDatabase(t)
	if pw == "" {
		t.Skip("ACKD_TEST_POSTGRES_PASSWORD is unset")
	}
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", os.DevNull)
	if s, err := store.Open(t.Context(), "postgres", dsn); err == nil {
		_ = s.Close()
		t.Fatal("open without a password: no error")
	}
	s := openPostgres(t, dsn, pw)
	if err := s.SaveSyncState(t.Context(), "it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: 2}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkPostgresRecordRequest(b *testing.B) {
	dsn, pw := freshDatabase(b)
	s := openPostgres(b, dsn, pw)
	raw := []byte(strings.Repeat("A receipt line of about eighty characters, to make a realistic 2 KB mail.\r\n", 27))
	build := func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{{Kind: "receipt", MessageID: "<" + ref + ".receipt@ackd>", Recipients: []string{"carol@example.test"}, Raw: raw}}, nil
	}
	now := time.Now()
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

func TestPostgresReadOnly(t *testing.T) {
	dsn, pw := freshDatabase(t)
	s, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	storetest.ReadOnly(t, s, func(t *testing.T) store.Store {
		ro, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: pw, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ro.Close() })
		return ro
	})
}
