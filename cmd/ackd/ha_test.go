package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// wrapped hides the store's Leaser, as the metrics observer does.
type wrapped struct{ store.Store }

func TestEnableHARefusesAWrappedStore(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var st store.Store = wrapped{}
	if err := enableHA(nil, &rules.Config{}, st, log); err != nil {
		t.Errorf("without ha: %v, want nil", err)
	}
	cfg := &rules.Config{HA: &rules.HAConfig{ReplicaID: "a", LeaseTTL: 10 * time.Second}}
	if err := enableHA(nil, cfg, st, log); err == nil {
		t.Error("a store without leases was accepted for ha")
	}
}
