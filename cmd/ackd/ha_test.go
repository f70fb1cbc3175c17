package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
)

// wrapped hides the store's Leaser, as the metrics observer does.
type wrapped struct{ store.Store }

func TestHAOptionRefusesAWrappedStore(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var st store.Store = wrapped{}
	if opt, err := haOption(&config.Config{}, st, log); err != nil || opt != nil {
		t.Errorf("without ha: %v, want no option and nil", err)
	}
	cfg := &config.Config{HA: &config.HAConfig{ReplicaID: "a", LeaseTTL: 10 * time.Second}}
	if _, err := haOption(cfg, st, log); err == nil {
		t.Error("a store without leases was accepted for ha")
	}
}
