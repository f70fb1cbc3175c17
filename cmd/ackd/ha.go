package main

import (
	"errors"
	"log/slog"

	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// enableHA makes d a replica when the config has ha:. st must be the raw
// store, not the metrics wrapper around it: only the store itself takes
// leases and claims mail.
func enableHA(d *mailwatch.Daemon, cfg *rules.Config, st store.Store, log *slog.Logger) error {
	if cfg.HA == nil {
		return nil
	}
	l, ok := st.(store.Leaser)
	if !ok {
		return errors.New("ha: the store cannot take leases")
	}
	d.EnableHA(mailwatch.HA{ReplicaID: cfg.HA.ReplicaID, LeaseTTL: cfg.HA.LeaseTTL}, l)
	log.Info("running as a replica", "replica", cfg.HA.ReplicaID, "lease_ttl", cfg.HA.LeaseTTL)
	return nil
}
