package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// TestNewDaemonWithHA: HA is part of the daemon's construction. With
// WithHA the scheduler and digester ask the lease holdings, the sender
// claims mail and every watcher retries store writes within ttl/3; without
// it the daemon serves every department and claims nothing.
func TestNewDaemonWithHA(t *testing.T) {
	w := newHistoryWorld(t)
	cfg := w.config("IT Help Desk", "")
	st, err := store.Open(context.Background(), "sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	single, err := NewDaemon(cfg, templates.Default(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	if single.ha.ReplicaID != "" || single.owned != nil || single.sched.owns != nil || single.digest.owns != nil || single.claims.claim != nil {
		t.Error("without WithHA the daemon is set up as a replica")
	}

	if _, err := NewDaemon(cfg, templates.Default(), st, log, WithHA(HA{ReplicaID: "a"}, nil)); err == nil {
		t.Error("WithHA without a store to take leases from was accepted")
	}

	l, ok := st.(store.Leaser)
	if !ok {
		t.Fatal("sqlite store takes no leases")
	}
	d, err := NewDaemon(cfg, templates.Default(), st, log, WithHA(HA{ReplicaID: "a"}, l))
	if err != nil {
		t.Fatal(err)
	}
	if d.ha.ReplicaID != "a" || d.ha.LeaseTTL != defaultLeaseTTL {
		t.Errorf("ha = %+v, want replica a with the default lease ttl", d.ha)
	}
	if d.owned == nil || d.sched.owns == nil || d.digest.owns == nil {
		t.Fatal("scheduler or digester not limited to the leased departments")
	}
	dept := cfg.Departments[0].Key()
	if d.sched.owns(dept) || d.digest.owns(dept) {
		t.Errorf("%s owned before its lease was taken", dept)
	}
	if d.claims.claim == nil || d.claims.check == nil {
		t.Error("the sender does not claim mail")
	}
	if len(d.watched) == 0 {
		t.Fatal("no watchers")
	}
	for name, wt := range d.watched {
		if want := defaultLeaseTTL / 3; wt.storeBackoff.Max != want {
			t.Errorf("watcher %s retries the store after %v, want %v", name, wt.storeBackoff.Max, want)
		}
	}
}
