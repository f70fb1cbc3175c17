package config

import (
	"strings"
	"testing"
)

// TestPostgresDSNNeedsVerifiedTLS: a PostgreSQL DSN that can reach a
// non-loopback host must say sslmode=verify-full or verify-ca, as IMAP and
// SMTP may drop TLS only on loopback; `ackd check` reports it at the dsn.
func TestPostgresDSNNeedsVerifiedTLS(t *testing.T) {
	tests := []struct {
		name, dsn string
		wantProb  string // "line:col: message" fragment; empty: none
	}{
		{"remote url, no sslmode", `postgres://ackd@db.example.org/ackd`,
			`config.yaml:1:32: dsn: host "db.example.org" is not loopback and no sslmode is set`},
		{"remote url, prefer", `postgres://ackd@db.example.org/ackd?sslmode=prefer`, "sslmode=prefer may fall back to plaintext"},
		{"remote url, require", `postgres://ackd@db.example.org/ackd?sslmode=require`, "sslmode=require does not check the server's certificate"},
		{"remote keywords, disable", `host=10.0.0.5 dbname=ackd sslmode=disable`, `host "10.0.0.5" is not loopback and sslmode=disable`},
		{"second host remote", `host=127.0.0.1,db.example.org sslmode=disable`, `host "db.example.org"`},
		{"url host list", `postgres://ackd@[::1]:5432,db2.example.org:5433/ackd`, `host "db2.example.org"`},
		{"typo in sslmode", `host=db.example.org sslmode=verify_full`, `sslmode "verify_full" is not one of`},
		{"unparsable", `db.example.org`, "dsn: connection string: want key=value pairs or a postgres:// URL"},
		{"remote verify-full", `postgres://ackd@db.example.org/ackd?sslmode=verify-full`, ""},
		{"remote verify-ca keywords", `host=db1.example.org,db2.example.org sslmode=verify-ca user=ackd`, ""},
		{"loopback disable (the test stack)", `postgres://ackd_test@127.0.0.1:15432/ackd_test?sslmode=disable`, ""},
		{"localhost, no sslmode", `host=localhost dbname=ackd`, ""},
		{"unix socket", `host=/var/run/postgresql dbname=ackd`, ""},
		{"unix socket url", `postgres://%2Fvar%2Frun%2Fpostgresql/ackd`, ""},
		{"no host: local default", `dbname=ackd`, ""},
	}
	body := strings.SplitN(minimalConfigYAML, "\n", 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := "store: {driver: postgres, dsn: '" + tt.dsn + "', password_env: PG_PW}\n"
			_, ps := configProblems(t, "config.yaml", []byte(head+body[0]+"\n"+body[1]))
			var dsnProbs []string
			for _, p := range ps {
				if strings.Contains(p.Msg, "dsn:") {
					dsnProbs = append(dsnProbs, p.Error())
				}
			}
			if tt.wantProb == "" {
				if len(ps) > 0 {
					t.Errorf("problems for %s:\n%v", tt.dsn, ps)
				}
				return
			}
			if len(dsnProbs) != 1 || !strings.Contains(dsnProbs[0], tt.wantProb) {
				t.Errorf("dsn problems %q, want one containing %q", dsnProbs, tt.wantProb)
			}
		})
	}
}
