package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackd/ackd/internal/pgdsn"
)

// TestOpenPostgresRefusesUnverifiedRemote runs without a server: Open must
// refuse before it dials, so a refused DSN fails at once with the reason
// and an allowed one fails later, trying to connect.
func TestOpenPostgresRefusesUnverifiedRemote(t *testing.T) {
	t.Setenv("PGHOST", "")
	t.Setenv("PGSSLMODE", "")
	tests := []struct {
		name, dsn string
		env       map[string]string
		refused   string // part of the error; "" when Open must get past the check
	}{
		{"url without sslmode", "postgres://ackd@192.0.2.10/ackd", nil, `refused: host "192.0.2.10" is not loopback and no sslmode is set`},
		{"url prefer", "postgres://ackd@192.0.2.10/ackd?sslmode=prefer", nil, "sslmode=prefer may fall back to plaintext"},
		{"keywords require", "host=192.0.2.10 user=ackd sslmode=require", nil, "sslmode=require does not check"},
		{"second of two hosts", "host=127.0.0.1,192.0.2.11 user=ackd sslmode=disable", nil, `host "192.0.2.11"`},
		{"remote PGHOST behind a DSN without host", "dbname=ackd user=ackd", map[string]string{"PGHOST": "192.0.2.12"}, `host "192.0.2.12"`},
		{"PGSSLMODE=disable", "host=192.0.2.10 user=ackd", map[string]string{"PGSSLMODE": "disable"}, "sslmode=disable"},
		// Past the check: verified, loopback, socket, PGSSLMODE verifying.
		{"verify-full", "host=192.0.2.10 user=ackd sslmode=verify-full", nil, ""},
		{"loopback plaintext", "postgres://ackd@127.0.0.1:1/ackd?sslmode=disable", nil, ""},
		{"socket", "host=/nonexistent/ackd-test user=ackd", nil, ""},
		{"PGSSLMODE=verify-full", "host=192.0.2.10 user=ackd", map[string]string{"PGSSLMODE": "verify-full"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := OpenOptions(ctx, "postgres", tc.dsn, Options{QueryTimeout: 300 * time.Millisecond})
			if err == nil {
				st.Close()
				t.Fatal("opened a store without a server")
			}
			refused := strings.Contains(err.Error(), "open postgres: refused:")
			if tc.refused != "" && (!refused || !strings.Contains(err.Error(), tc.refused)) {
				t.Errorf("error %q, want a refusal naming %q", err, tc.refused)
			}
			if tc.refused == "" && refused {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestPgdsnHostsMatchPgx: the hosts pgdsn reads from a DSN are the hosts
// pgx dials, so `ackd check` judges what the store will do.
func TestPgdsnHostsMatchPgx(t *testing.T) {
	t.Setenv("PGHOST", "")
	for _, dsn := range []string{
		"postgres://ackd@db.example.test:5432/ackd?sslmode=verify-full",
		"postgres://ackd@h1.example.test:5432,h2.example.test:5433/ackd",
		"postgres://ackd@[::1]:5432,[2001:db8::5]:5433/ackd",
		"postgres://%2Fvar%2Frun%2Fpostgresql/ackd",
		"postgres:///ackd?host=/tmp",
		"postgres://localhost/ackd?host=db.example.test",
		"host=h1.example.test,h2.example.test port=5432,5433 user=ackd",
		"host = 'db.example.test' user=ackd",
		"host=/var/run/postgresql user=ackd",
	} {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("pgx.ParseConfig(%q): %v", dsn, err)
		}
		var want []string
		for _, h := range append([]string{cfg.Host}, fallbackHosts(cfg)...) {
			if !slices.Contains(want, h) {
				want = append(want, h)
			}
		}
		d, err := pgdsn.Parse(dsn)
		if err != nil {
			t.Fatalf("pgdsn.Parse(%q): %v", dsn, err)
		}
		if !slices.Equal(d.Hosts, want) {
			t.Errorf("%q: pgdsn hosts %q, pgx dials %q", dsn, d.Hosts, want)
		}
	}
}

func fallbackHosts(cfg *pgx.ConnConfig) []string {
	var out []string
	for _, f := range cfg.Fallbacks {
		out = append(out, f.Host)
	}
	return out
}
