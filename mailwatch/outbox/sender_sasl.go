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

// authSASL authenticates with cfg.Auth. A refused token that came from the
// cache is replaced and tried once more; the connection stays usable
// after a 535, so no reconnect is needed.
func (s *Sender) authSASL(ctx context.Context, c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("server offers no AUTH")
	}
	if want := s.cfg.Auth.Mechanism(); !contains(strings.Fields(strings.ToUpper(mechs)), want) {
		return fmt.Errorf("server does not offer %s (it offers %q)", want, mechs)
	}
	for attempt := 0; ; attempt++ {
		a, rejected, err := s.cfg.Auth.SMTPAuth(ctx)
		if err != nil {
			return err
		}
		err = c.Auth(a)
		if err == nil {
			return nil
		}
		// Only a refusal (5xx) says the token was bad; anything else is
		// the connection's problem.
		if !isRefusal(err) || !rejected() || attempt > 0 {
			return err
		}
		s.log.Warn("SMTP server refused the cached OAuth2 token; getting a new one", "err", err)
	}
}

func isRefusal(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}
