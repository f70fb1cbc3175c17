package oauth

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
)

// TestCheckFiles: what `ackd check` finds in the files an oauth2 block
// names, before anything asks a token endpoint. Before it, check read none
// of them: an ECDSA certificate for microsoft365, a key of another
// certificate or a service account key without client_email passed and
// failed only in `ackd run`.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	rsaCrt, rsaKey, rsaCert := oauthtest.WriteCertificate(t, dir, "rsa", oauthtest.RSA)
	ecCrt, ecKey, _ := oauthtest.WriteCertificate(t, dir, "ec", oauthtest.ECDSA)
	srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
	saKey, _ := srv.AddServiceAccount(t, dir, "ackd", "example.test", "https://mail.google.com/")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typeOnly := write("type-only.json", `{"type": "service_account"}`)
	token := write("it-help.token", "rt")
	missing := filepath.Join(dir, "missing.key")
	const cred = "/run/credentials/ackd.service/m365.key"
	m365 := func(crt, key string) *config.OAuth2Config {
		return &config.OAuth2Config{Provider: config.ProviderMicrosoft365, Flow: config.FlowClientCredentials,
			ClientCertificateFile: crt, ClientKeyFile: key}
	}
	sa := func(f string) *config.OAuth2Config {
		return &config.OAuth2Config{Provider: config.ProviderGoogle, Flow: config.FlowServiceAccount,
			ServiceAccountKeyFile: f, Scopes: []string{"https://mail.google.com/"}}
	}
	now := time.Now()
	tests := []struct {
		name                      string
		cfg                       *config.OAuth2Config
		now                       time.Time
		notes, warnings, problems []string // one line containing each
	}{
		{name: "microsoft365 RSA certificate and its key", cfg: m365(rsaCrt, rsaKey), now: now},
		{name: "microsoft365 ECDSA certificate", cfg: m365(ecCrt, ecKey), now: now,
			problems: []string{"has a ECDSA P-256 key; Entra ID (microsoft365) accepts RSA certificates only"}},
		{name: "generic ECDSA certificate", now: now,
			cfg: &config.OAuth2Config{Flow: config.FlowClientCredentials, ClientCertificateFile: ecCrt, ClientKeyFile: ecKey}},
		{name: "key of another certificate", cfg: m365(rsaCrt, ecKey), now: now,
			problems: []string{"does not belong to the certificate"}},
		{name: "key only inside the unit", cfg: m365(rsaCrt, cred), now: now,
			notes:    []string{"not opened: " + cred + " (client_key_file): cannot read it here"},
			warnings: []string{"client_key_file " + cred + " cannot be read here (no such file or directory), so it was not checked; a LoadCredential= file exists only inside the unit"}},
		{name: "ECDSA certificate, key only inside the unit", cfg: m365(ecCrt, cred), now: now,
			notes:    []string{"not opened: " + cred},
			warnings: []string{"LoadCredential="},
			problems: []string{"has a ECDSA key; Entra ID (microsoft365) accepts RSA certificates only"}},
		{name: "certificate expires soon, key only inside the unit", cfg: m365(rsaCrt, cred), now: rsaCert.NotAfter.Add(-24 * time.Hour),
			notes:    []string{"not opened: " + cred},
			warnings: []string{"LoadCredential=", "expires in a day;"}},
		{name: "certificate missing elsewhere", cfg: m365(missing, rsaKey), now: now,
			notes:    []string{"not opened: " + missing},
			warnings: []string{"`ackd run` needs to read it as the service's user"}},
		{name: "certificate expires in ten days", cfg: m365(rsaCrt, rsaKey), now: rsaCert.NotAfter.Add(-10 * 24 * time.Hour),
			warnings: []string{"client certificate " + rsaCrt + " expires in 10 days"}},
		{name: "certificate expired", cfg: m365(rsaCrt, rsaKey), now: rsaCert.NotAfter.Add(time.Hour),
			warnings: []string{"has expired"}},
		{name: "service account key", cfg: sa(saKey), now: now},
		{name: "service account key without client_email", cfg: sa(typeOnly), now: now,
			problems: []string{"has no client_email"}},
		{name: "service account key only inside the unit", cfg: sa("/run/credentials/ackd.service/google-sa.json"), now: now,
			notes:    []string{"(service_account_key_file): cannot read it here"},
			warnings: []string{"LoadCredential="}},
		{name: "refresh token there", now: now,
			cfg:   &config.OAuth2Config{Flow: config.FlowRefreshToken, RefreshTokenFile: token},
			notes: []string{"not opened: " + token + " (refresh_token_file): only `ackd run` reads it"}},
		{name: "refresh token not yet written", now: now,
			cfg:      &config.OAuth2Config{Flow: config.FlowRefreshToken, RefreshTokenFile: missing},
			notes:    []string{"not opened: " + missing},
			warnings: []string{"does not exist yet: run `ackd oauth login`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CheckFiles(tt.cfg, tt.now, map[string]bool{})
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"notes", r.Notes, tt.notes}, {"warnings", r.Warnings, tt.warnings}, {"problems", r.Problems, tt.problems}} {
				if len(c.got) != len(c.want) {
					t.Errorf("%s %q; want %d", c.what, c.got, len(c.want))
					continue
				}
				for i := range c.want {
					if !strings.Contains(c.got[i], c.want[i]) {
						t.Errorf("%s[%d] = %q; want it to contain %q", c.what, i, c.got[i], c.want[i])
					}
				}
			}
		})
	}

	// imap and smtp sharing one block (a YAML anchor) are reported once.
	seen := map[string]bool{}
	a := CheckFiles(m365(rsaCrt, cred), now, seen)
	b := CheckFiles(m365(rsaCrt, cred), now, seen)
	if len(a.Warnings) != 1 || len(b.Warnings)+len(b.Notes)+len(b.Problems) != 0 {
		t.Errorf("shared block: first %+v, second %+v; want the second empty", a, b)
	}
}

// TestCertificateExpiresSoonWarnsAtStart: ackd warned only once the
// certificate had expired, when the token endpoint already refused it.
func TestCertificateExpiresSoonWarnsAtStart(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	cfg := certConfig(t, srv, oauthtest.RSA)
	cert, err := LoadClientCert(cfg.ClientCertificateFile, cfg.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		now  time.Time
		want string
	}{
		{"a year left", time.Now(), ""},
		{"ten days left", cert.NotAfter().Add(-10 * 24 * time.Hour), "OAuth2 client certificate expires in 10 days"},
		{"expired", cert.NotAfter().Add(time.Minute), "OAuth2 client certificate has expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			if _, err := NewSource(cfg, log, WithClock(func() time.Time { return tt.now })); err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == "" && strings.Contains(buf.String(), "certificate"):
				t.Errorf("log %q; want nothing about the certificate", buf.String())
			case tt.want != "" && !strings.Contains(buf.String(), tt.want):
				t.Errorf("log %q; want %q", buf.String(), tt.want)
			}
		})
	}
}
