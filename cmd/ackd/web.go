package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"

	"github.com/ackd/ackd/internal/loopback"
	"github.com/ackd/ackd/internal/secret"
)

// startHTTP listens on http.listen and serves the metrics, probes and
// status page until ctx is done. Listening happens now, so a port in use
// stops ackd at start rather than leaving it running unobserved.
func startHTTP(ctx context.Context, cfg *config.Config, st store.Store, d *mailwatch.Daemon, metrics *web.Metrics, log *slog.Logger) error {
	var auth web.BasicAuth
	if cfg.HTTP.BasicAuthUser != "" {
		pw, err := secret.Read("", cfg.HTTP.BasicAuthPasswordFile)
		if err != nil {
			return fmt.Errorf("http basic auth: %w", err)
		}
		auth = web.BasicAuth{User: cfg.HTTP.BasicAuthUser, Password: pw}
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	if host, _, _ := net.SplitHostPort(cfg.HTTP.Listen); auth.User == "" && !loopback.Host(host) {
		log.Warn("the status page is reachable beyond this host without a password; set http.basic_auth_user", "listen", cfg.HTTP.Listen)
	}
	srv := web.New(web.Sources{
		Store:     st,
		Config:    func() *config.Config { return d.Runtime().Config },
		Mailboxes: mailboxes(d),
		Outbox:    d.OutboxFault,
	}, metrics, auth, log.With("component", "http"))
	log.Info("http listening", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("http stopped", "err", err)
		}
	}()
	return nil
}

// mailboxes hands the daemon's session states to web in web's own type,
// so that web needs nothing of the daemon.
func mailboxes(d *mailwatch.Daemon) func() []web.MailboxStatus {
	return func() []web.MailboxStatus {
		sessions := d.Mailboxes()
		out := make([]web.MailboxStatus, len(sessions))
		for i, mb := range sessions {
			out[i] = web.MailboxStatus(mb)
		}
		return out
	}
}

// startPush listens on push.listen for the IMAP server's push
// notifications, which wake the named mailbox's watcher (see
// mailwatch.PushHandler), until ctx is done. The secret is read and the
// port taken now, so either failing stops ackd at start.
func startPush(ctx context.Context, cfg *config.Config, d *mailwatch.Daemon, log *slog.Logger) error {
	pw, err := secret.Read(cfg.Push.Password.Env, cfg.Push.Password.File)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Push.Listen)
	if err != nil {
		return fmt.Errorf("push listen: %w", err)
	}
	plog := log.With("component", "push")
	plog.Info("push listening", "addr", ln.Addr().String())
	go func() {
		if err := mailwatch.ServePush(ctx, ln, mailwatch.PushHandler(pw, d.Wake, plog)); err != nil {
			plog.Error("push stopped", "err", err)
		}
	}()
	return nil
}
