package config

import (
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultLeaseTTL bounds a takeover after a crash (ttl + ttl/3) at 20 s.
const DefaultLeaseTTL = 15 * time.Second

// MinLeaseTTL keeps renewals (every ttl/3) at least a second apart, so a
// slow database round trip cannot let a live replica's lease lapse.
const MinLeaseTTL = 3 * time.Second

// DefaultReplicaID is hostname-pid: unique among processes sharing a
// store as long as host names are.
func DefaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "ackd"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// ha reads the ha: section; n nil means a single replica. driver is the
// store driver already read: replicas need a store several machines share.
func (l *loader) ha(n *yaml.Node, driver string) *HAConfig {
	if n == nil {
		return nil
	}
	m := l.mapping(n, "ha", "replica_id", "lease_ttl")
	if m == nil {
		return nil
	}
	hc := &HAConfig{LeaseTTL: DefaultLeaseTTL}
	if v := m.get("replica_id"); v != nil {
		if s, ok := l.str(v, "replica_id"); ok {
			if s == "" {
				l.at(v, "replica_id: empty; leave the key out for hostname-pid")
			}
			hc.ReplicaID = s
		}
	} else {
		hc.ReplicaID = DefaultReplicaID()
	}
	if v := m.get("lease_ttl"); v != nil {
		if d, ok := l.duration(v, "lease_ttl"); ok {
			if d < MinLeaseTTL {
				l.at(v, "lease_ttl: %s is too short; at least %s", d, MinLeaseTTL)
			}
			hc.LeaseTTL = d
		}
	}
	if driver != "postgres" {
		// SQLite lives on one machine: replicas on one host fail together.
		l.at(m.node, "ha: replicas need store.driver: postgres, not %s", driver)
	}
	return hc
}
