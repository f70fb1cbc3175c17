// Package oauth logs ackd in to IMAP and SMTP with OAuth2 bearer tokens:
// token sources for the client-credentials, refresh-token and (Google
// service account) JWT-bearer grants (golang.org/x/oauth2), cached until shortly before they expire, and the
// SASL mechanisms XOAUTH2 and OAUTHBEARER (RFC 7628) that carry them.
package oauth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/secret"
)

// Defaults for a Source.
const (
	// DefaultEarly is how long before its expiry a cached token is replaced,
	// so a token never expires between fetching it and the server checking
	// it, and a server clock somewhat ahead of ours does not matter.
	DefaultEarly = 2 * time.Minute
	// DefaultMinRetry and DefaultMaxRetry bound the wait after a failed
	// token request before the token endpoint is asked again.
	DefaultMinRetry = time.Second
	DefaultMaxRetry = 5 * time.Minute
)

// ErrBackoff wraps the last token error while the Source waits before asking
// the token endpoint again.
var ErrBackoff = errors.New("oauth2 token endpoint failed recently; waiting before the next try")

// Source hands out access tokens for one oauth2: block. It is safe for
// concurrent use. x/oauth2's ReuseTokenSource is not used for the cache: it
// cannot forget a token the mail server refused (revoked, or expired early
// by a skewed clock), and it binds one context at creation rather than
// honouring each caller's.
type Source struct {
	cfg    *config.OAuth2Config
	fetch  func(ctx context.Context) (*oauth2.Token, error)
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	sub    string // the mailbox a service account acts for

	early, minRetry, maxRetry time.Duration

	mu       sync.Mutex
	tok      *oauth2.Token
	fresh    time.Time // tok is handed out without asking again until then
	served   int       // how often tok was handed out
	failures int
	retryAt  time.Time
	lastErr  error
}

// Option changes a Source.
type Option func(*Source)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithSubject names the mailbox a Google service account acts for (the
// JWT's sub). ForConfig passes the section's username.
func WithSubject(user string) Option { return func(s *Source) { s.sub = user } }

// WithEarly sets how long before expiry a token is replaced.
func WithEarly(d time.Duration) Option { return func(s *Source) { s.early = d } }

// WithRetry sets the backoff after a failed token request.
func WithRetry(minWait, maxWait time.Duration) Option {
	return func(s *Source) { s.minRetry, s.maxRetry = minWait, maxWait }
}

// NewSource builds a token source. It reads the client secret now, so a
// missing secret is reported at start; the refresh token file is read on
// every refresh, so `ackd oauth login` can replace it while ackd runs.
func NewSource(cfg *config.OAuth2Config, log *slog.Logger, opts ...Option) (*Source, error) {
	if cfg == nil {
		return nil, errors.New("oauth2: no configuration")
	}
	s := &Source{
		cfg: cfg, now: time.Now, log: log.With("token_url", cfg.TokenURL),
		client: &http.Client{Timeout: 30 * time.Second},
		early:  DefaultEarly, minRetry: DefaultMinRetry, maxRetry: DefaultMaxRetry,
	}
	for _, o := range opts {
		o(s)
	}
	clientSecret, err := secret.Read(cfg.ClientSecret.Env, cfg.ClientSecret.File)
	if err != nil {
		return nil, fmt.Errorf("oauth2 client secret: %w", err)
	}
	switch cfg.Flow {
	case config.FlowClientCredentials:
		if cfg.ClientCertificateFile != "" || cfg.ClientKeyFile != "" {
			cert, err := LoadClientCert(cfg.ClientCertificateFile, cfg.ClientKeyFile)
			if err != nil {
				return nil, fmt.Errorf("oauth2 client certificate: %w", err)
			}
			if err := providerAccepts(cfg, cert); err != nil {
				return nil, err
			}
			if msg := certExpiry(cert.NotAfter(), s.now()); msg != "" {
				s.log.Warn("OAuth2 client certificate "+msg, "certificate", cfg.ClientCertificateFile, "not_after", cert.NotAfter())
			}
			s.fetch = func(ctx context.Context) (*oauth2.Token, error) { return s.assert(ctx, cert) }
			break
		}
		cc := &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: clientSecret, TokenURL: cfg.TokenURL, Scopes: cfg.Scopes,
			AuthStyle: AuthStyle(cfg.Provider)}
		s.fetch = cc.Token
	case config.FlowRefreshToken:
		if cfg.RefreshTokenFile == "" {
			return nil, errors.New("oauth2: refresh_token flow without refresh_token_file")
		}
		oc := Config(cfg, clientSecret)
		s.fetch = func(ctx context.Context) (*oauth2.Token, error) { return s.refresh(ctx, oc) }
	case config.FlowServiceAccount:
		jc, err := serviceAccount(cfg, s.sub)
		if err != nil {
			return nil, err
		}
		s.fetch = func(ctx context.Context) (*oauth2.Token, error) { return jc.TokenSource(ctx).Token() }
	default:
		return nil, fmt.Errorf("oauth2: unknown flow %q", cfg.Flow)
	}
	return s, nil
}

// Config is the x/oauth2 configuration for cfg, with the client secret
// already read.
func Config(cfg *config.OAuth2Config, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: secret, Scopes: cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, DeviceAuthURL: cfg.DeviceAuthURL,
			AuthStyle: AuthStyle(cfg.Provider)},
	}
}

// AuthStyle is how the provider's token endpoint wants the client
// authenticated. Both Microsoft and Google document client_id and
// client_secret in the request body; saying so spares x/oauth2's guess,
// which sends every request that fails (each device-login poll, a revoked
// refresh token) twice, once with basic auth and once in the body. An
// unknown (generic) endpoint is still guessed.
func AuthStyle(provider string) oauth2.AuthStyle {
	switch provider {
	case config.ProviderMicrosoft365, config.ProviderGoogle:
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// serviceAccount reads a Google service account's JSON key (as the Cloud
// console downloads it) into a JWT-bearer configuration acting for sub.
// Errors name the file, never its contents.
func serviceAccount(cfg *config.OAuth2Config, sub string) (*jwt.Config, error) {
	if sub == "" {
		return nil, errors.New("oauth2: service_account needs the mailbox to act for (the section's username)")
	}
	b, err := os.ReadFile(cfg.ServiceAccountKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read service account key: %w", err)
	}
	jc, err := serviceAccountKey(cfg, b)
	if err != nil {
		return nil, err
	}
	jc.Subject = sub
	// The preset's (or the configured) endpoint, which is also the JWT's
	// audience; the key's own token_uri is Google's as well.
	jc.TokenURL, jc.Audience = cfg.TokenURL, ""
	return jc, nil
}

// serviceAccountKey checks the bytes of a service account's JSON key the
// way Google will: client_email set, private_key an RSA key in PEM.
func serviceAccountKey(cfg *config.OAuth2Config, b []byte) (*jwt.Config, error) {
	jc, err := google.JWTConfigFromJSON(b, cfg.Scopes...)
	if err != nil {
		return nil, fmt.Errorf("service account key file %s is not a Google service account JSON key (Cloud console → IAM & Admin → Service accounts → Keys → Add key → JSON)", cfg.ServiceAccountKeyFile)
	}
	if jc.Email == "" {
		return nil, fmt.Errorf("service account key file %s has no client_email", cfg.ServiceAccountKeyFile)
	}
	if blk, _ := pem.Decode(jc.PrivateKey); blk == nil {
		return nil, fmt.Errorf("service account key file %s has no PEM private_key", cfg.ServiceAccountKeyFile)
	} else if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if _, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			return nil, fmt.Errorf("service account key file %s: private_key is not a valid RSA key", cfg.ServiceAccountKeyFile)
		}
	} else if _, ok := k.(*rsa.PrivateKey); !ok {
		return nil, fmt.Errorf("service account key file %s: private_key is not an RSA key", cfg.ServiceAccountKeyFile)
	}
	return jc, nil
}

// assert asks for an app-only token with a client assertion instead of a
// secret. The assertion is signed anew for every request: it lives ten
// minutes and providers may refuse a jti they have seen.
func (s *Source) assert(ctx context.Context, cert *ClientCert) (*oauth2.Token, error) {
	a, err := cert.Assertion(s.cfg.ClientID, s.cfg.TokenURL, s.now())
	if err != nil {
		return nil, err
	}
	cc := &clientcredentials.Config{
		ClientID: s.cfg.ClientID, TokenURL: s.cfg.TokenURL, Scopes: s.cfg.Scopes,
		// InParams: with no secret, basic auth would send an empty password.
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {a}},
	}
	return cc.Token(ctx)
}

// refresh trades the stored refresh token for an access token, and stores
// the new refresh token when the provider rotated it.
func (s *Source) refresh(ctx context.Context, oc *oauth2.Config) (*oauth2.Token, error) {
	b, err := os.ReadFile(s.cfg.RefreshTokenFile)
	if err != nil {
		return nil, fmt.Errorf("read refresh token (run `ackd oauth login` first): %w", err)
	}
	rt := strings.TrimSpace(string(b))
	if rt == "" {
		return nil, fmt.Errorf("refresh token file %s is empty (run `ackd oauth login`)", s.cfg.RefreshTokenFile)
	}
	var tok *oauth2.Token
	if s.cfg.Provider == config.ProviderMicrosoft365 {
		// Microsoft lists scope as required on a refresh request, which
		// x/oauth2's refresher never sends; clientcredentials sends the
		// scopes and lets grant_type be replaced.
		cc := &clientcredentials.Config{ClientID: oc.ClientID, ClientSecret: oc.ClientSecret, TokenURL: oc.Endpoint.TokenURL,
			Scopes: oc.Scopes, AuthStyle: oc.Endpoint.AuthStyle,
			EndpointParams: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}}
		tok, err = cc.Token(ctx)
	} else {
		tok, err = oc.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		if err := WriteRefreshToken(s.cfg.RefreshTokenFile, tok.RefreshToken); err != nil {
			// The new token works now; the old one may stop working, so say so loudly.
			s.log.Error("OAuth2 provider rotated the refresh token but saving it failed; the next restart may need `ackd oauth login`", "err", err)
		}
	}
	return tok, nil
}

// Token returns a valid access token, from the cache while it has more
// than the early margin left.
func (s *Source) Token(ctx context.Context) (string, error) {
	tok, _, err := s.token(ctx)
	return tok, err
}

// token also reports whether the token had been handed out before (came
// from the cache), which is what makes a refusal worth an immediate retry.
func (s *Source) token(ctx context.Context) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok != nil && now.Before(s.fresh) {
		s.served++
		return s.tok.AccessToken, s.served > 1, nil
	}
	if s.failures > 0 && now.Before(s.retryAt) {
		return "", false, fmt.Errorf("%w (next try in %s): %w", ErrBackoff, s.retryAt.Sub(now).Round(time.Millisecond), s.lastErr)
	}
	tok, err := s.fetch(context.WithValue(ctx, oauth2.HTTPClient, s.client))
	now = s.now()
	if err == nil && tok.AccessToken == "" {
		err = errors.New("token endpoint returned no access_token")
	}
	if err != nil {
		err = fmt.Errorf("get oauth2 token from %s: %w", s.cfg.TokenURL, describe(err, s.cfg.Flow))
		s.lastErr = err
		wait := s.minRetry << min(s.failures, 20)
		if wait > s.maxRetry || wait <= 0 {
			wait = s.maxRetry
		}
		s.failures++
		s.retryAt = now.Add(wait)
		s.log.Error("OAuth2 token request failed", "err", err, "failures", s.failures, "retry_in", wait)
		return "", false, err
	}
	if s.failures > 0 {
		s.log.Info("OAuth2 token request works again", "after_failures", s.failures)
	}
	s.failures, s.lastErr = 0, nil
	s.tok, s.served = tok, 1
	s.fresh = now.Add(365 * 24 * time.Hour) // no expiry given: keep until refused
	if !tok.Expiry.IsZero() {
		// x/oauth2 computed Expiry from expires_in on our clock, so the
		// server's clock does not enter here. A short-lived token is
		// replaced halfway through its life rather than never.
		life := tok.Expiry.Sub(now)
		s.fresh = tok.Expiry.Add(-min(s.early, life/2))
	}
	s.log.Debug("got OAuth2 token", "expires", tok.Expiry)
	return tok.AccessToken, false, nil
}

// Invalidate forgets token if it is still the cached one: the mail server
// refused it (revoked, or expired by the server's clock). It reports
// whether asking for a new token at once may help, which is true when the
// refused token came from the cache; a token fresh from the endpoint that
// is refused means the credentials or the server are wrong.
func (s *Source) Invalidate(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil || s.tok.AccessToken != token {
		return true // already replaced by another caller
	}
	cached := s.served > 1
	s.tok = nil
	return cached
}

// describe turns the token endpoint's OAuth2 error into a sentence an
// admin can act on.
func describe(err error, flow string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	code := re.ErrorCode
	if code == "" {
		// x/oauth2/jwt does not parse the error body.
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			code = body.Error
		}
	}
	hint := ""
	switch {
	case flow == config.FlowServiceAccount && code == "unauthorized_client":
		hint = "; grant the service account's client id the scopes under domain-wide delegation (Google Admin console → Security → Access and data control → API controls → Domain-wide delegation)"
	case flow == config.FlowServiceAccount && code == "invalid_grant":
		hint = "; check the key is current, the server clock, and that the username is a user of the Workspace domain"
	case code == "invalid_grant":
		hint = "; the refresh token was revoked or expired: run `ackd oauth login` again"
	case code == "invalid_client", code == "unauthorized_client":
		hint = "; check client_id and the client secret or certificate"
	case code == "invalid_scope":
		hint = "; check scopes"
	}
	if code == "" && re.Response != nil {
		code = re.Response.Status
	}
	return fmt.Errorf("%s%s: %w", code, hint, err)
}

// WriteRefreshToken stores a refresh token in path with mode 0600,
// atomically, so a crash never leaves half a token.
func WriteRefreshToken(path, token string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".refresh-token-*")
	if err != nil {
		return fmt.Errorf("write refresh token: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename this fails harmlessly
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write refresh token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write refresh token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write refresh token: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write refresh token: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write refresh token: %w", err)
	}
	return nil
}
