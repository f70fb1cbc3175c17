package mailwatch_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/wneessen/go-mail/smtp"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/oauth"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// oauthStack is the OAuth2-only Dovecot + Postfix that
// `scripts/mailstack start oauth` runs; its env prints these variables.
type oauthStack struct {
	imapAddr, smtpAddr, tokenAddr, caFile string
	pool                                  *x509.CertPool
}

func requireOAuthStack(t *testing.T) *oauthStack {
	t.Helper()
	s := &oauthStack{
		imapAddr: os.Getenv("ACKD_OAUTH_IMAP_ADDR"), smtpAddr: os.Getenv("ACKD_OAUTH_SMTP_ADDR"),
		tokenAddr: os.Getenv("ACKD_OAUTH_TOKEN_ADDR"), caFile: os.Getenv("ACKD_OAUTH_CA"),
	}
	if s.imapAddr == "" || s.smtpAddr == "" || s.tokenAddr == "" || s.caFile == "" {
		msg := "OAuth2 mail stack not running; scripts/test starts it (scripts/mailstack start oauth)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("end-to-end tests must run in CI: %s", msg)
		}
		t.Skip("SKIP end-to-end: " + msg)
	}
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		t.Fatalf("read OAuth2 stack CA: %v", err)
	}
	s.pool = x509.NewCertPool()
	s.pool.AppendCertsFromPEM(pem)
	return s
}

func freshAddress(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:]) + "@example.test"
}

// imapLogin logs user in to the OAuth2 Dovecot with one SASL client.
func (s *oauthStack) imapLogin(t *testing.T, a *oauth.Authenticator) (*imapclient.Client, error) {
	t.Helper()
	c, err := imapclient.DialStartTLS(s.imapAddr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatalf("dial OAuth2 Dovecot: %v", err)
	}
	sc, _, err := a.SASLClient(t.Context())
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Authenticate(sc); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// submit sends raw through the OAuth2 Postfix, logged in as a's user.
func (s *oauthStack) submit(t *testing.T, a *oauth.Authenticator, from, to string, raw []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.smtpAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	auth, _, err := a.SMTPAuth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(auth); err != nil {
		t.Fatalf("SMTP AUTH %s through Postfix → Dovecot: %v", a.Mechanism(), err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitInbox waits until user's INBOX holds n messages whose subjects it returns.
func (s *oauthStack) waitInbox(t *testing.T, a *oauth.Authenticator, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := s.imapLogin(t, a)
		if err != nil {
			t.Fatalf("IMAP login to read the inbox: %v", err)
		}
		var subjects []string
		if sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err == nil && sel.NumMessages > 0 {
			msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				subjects = append(subjects, m.Envelope.Subject)
			}
		}
		c.Close()
		if len(subjects) >= n {
			return subjects
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox holds %d messages %q after 30s, want %d", len(subjects), subjects, n)
		}
		time.Sleep(200 * time.Millisecond) // polling a real server: no event to wait on
	}
}

func TestOAuth2DepartmentEndToEnd(t *testing.T) {
	s := requireOAuthStack(t)
	srv := oauthtest.Start(t, s.tokenAddr)
	dept, requester := freshAddress("oauth-it"), freshAddress("alice")
	srv.AddClient("ackd-app", oauthtest.Client{Secret: "app-secret", Mailbox: dept})
	srv.AddClient("desk", oauthtest.Client{})
	t.Setenv("ACKD_TEST_OAUTH_SECRET", "app-secret")
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The requester is a delegated user with a refresh token, as after
	// `ackd oauth login`.
	dir := t.TempDir()
	rtFile := filepath.Join(dir, "alice.token")
	if err := oauth.WriteRefreshToken(rtFile, srv.IssueRefreshToken(requester)); err != nil {
		t.Fatal(err)
	}
	alice := func(mech string) *oauth.Authenticator {
		a, err := oauth.ForConfig(&config.OAuth2Config{Flow: config.FlowRefreshToken, TokenURL: srv.URL + "/token",
			ClientID: "desk", RefreshTokenFile: rtFile, Mechanism: mech}, requester, "127.0.0.1", 0, quietLog)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("IMAP login with each mechanism", func(t *testing.T) {
		for _, mech := range []string{config.MechXOAuth2, config.MechOAuthBearer} {
			c, err := s.imapLogin(t, alice(mech))
			if err != nil {
				t.Fatalf("%s login: %v", mech, err)
			}
			c.Close()
		}
		if n := srv.Requests("refresh_token"); n < 2 {
			t.Errorf("refresh grants = %d, want one per fresh source", n)
		}
	})

	t.Run("a token for another user is refused", func(t *testing.T) {
		a, err := oauth.ForConfig(&config.OAuth2Config{Flow: config.FlowRefreshToken, TokenURL: srv.URL + "/token",
			ClientID: "desk", RefreshTokenFile: rtFile, Mechanism: config.MechXOAuth2}, "mallory@example.test", "127.0.0.1", 0, quietLog)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := s.imapLogin(t, a); err == nil {
			c.Close()
			t.Fatal("Dovecot accepted alice's token for mallory")
		}
	})

	t.Run("token server down", func(t *testing.T) {
		srv.SetDown(true)
		defer srv.SetDown(false)
		_, err := s.imapLogin(t, alice(config.MechXOAuth2))
		if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), srv.URL) {
			t.Fatalf("login with the token server down: err = %v, want the 503 and the token URL", err)
		}
	})

	// The department: ackd logs in app-only (client credentials) over
	// OAUTHBEARER for IMAP and XOAUTH2 for SMTP through Postfix → Dovecot.
	imapHost, imapPort, _ := net.SplitHostPort(s.imapAddr)
	smtpHost, smtpPort, _ := net.SplitHostPort(s.smtpAddr)
	oauthYAML := `{flow: client_credentials, token_url: "` + srv.URL + `/token", client_id: ackd-app, client_secret_env: ACKD_TEST_OAUTH_SECRET, mechanism: %s}`
	cfgYAML := fmt.Sprintf(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: %s}
smtp: {host: %s, port: %s, tls: starttls, ca_file: %s, username: %s, keep_alive: 0, oauth2: `+oauthYAML+`}
http: {listen: ""}
departments:
  - name: IT Help Desk
    address: %s
    imap: {host: %s, port: %s, tls: starttls, ca_file: %s, username: %s, poll_interval: 1s, oauth2: `+oauthYAML+`}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: password, match: {subject: [password]}, category: default}
`, filepath.Join(dir, "ackd.db"), smtpHost, smtpPort, s.caFile, dept, config.MechXOAuth2,
		dept, imapHost, imapPort, s.caFile, dept, config.MechOAuthBearer)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(cfgYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	dm := runOAuthDaemon(t, cfg)

	reader := alice(config.MechXOAuth2)
	ask := func(subject string) {
		raw := []byte("From: Alice <" + requester + ">\r\nTo: " + dept + "\r\nSubject: " + subject +
			"\r\nMessage-ID: <" + freshAddress("req") + ">\r\nDate: " + time.Now().Format(time.RFC1123Z) +
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease help.\r\n")
		s.submit(t, reader, requester, dept, raw)
	}

	ask("password reset please")
	got := s.waitInbox(t, reader, 1)
	if !strings.Contains(got[0], "[REQ-") {
		t.Fatalf("receipt subject %q has no [REQ-n] tag", got[0])
	}
	before := srv.Requests("client_credentials")

	// Revoked, then expired early by the server's clock: each time the
	// cached app token is refused and a new one fetched. (keep_alive: 0
	// above makes each receipt authenticate on a new connection; a kept
	// one, authenticated before the revocation, would carry it instead.)
	for i, spoil := range []func(){srv.RevokeAll, srv.ExpireAll} {
		spoil()
		reader = alice(config.MechXOAuth2) // the test's own client does not retry
		ask(fmt.Sprintf("password again %d", i))
		s.waitInbox(t, reader, i+2)
	}
	if after := srv.Requests("client_credentials"); after < before+2 {
		t.Errorf("client-credentials grants went from %d to %d; want a new token after each refusal", before, after)
	}

	// A token server clock an hour off changes nothing: ackd counts expiry
	// from expires_in on its own clock.
	srv.SetSkew(time.Hour)
	if c, err := s.imapLogin(t, alice(config.MechOAuthBearer)); err != nil {
		t.Errorf("login with the token server's clock an hour ahead: %v", err)
	} else {
		c.Close()
	}
	if err := dm.Ready(); err != nil {
		t.Errorf("daemon not ready: %v", err)
	}
}

// runOAuthDaemon runs the daemon on cfg with a fresh store until the test
// ends and returns it; with -v it logs at debug level.
func runOAuthDaemon(t *testing.T, cfg *config.Config) *mailwatch.Daemon {
	t.Helper()
	st, err := store.Open(t.Context(), "sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dm, err := mailwatch.NewDaemon(cfg, templates.Default(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		st.Close()
	})
	return dm
}
