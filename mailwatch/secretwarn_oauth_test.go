package mailwatch_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
	"github.com/ackd/ackd/mailwatch"
)

// TestSecretWarningsOAuth2KeyFile checks that a world-readable client key
// is reported by `ackd check` and at start, and a 0600 one is not.
func TestSecretWarningsOAuth2KeyFile(t *testing.T) {
	certFile, keyFile, _ := oauthtest.WriteCertificate(t, t.TempDir(), "ackd", oauthtest.ECDSA)
	oc := &config.OAuth2Config{Flow: config.FlowClientCredentials, ClientCertificateFile: certFile, ClientKeyFile: keyFile}
	cfg := &config.Config{Departments: []*config.Department{{Name: "IT"}}}
	cfg.Departments[0].IMAP.OAuth2 = oc
	if w := mailwatch.SecretWarnings(cfg); len(w) != 0 {
		t.Errorf("key file 0600: warnings %q; want none", w)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	w := mailwatch.SecretWarnings(cfg)
	if len(w) != 1 || !strings.Contains(w[0], `department "IT" imap oauth2`) || !strings.Contains(w[0], keyFile) {
		t.Errorf("key file 0644: warnings %q; want one naming the department and the file", w)
	}
}

// TestSecretWarningsServiceAccountKey: a Google service account's JSON
// key holds its private key and gets the same check.
func TestSecretWarningsServiceAccountKey(t *testing.T) {
	srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
	keyFile, _ := srv.AddServiceAccount(t, t.TempDir(), "ackd", "example.test", "https://mail.google.com/")
	cfg := &config.Config{}
	cfg.SMTP.OAuth2 = &config.OAuth2Config{Flow: config.FlowServiceAccount, ServiceAccountKeyFile: keyFile}
	if w := mailwatch.SecretWarnings(cfg); len(w) != 0 {
		t.Errorf("key file 0600: warnings %q; want none", w)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if w := mailwatch.SecretWarnings(cfg); len(w) != 1 || !strings.Contains(w[0], "smtp oauth2") || !strings.Contains(w[0], keyFile) {
		t.Errorf("key file 0644: warnings %q; want one naming smtp and the file", w)
	}
}
