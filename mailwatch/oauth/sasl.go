package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/ackd/ackd/config"
	"github.com/emersion/go-sasl"
	"github.com/wneessen/go-mail/smtp"
)

// XOAuth2 is the SASL name of Google's and Microsoft's bearer mechanism.
const XOAuth2 = "XOAUTH2"

// NewXOAuth2Client returns a SASL client for XOAUTH2: one initial response
// "user=U\x01auth=Bearer T\x01\x01". go-sasl has no client for it.
func NewXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

type xoauth2Client struct {
	username, token string
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next answers the server's error challenge (a JSON status) with an empty
// response, as the mechanism requires; the server then fails the command
// and its text says why.
func (c *xoauth2Client) Next([]byte) ([]byte, error) { return []byte{}, nil }

// NewClient returns the SASL client for mech (config.MechXOAuth2 or
// config.MechOAuthBearer). host and port go into OAUTHBEARER's message.
func NewClient(mech, username, token, host string, port int) (sasl.Client, error) {
	switch strings.ToLower(mech) {
	case config.MechXOAuth2:
		return NewXOAuth2Client(username, token), nil
	case config.MechOAuthBearer:
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: username, Token: token, Host: host, Port: port}), nil
	}
	return nil, fmt.Errorf("sasl mechanism %q is not xoauth2 or oauthbearer", mech)
}

// SMTPAuth adapts a SASL client to go-mail's smtp.Auth.
func SMTPAuth(c sasl.Client) smtp.Auth { return smtpAuth{c} }

type smtpAuth struct{ c sasl.Client }

func (a smtpAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return a.c.Start() }

func (a smtpAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	return a.c.Next(fromServer)
}

// Authenticator logs one account in with a token from a Source. The same
// value serves IMAP (SASLClient) and SMTP (SMTPAuth).
type Authenticator struct {
	src       *Source
	username  string
	mechanism string
	host      string
	port      int
}

// NewAuthenticator builds an Authenticator for username at host:port.
func NewAuthenticator(src *Source, mechanism, username, host string, port int) *Authenticator {
	return &Authenticator{src: src, username: username, mechanism: mechanism, host: host, port: port}
}

// ForConfig builds the Source and Authenticator for an oauth2: block.
func ForConfig(cfg *config.OAuth2Config, username, host string, port int, log *slog.Logger, opts ...Option) (*Authenticator, error) {
	src, err := NewSource(cfg, log, slices.Concat([]Option{WithSubject(username)}, opts)...)
	if err != nil {
		return nil, err
	}
	return NewAuthenticator(src, cfg.Mechanism, username, host, port), nil
}

// Mechanism is the SASL mechanism name as servers announce it.
func (a *Authenticator) Mechanism() string { return strings.ToUpper(a.mechanism) }

// SASLClient returns a client carrying a current token, and the function
// to call when the server refuses it: that drops the token and reports
// whether an immediate retry with a new one may succeed.
func (a *Authenticator) SASLClient(ctx context.Context) (sasl.Client, func() bool, error) {
	tok, _, err := a.src.token(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := NewClient(a.mechanism, a.username, tok, a.host, a.port)
	if err != nil {
		return nil, nil, err
	}
	return c, func() bool { return a.src.Invalidate(tok) }, nil
}

// SMTPAuth is SASLClient for go-mail's SMTP client.
func (a *Authenticator) SMTPAuth(ctx context.Context) (smtp.Auth, func() bool, error) {
	c, rejected, err := a.SASLClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	return SMTPAuth(c), rejected, nil
}
