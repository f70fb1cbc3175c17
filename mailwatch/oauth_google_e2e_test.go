package mailwatch_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/oauth"
)

// TestGoogleServiceAccountEndToEnd runs a department the way a Google
// Workspace admin sets one up for a daemon: provider: google, a service
// account with domain-wide delegation whose JWT names the department
// mailbox (sub), for IMAP and SMTP over XOAUTH2. The token server plays
// Google (JWT-bearer grant, delegated scopes, domain) and the OAuth2-only
// Dovecot asks it whether each token is good.
func TestGoogleServiceAccountEndToEnd(t *testing.T) {
	s := requireOAuthStack(t)
	srv := oauthtest.StartAs(t, s.tokenAddr, oauthtest.Google)
	dept, requester := freshAddress("google-it"), freshAddress("alice")
	dir := t.TempDir()
	keyFile, _ := srv.AddServiceAccount(t, dir, "ackd", "example.test", "https://mail.google.com/")
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The requester reads her mail with a refresh token from a browser login.
	srv.AddClient("desktop.apps.googleusercontent.com", oauthtest.Client{})
	rtFile := filepath.Join(dir, "alice.token")
	if err := oauth.WriteRefreshToken(rtFile, srv.IssueRefreshToken(requester)); err != nil {
		t.Fatal(err)
	}
	reader, err := oauth.ForConfig(&config.OAuth2Config{Provider: config.ProviderGoogle, Flow: config.FlowRefreshToken, TokenURL: srv.URL + "/token",
		ClientID: "desktop.apps.googleusercontent.com", RefreshTokenFile: rtFile, Mechanism: config.MechXOAuth2}, requester, "127.0.0.1", 0, quietLog)
	if err != nil {
		t.Fatal(err)
	}

	imapHost, imapPort, _ := net.SplitHostPort(s.imapAddr)
	smtpHost, smtpPort, _ := net.SplitHostPort(s.smtpAddr)
	// Only where the servers are differs from a real Workspace config.
	sa := `{flow: service_account, token_url: "` + srv.URL + `/token", service_account_key_file: ` + keyFile + `}`
	cfgYAML := fmt.Sprintf(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: %s}
smtp: {provider: google, host: %s, port: %s, tls: starttls, ca_file: %s, username: %s, oauth2: `+sa+`}
http: {listen: ""}
departments:
  - name: IT Help Desk
    address: %s
    imap: {provider: google, host: %s, port: %s, tls: starttls, ca_file: %s, username: %s, poll_interval: 1s, oauth2: `+sa+`}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: password, match: {subject: [password]}, category: default}
`, filepath.Join(dir, "ackd.db"), smtpHost, smtpPort, s.caFile, dept, dept, imapHost, imapPort, s.caFile, dept)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(cfgYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if o := cfg.Departments[0].IMAP.OAuth2; o.Mechanism != config.MechXOAuth2 || o.Scopes[0] != "https://mail.google.com/" {
		t.Fatalf("google preset: mechanism %q scopes %v", o.Mechanism, o.Scopes)
	}
	if w := mailwatch.SecretWarnings(cfg); len(w) != 0 {
		t.Errorf("service account key 0600: warnings %q", w)
	}

	t.Run("IMAP login as the department with the service account's token", func(t *testing.T) {
		a, err := oauth.ForConfig(cfg.Departments[0].IMAP.OAuth2, dept, imapHost, 0, quietLog)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.imapLogin(t, a)
		if err != nil {
			t.Fatalf("XOAUTH2 login with a JWT-bearer token: %v (server refusals %q)", err, srv.Refusals())
		}
		c.Close()
	})

	dm := runOAuthDaemon(t, cfg)

	raw := []byte("From: Alice <" + requester + ">\r\nTo: " + dept + "\r\nSubject: password reset please" +
		"\r\nMessage-ID: <" + freshAddress("req") + ">\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease help.\r\n")
	s.submit(t, reader, requester, dept, raw)
	got := s.waitInbox(t, reader, 1)
	if !strings.Contains(got[0], "[REQ-") {
		t.Fatalf("receipt subject %q has no [REQ-n] tag", got[0])
	}
	// IMAP (the test's login and the watcher) and SMTP each got tokens
	// with the JWT-bearer grant; nothing else was asked.
	if n := srv.Requests("urn:ietf:params:oauth:grant-type:jwt-bearer"); n < 3 {
		t.Errorf("JWT-bearer grants = %d, want at least 3 (test login, watcher, outbox)", n)
	}
	if r := srv.Refusals(); len(r) != 0 {
		t.Errorf("token server refused %q", r)
	}
	if err := dm.Ready(); err != nil {
		t.Errorf("daemon not ready: %v", err)
	}
}
