package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseHA(t *testing.T) {
	const pg = "store: {driver: postgres, dsn: 'postgres://ackd@127.0.0.1:5432/ackd', password_env: PG_PW}\n"
	body := strings.SplitN(minimalConfigYAML, "\n", 2) // smtp line, departments
	tests := []struct {
		name     string
		head     string // lines before the minimal config
		wantID   string // "" with wantTTL 0: no HA
		wantTTL  time.Duration
		wantProb string // "line:col: message" fragment; empty: none
	}{
		{name: "absent", head: pg},
		{name: "defaults", head: pg + "ha: {}\n", wantID: DefaultReplicaID(), wantTTL: 15 * time.Second},
		{name: "set", head: pg + "ha: {replica_id: a1, lease_ttl: 10s}\n", wantID: "a1", wantTTL: 10 * time.Second},
		{name: "block", head: pg + "ha:\n  replica_id: b\n  lease_ttl: 3s\n", wantID: "b", wantTTL: 3 * time.Second},
		{name: "ttl too short", head: pg + "ha:\n  lease_ttl: 2s\n", wantProb: "config.yaml:3:14: lease_ttl: 2s is too short; at least 3s"},
		{name: "ttl no unit", head: pg + "ha: {lease_ttl: 10}\n", wantProb: `config.yaml:2:17: lease_ttl: "10" needs a unit`},
		{name: "ttl negative", head: pg + "ha: {lease_ttl: -5s}\n", wantProb: "config.yaml:2:17: lease_ttl: must be positive"},
		{name: "empty id", head: pg + "ha: {replica_id: ''}\n", wantProb: "config.yaml:2:18: replica_id: empty"},
		{name: "id not a string", head: pg + "ha: {replica_id: [a]}\n", wantProb: "config.yaml:2:18: replica_id: expected a string"},
		{name: "unknown key", head: pg + "ha: {lease_tll: 10s}\n", wantProb: `config.yaml:2:6: ha: unknown key "lease_tll" (did you mean "lease_ttl"?)`},
		{name: "not a mapping", head: pg + "ha: yes\n", wantProb: "config.yaml:2:5: ha: expected a mapping"},
		{name: "sqlite default", head: "ha: {replica_id: a}\n", wantProb: "config.yaml:1:5: ha: replicas need store.driver: postgres, not sqlite"},
		{name: "sqlite explicit", head: "store: {driver: sqlite}\nha:\n  replica_id: a\n", wantProb: "config.yaml:3:3: ha: replicas need store.driver: postgres, not sqlite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ps := configProblems(t, "config.yaml", []byte(tt.head+body[0]+"\n"+body[1]))
			if tt.wantProb != "" {
				var all []string
				found := false
				for _, p := range ps {
					all = append(all, p.Error())
					found = found || strings.Contains(p.Error(), tt.wantProb)
				}
				if !found {
					t.Fatalf("problems %q, want one containing %q", all, tt.wantProb)
				}
				if len(ps) != 1 {
					t.Errorf("problems %q, want only the one", all)
				}
				return
			}
			if len(ps) > 0 {
				t.Fatalf("unexpected problems:\n%v", ps)
			}
			if tt.wantID == "" {
				if cfg.HA != nil {
					t.Fatalf("HA = %+v, want nil", cfg.HA)
				}
				return
			}
			if cfg.HA == nil {
				t.Fatal("HA is nil")
			}
			if cfg.HA.ReplicaID != tt.wantID || cfg.HA.LeaseTTL != tt.wantTTL {
				t.Errorf("HA = %+v, want {%s %s}", *cfg.HA, tt.wantID, tt.wantTTL)
			}
		})
	}
}
