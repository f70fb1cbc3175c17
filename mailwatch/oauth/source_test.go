package oauth

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
)

// fakeClock is a settable clock for the cache and the backoff.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ccConfig(t *testing.T, srv *oauthtest.Server) *config.OAuth2Config {
	t.Setenv("TEST_CLIENT_SECRET", "s3cret")
	srv.AddClient("ackd", oauthtest.Client{Secret: "s3cret", Mailbox: "it@example.test"})
	return &config.OAuth2Config{Flow: config.FlowClientCredentials, TokenURL: srv.URL + "/token",
		ClientID: "ackd", ClientSecret: config.Secret{Env: "TEST_CLIENT_SECRET"}, Mechanism: config.MechXOAuth2}
}

func TestSourceCachesAndRefreshesBeforeExpiry(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	srv.SetLifetime(time.Hour)
	clock := &fakeClock{t: time.Now()}
	src, err := NewSource(ccConfig(t, srv), quiet(), WithClock(clock.now), WithEarly(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(50 * time.Minute)
	again, err := src.Token(ctx)
	if err != nil || again != first || srv.Requests("client_credentials") != 1 {
		t.Fatalf("within lifetime: token changed=%v requests=%d err=%v; want the cached token", again != first, srv.Requests("client_credentials"), err)
	}
	clock.add(6 * time.Minute) // 56 min: inside the 5-minute early margin
	next, err := src.Token(ctx)
	if err != nil || next == first || srv.Requests("client_credentials") != 2 {
		t.Fatalf("inside the early margin: new token=%v requests=%d err=%v; want a refresh", next != first, srv.Requests("client_credentials"), err)
	}
}

func TestSourceInvalidate(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	src, err := NewSource(ccConfig(t, srv), quiet())
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(src, config.MechXOAuth2, "it@example.test", "127.0.0.1", 1)
	_, rejected, err := a.SASLClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rejected() {
		t.Error("a token fresh from the endpoint was refused: retrying at once cannot help, yet Invalidate said it may")
	}
	a.SASLClient(t.Context()) // fetches anew: the refused token was dropped
	_, rejected, err = a.SASLClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !rejected() {
		t.Error("a cached token was refused: Invalidate should say a new token may help")
	}
	if n := srv.Requests("client_credentials"); n != 2 {
		t.Errorf("token requests = %d, want 2 (one per refused token)", n)
	}
}

func TestSourceRefreshTokenRotation(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	srv.AddClient("desk", oauthtest.Client{})
	srv.SetRotate(true)
	file := filepath.Join(t.TempDir(), "refresh.token")
	rt := srv.IssueRefreshToken("it@example.test")
	if err := WriteRefreshToken(file, rt); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	cfg := &config.OAuth2Config{Flow: config.FlowRefreshToken, TokenURL: srv.URL + "/token", ClientID: "desk", RefreshTokenFile: file}
	src, err := NewSource(cfg, quiet(), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := src.Token(t.Context()); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got == rt {
			t.Fatalf("refresh %d: the rotated refresh token was not stored", i)
		} else {
			rt = got
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Errorf("refresh token file mode %v, want 0600", fi.Mode().Perm())
		}
		clock.add(2 * time.Hour)
	}
	srv.RevokeRefreshTokens()
	clock.add(2 * time.Hour)
	_, err = src.Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "ackd oauth login") {
		t.Errorf("revoked refresh token: err = %v, want invalid_grant and a hint to run ackd oauth login", err)
	}
}

func TestSourceBacksOffWhileEndpointDown(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	clock := &fakeClock{t: time.Now()}
	src, err := NewSource(ccConfig(t, srv), quiet(), WithClock(clock.now), WithRetry(time.Second, 4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetDown(true)
	ctx := t.Context()
	_, err = src.Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "503") || errors.Is(err, ErrBackoff) {
		t.Fatalf("endpoint down: err = %v, want the 503 from the endpoint", err)
	}
	srv.SetDown(false)
	if _, err := src.Token(ctx); !errors.Is(err, ErrBackoff) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("within the backoff: err = %v, want ErrBackoff wrapping the last error", err)
	}
	if n := srv.Requests("client_credentials"); n != 0 {
		t.Fatalf("the endpoint was asked during the backoff (%d requests)", n)
	}
	clock.add(time.Second)
	if _, err := src.Token(ctx); err != nil {
		t.Fatalf("after the backoff: %v", err)
	}
}

func TestSourceConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.OAuth2Config
		want string
	}{
		{"secret env unset", config.OAuth2Config{Flow: config.FlowClientCredentials, ClientSecret: config.Secret{Env: "ACKD_TEST_UNSET_SECRET"}}, "ACKD_TEST_UNSET_SECRET is not set"},
		{"secret file missing", config.OAuth2Config{Flow: config.FlowClientCredentials, ClientSecret: config.Secret{File: "/nonexistent/secret"}}, "read secret file"},
		{"refresh without file", config.OAuth2Config{Flow: config.FlowRefreshToken}, "without refresh_token_file"},
		{"unknown flow", config.OAuth2Config{Flow: "implicit"}, `unknown flow "implicit"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSource(&tt.cfg, quiet())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSASLClients(t *testing.T) {
	x, err := NewClient("xoauth2", "it@example.test", "tok", "h", 1)
	if err != nil {
		t.Fatal(err)
	}
	mech, ir, err := x.Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=it@example.test\x01auth=Bearer tok\x01\x01" {
		t.Errorf("XOAUTH2 start = %q %q %v", mech, ir, err)
	}
	if resp, err := x.Next([]byte(`{"status":"401"}`)); err != nil || len(resp) != 0 {
		t.Errorf("XOAUTH2 answer to an error challenge = %q %v, want an empty response", resp, err)
	}

	// OAUTHBEARER is checked against go-sasl's server side of RFC 7628.
	o, err := NewClient("OAUTHBEARER", "it@example.test", "tok", "imap.example.test", 10144)
	if err != nil {
		t.Fatal(err)
	}
	var got sasl.OAuthBearerOptions
	srv := sasl.NewOAuthBearerServer(func(opts sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
		got = opts
		return nil
	})
	_, ir, _ = o.Start()
	if _, done, err := srv.Next(ir); err != nil || !done {
		t.Fatalf("OAUTHBEARER server: done=%v err=%v", done, err)
	}
	if got.Username != "it@example.test" || got.Token != "tok" || got.Host != "imap.example.test" || got.Port != 10144 {
		t.Errorf("OAUTHBEARER carried %+v", got)
	}
	if _, err := NewClient("plain", "u", "t", "h", 1); err == nil {
		t.Error("NewClient accepted PLAIN")
	}
}
