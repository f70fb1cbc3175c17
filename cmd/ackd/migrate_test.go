package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ackd/ackd/mailwatch/store"
)

// seedSQLite writes a small history into a new SQLite file.
func seedSQLite(t *testing.T, path string, n int) {
	t.Helper()
	s, err := store.Open(t.Context(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		key := "m" + string(rune('a'+i)) + "@example.test"
		_, err := s.RecordRequest(t.Context(), store.NewRequest{Dept: "it", MessageKey: key, MessageID: key, ReceivedAt: time.Now()},
			func(ref string) ([]store.NewMail, error) {
				return []store.NewMail{{Kind: "receipt", MessageID: "ack-" + key, Recipients: []string{"a@example.test"}, Raw: []byte(ref)}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// testPostgresTarget returns a DSN of a fresh database and the name of an
// environment variable holding its password; it skips loudly without a
// test server, and fails in CI.
func testPostgresTarget(t *testing.T) (dsn, pwEnv string) {
	t.Helper()
	base := os.Getenv("ACKD_TEST_POSTGRES")
	if base == "" {
		const how = "ACKD_TEST_POSTGRES is unset; run `scripts/pgstack start && eval \"$(scripts/pgstack env)\"`"
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but the PostgreSQL migrate test cannot run: " + how)
		}
		t.Skip("########## SKIPPING ackd migrate into PostgreSQL: " + how + " ##########")
	}
	pw := os.Getenv("ACKD_TEST_POSTGRES_PASSWORD")
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = pw
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = admin.Close() })
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "ackd_m_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Setenv("ACKD_MIGRATE_TEST_PW", pw)
	return u.String(), "ACKD_MIGRATE_TEST_PW"
}

func TestMigrate(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		from, to := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
		seedSQLite(t, from, 3)
		r := runAckd(t, "migrate", "--from", "sqlite:"+from, "--to", "sqlite:"+to)
		if r.code != 0 || !strings.Contains(r.stdout, "requests             3 rows") {
			t.Fatalf("migrate: %s", r)
		}
		if r := runAckd(t, "migrate", "--from", "sqlite:"+from, "--to", "sqlite:"+to); r.code != 1 || !strings.Contains(r.stderr, "exists") {
			t.Errorf("migrate onto an existing file: %s", r)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		from := filepath.Join(t.TempDir(), "a.db")
		seedSQLite(t, from, 5)
		dsn, env := testPostgresTarget(t)
		args := []string{"migrate", "--from", "sqlite:" + from, "--to", "postgres:" + dsn, "--to-password-env", env}
		r := runAckd(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "requests             5 rows") || !strings.Contains(r.stdout, "outbox               5 rows") {
			t.Fatalf("migrate: %s", r)
		}
		s, err := store.OpenOptions(t.Context(), "postgres", dsn, store.Options{Password: os.Getenv(env)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if open, err := s.OpenRequests(t.Context(), "it"); err != nil || len(open) != 5 {
			t.Errorf("after migrate PostgreSQL holds %d open requests (%v), want 5", len(open), err)
		}
		r = runAckd(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "REFUSED") || !strings.Contains(r.stderr, "not empty") {
			t.Errorf("second migrate into the same database: want exit 1, REFUSED; got %s", r)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		dir := t.TempDir()
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"--from", "sqlite:" + filepath.Join(dir, "missing.db"), "--to", "sqlite:" + filepath.Join(dir, "x.db")}, 1, "no such file"},
			{[]string{"--from", "sqlite:a", "--to", "postgres://u:pw@127.0.0.1:1/x"}, 1, "carries a password"},
			{[]string{"--from", "sqlite:a", "--to", "postgres://u@192.0.2.1:5432/x"}, 1, `refused: host "192.0.2.1" is not loopback and no sslmode is set`},
			{[]string{"--from", "sqlite:a", "--to", "postgres:host=192.0.2.1 sslmode=require"}, 1, "sslmode=require does not check the server's certificate"},
			{[]string{"--from", "mysql:a", "--to", "sqlite:b"}, 2, "unknown store"},
			{[]string{"--from", "sqlite:a"}, 2, "want --from"},
			{[]string{"--from", "sqlite:a", "--to", "sqlite:a"}, 2, "same store"},
			{[]string{"--from", "sqlite:a", "--to", "postgres:x", "--to-password-env", "A", "--to-password-file", "B"}, 2, "not both"},
		} {
			if tc.code == 1 && tc.args[1] == "sqlite:a" {
				// The source must exist to get as far as the target.
				from := filepath.Join(dir, "a.db")
				if _, err := os.Stat(from); err != nil {
					seedSQLite(t, from, 1)
				}
				tc.args[1] = "sqlite:" + from
			}
			r := runAckd(t, append([]string{"migrate"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("ackd migrate %v: want exit %d and %q; got %s", tc.args, tc.code, tc.want, r)
			}
			if strings.Contains(r.stderr, "u:pw") {
				t.Errorf("ackd migrate %v printed the DSN's password: %s", tc.args, r.stderr)
			}
		}
	})
}
