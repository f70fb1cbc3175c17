package mailwatch

import (
	"log/slog"
	"reflect"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/oauth"
)

// oauthAuth builds the OAuth2 authenticator for an imap or smtp section,
// or returns nil when it logs in with a password.
func oauthAuth(oc *config.OAuth2Config, username, host string, port int, log *slog.Logger) (*oauth.Authenticator, error) {
	if oc == nil {
		return nil, nil
	}
	return oauth.ForConfig(oc, username, host, port, log.With("component", "oauth2"))
}

// sameIMAP compares IMAP settings by value: the OAuth2 block is a pointer
// that differs on every load.
func sameIMAP(a, b config.IMAPConfig) bool { return reflect.DeepEqual(a, b) }
