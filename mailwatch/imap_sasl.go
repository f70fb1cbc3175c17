package mailwatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// SASLAuth supplies a SASL client per login: OAuth2 bearer tokens
// (mailwatch/oauth.Authenticator). rejected is called when the server
// refuses the login; it drops the credential and reports whether trying
// again at once with a new one may succeed.
type SASLAuth interface {
	SASLClient(ctx context.Context) (c sasl.Client, rejected func() bool, err error)
}

// login logs in with the password, or with SASL when Auth is set. A
// server that advertises LOGINDISABLED gets no password (ErrLoginDisabled).
// A refused token that came from the cache (revoked, or expired early by
// the server's clock) is replaced and tried once more on the same
// connection, rather than waiting out the auth backoff.
func (w *Watcher) login(ctx context.Context, c *imapclient.Client) error {
	if w.cfg.Auth == nil {
		if err := c.WaitGreeting(); err != nil {
			return fmt.Errorf("imap greeting: %w", err)
		}
		caps := c.Caps()
		if caps == nil {
			return errors.New("imap capability: the server did not answer")
		}
		if caps.Has(imap.CapLoginDisabled) {
			return loginDisabled(w.cfg.TLS, caps)
		}
		return loginResult(w.cfg.Username, c.Login(w.cfg.Username, w.cfg.Password).Wait())
	}
	for attempt := 0; ; attempt++ {
		sc, rejected, err := w.cfg.Auth.SASLClient(ctx)
		if err != nil {
			return fmt.Errorf("imap login: %w", err)
		}
		err = loginResult(w.cfg.Username, c.Authenticate(sc))
		if err == nil || !errors.Is(err, ErrAuth) {
			return err
		}
		if !rejected() || attempt > 0 {
			return err
		}
		w.log.Warn("IMAP server refused the cached OAuth2 token; getting a new one", "err", err)
	}
}

func loginResult(user string, err error) error {
	if err == nil {
		return nil
	}
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Type == imap.StatusResponseTypeNo {
		return fmt.Errorf("%w as %q: %v", ErrAuth, user, imapErr.Text)
	}
	return fmt.Errorf("imap login: %w", err)
}
