package outbox

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// SASLAuth supplies an SMTP AUTH per connection: OAuth2 bearer tokens
// (mailwatch/oauth.Authenticator). rejected is called when the server
// refuses it; it drops the credential and reports whether trying again at
// once with a new one may succeed.
type SASLAuth interface {
	SMTPAuth(ctx context.Context) (a smtp.Auth, rejected func() bool, err error)
	// Mechanism is the SASL name the server must offer, like XOAUTH2.
	Mechanism() string
}

// errTokenRefused marks a refused token that came from the cache: a new
// connection with a new token may succeed.
var errTokenRefused = errors.New("server refused the cached OAuth2 token")

// connectAuth is connect, tried once more at once when the server refused
// a cached token (revoked, or expired early by the server's clock): go-mail
// quits the session after a failed AUTH, so the retry needs a new
// connection, and waiting out the delivery backoff would help nobody.
func (s *Sender) connectAuth(ctx context.Context) (*smtp.Client, error) {
	c, err := s.connect(ctx)
	if errors.Is(err, errTokenRefused) {
		s.log.Warn("SMTP server refused the cached OAuth2 token; reconnecting with a new one", "err", err)
		c, err = s.connect(ctx)
	}
	return c, err
}

// authSASL authenticates with cfg.Auth.
func (s *Sender) authSASL(ctx context.Context, c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("server offers no AUTH")
	}
	if want := s.cfg.Auth.Mechanism(); !contains(strings.Fields(strings.ToUpper(mechs)), want) {
		return fmt.Errorf("server does not offer %s (it offers %q)", want, mechs)
	}
	a, rejected, err := s.cfg.Auth.SMTPAuth(ctx)
	if err != nil {
		return err
	}
	err = c.Auth(a)
	// Only a refusal (5xx) says the token was bad; anything else is the
	// connection's problem.
	if isRefusal(err) && rejected() {
		return fmt.Errorf("%w: %w", errTokenRefused, err)
	}
	return err
}

func isRefusal(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}
