package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackd/ackd/internal/oauthtest"
)

// TestCheckOAuthFilesAndPresets drives `ackd check` the way admin run 1
// did: the Microsoft 365 block merged into the example config (its host
// and sent_mailbox left in), an ECDSA certificate, and key files that
// exist only inside the unit. Before, check said OK to all of them and
// only `ackd run` failed or dialled 127.0.0.1.
func TestCheckOAuthFilesAndPresets(t *testing.T) {
	dir := t.TempDir()
	rsaCrt, _, _ := oauthtest.WriteCertificate(t, dir, "rsa", oauthtest.RSA)
	ecCrt, ecKey, _ := oauthtest.WriteCertificate(t, dir, "ec", oauthtest.ECDSA)
	const cred = "/run/credentials/ackd.service/ackd-test-absent.key"
	config := func(imapExtra, crt, key string) string {
		return `smtp:
  provider: microsoft365
  username: it@contoso.test
  oauth2: &m365
    flow: client_credentials
    tenant: contoso.onmicrosoft.com
    client_id: abc
    client_certificate_file: ` + crt + `
    client_key_file: ` + key + `
departments:
  - name: IT
    address: it@contoso.test
    imap:
      provider: microsoft365
      username: it@contoso.test
` + imapExtra + `      oauth2: *m365
    allowed_senders: ["*@contoso.test"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
`
	}
	tests := []struct {
		name                 string
		yaml                 string
		code                 int
		stderr, stdout, none []string
	}{
		{
			name: "example host, port, tls and sent_mailbox left in",
			yaml: config("      host: 127.0.0.1\n      port: 993\n      tls: implicit\n      sent_mailbox: Sent\n", rsaCrt, cred),
			code: 0,
			stderr: []string{
				`warning: department "IT" imap: provider: microsoft365 means outlook.office365.com:993 (tls implicit), but host, port or tls in the same section make ackd connect to 127.0.0.1:993`,
				`warning: department "IT" imap: sent_mailbox "Sent" with provider: microsoft365`,
				"warning: smtp oauth2: client_key_file " + cred + " cannot be read here",
			},
			stdout: []string{"note: smtp oauth2: not opened: " + cred + " (client_key_file)", "OK (1 department(s), 1 rule(s))"},
		},
		{
			name:   "ECDSA certificate for microsoft365, key readable",
			yaml:   config("", ecCrt, ecKey),
			code:   1,
			stderr: []string{"smtp oauth2: oauth2 client certificate " + ecCrt + " has a ECDSA P-256 key; Entra ID (microsoft365) accepts RSA certificates only"},
			none:   []string{"OK ("},
		},
		{
			name:   "ECDSA certificate for microsoft365, key only inside the unit",
			yaml:   config("", ecCrt, cred),
			code:   1,
			stderr: []string{"accepts RSA certificates only"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runAckd(t, "check", "-c", path)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tt.code, r)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r)
				}
			}
			for _, w := range tt.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r)
				}
			}
			for _, w := range tt.none {
				if strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output has %q:\n%s", w, r)
				}
			}
		})
	}
}
