package main

import (
	"errors"
	"log/slog"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
)

// haOption is the daemon option that makes it a replica when the config
// has ha: (nil without). st must be the raw store, not the metrics wrapper
// around it: only the store itself takes leases and claims mail.
func haOption(cfg *config.Config, st store.Store, log *slog.Logger) (mailwatch.Option, error) {
	if cfg.HA == nil {
		return nil, nil
	}
	l, ok := st.(store.Leaser)
	if !ok {
		return nil, errors.New("ha: the store cannot take leases")
	}
	log.Info("running as a replica", "replica", cfg.HA.ReplicaID, "lease_ttl", cfg.HA.LeaseTTL)
	return mailwatch.WithHA(mailwatch.HA{ReplicaID: cfg.HA.ReplicaID, LeaseTTL: cfg.HA.LeaseTTL}, l), nil
}
