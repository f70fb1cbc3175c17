package oauth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
)

// presetConfig loads a config whose department's imap section is given, so
// the provider preset fills in what the admin leaves out; only token_url
// is pointed at the test server.
func presetConfig(t *testing.T, imap string) *config.OAuth2Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(`smtp: {host: 127.0.0.1}
departments:
  - name: IT
    address: it@example.test
    imap: {`+imap+`}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 3d}}
    rules: [{name: r, match: {subject: x}, category: default}]
`))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Departments[0].IMAP.OAuth2
}

// TestPresetsAgainstProviders gets a token with each provider preset's
// defaults from a server that enforces what that provider documents: one
// request per token (no guessing the auth style), the scope Microsoft
// wants on each grant, Google's JWT-bearer grant for a service account.
func TestPresetsAgainstProviders(t *testing.T) {
	tests := []struct {
		name     string
		provider oauthtest.Provider
		imap     func(t *testing.T, srv *oauthtest.Server) string
	}{
		{"microsoft365 app-only with a secret", oauthtest.Microsoft, func(t *testing.T, srv *oauthtest.Server) string {
			t.Setenv("ACKD_TEST_M365_SECRET", "s3cret")
			srv.AddClient("m365-app", oauthtest.Client{Secret: "s3cret", Mailbox: "it@example.test"})
			return `provider: microsoft365, username: it@example.test, oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com,
                    token_url: "` + srv.URL + `/token", client_id: m365-app, client_secret_env: ACKD_TEST_M365_SECRET}`
		}},
		{"microsoft365 app-only with an RSA certificate", oauthtest.Microsoft, func(t *testing.T, srv *oauthtest.Server) string {
			c, k, cert := oauthtest.WriteCertificate(t, t.TempDir(), "m365", oauthtest.RSA)
			srv.AddClient("m365-app", oauthtest.Client{Certificate: cert, Mailbox: "it@example.test"})
			return `provider: microsoft365, username: it@example.test, oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com,
                    token_url: "` + srv.URL + `/token", client_id: m365-app, client_certificate_file: ` + c + `, client_key_file: ` + k + `}`
		}},
		{"microsoft365 delegated refresh sends scope", oauthtest.Microsoft, func(t *testing.T, srv *oauthtest.Server) string {
			srv.AddClient("m365-public", oauthtest.Client{})
			file := filepath.Join(t.TempDir(), "it.token")
			if err := WriteRefreshToken(file, srv.IssueRefreshToken("it@example.test")); err != nil {
				t.Fatal(err)
			}
			return `provider: microsoft365, username: it@example.test, oauth2: {flow: refresh_token, tenant: contoso.onmicrosoft.com,
                    token_url: "` + srv.URL + `/token", client_id: m365-public, refresh_token_file: ` + file + `}`
		}},
		{"google service account", oauthtest.Google, func(t *testing.T, srv *oauthtest.Server) string {
			key, _ := srv.AddServiceAccount(t, t.TempDir(), "ackd", "example.test", "https://mail.google.com/")
			return `provider: google, username: it@example.test, oauth2: {flow: service_account, token_url: "` + srv.URL + `/token",
                    service_account_key_file: ` + key + `}`
		}},
		{"google refresh token", oauthtest.Google, func(t *testing.T, srv *oauthtest.Server) string {
			srv.AddClient("desktop.apps.googleusercontent.com", oauthtest.Client{Secret: "GOCSPX-x"})
			t.Setenv("ACKD_TEST_GOOGLE_SECRET", "GOCSPX-x")
			file := filepath.Join(t.TempDir(), "it.token")
			if err := WriteRefreshToken(file, srv.IssueRefreshToken("it@example.test")); err != nil {
				t.Fatal(err)
			}
			return `provider: google, username: it@example.test, oauth2: {flow: refresh_token, token_url: "` + srv.URL + `/token",
                    client_id: desktop.apps.googleusercontent.com, client_secret_env: ACKD_TEST_GOOGLE_SECRET, refresh_token_file: ` + file + `}`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.StartAs(t, "127.0.0.1:0", tt.provider)
			oc := presetConfig(t, tt.imap(t, srv))
			a, err := ForConfig(oc, "it@example.test", "127.0.0.1", 993, quiet())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.src.Token(t.Context()); err != nil {
				t.Fatalf("token: %v (server refusals %q)", err, srv.Refusals())
			}
			if n := srv.TokenCalls(); n != 1 {
				t.Errorf("%d requests to the token endpoint for one token, want 1", n)
			}
		})
	}
}

// TestAuthStyleNotGuessed: a refused request is sent once. x/oauth2's
// guess sends it again with the other client authentication, which
// doubles every failed refresh and every device-login poll.
func TestAuthStyleNotGuessed(t *testing.T) {
	for _, p := range []struct {
		name     string
		provider oauthtest.Provider
		preset   string
	}{{"microsoft365", oauthtest.Microsoft, "tenant: contoso.onmicrosoft.com, "}, {"google", oauthtest.Google, ""}} {
		t.Run(p.name, func(t *testing.T) {
			srv := oauthtest.StartAs(t, "127.0.0.1:0", p.provider)
			srv.AddClient("desk", oauthtest.Client{})
			file := filepath.Join(t.TempDir(), "it.token")
			if err := WriteRefreshToken(file, "rt-revoked"); err != nil {
				t.Fatal(err)
			}
			oc := presetConfig(t, `provider: `+p.name+`, username: it@example.test, oauth2: {flow: refresh_token, `+p.preset+
				`token_url: "`+srv.URL+`/token", client_id: desk, refresh_token_file: `+file+`}`)
			src, err := NewSource(oc, quiet())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
			if n := srv.TokenCalls(); n != 1 {
				t.Errorf("%d requests for one refused refresh, want 1", n)
			}
		})
	}
}

func TestMicrosoftRefusesNonRSACertificate(t *testing.T) {
	srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Microsoft)
	c, k, cert := oauthtest.WriteCertificate(t, t.TempDir(), "m365", oauthtest.ECDSA)
	srv.AddClient("m365-app", oauthtest.Client{Certificate: cert, Mailbox: "it@example.test"})
	oc := presetConfig(t, `provider: microsoft365, username: it@example.test, oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com,
                    token_url: "`+srv.URL+`/token", client_id: m365-app, client_certificate_file: `+c+`, client_key_file: `+k+`}`)
	_, err := NewSource(oc, quiet())
	if err == nil || !strings.Contains(err.Error(), c) || !strings.Contains(err.Error(), "RSA certificates only") || !strings.Contains(err.Error(), "ECDSA P-256") {
		t.Fatalf("err = %v; want a refusal naming %s, its ECDSA key and that Entra takes RSA only", err, c)
	}

	// The server refuses such an assertion too, so a test that signs one
	// without the preset cannot pass by accident.
	oc.Provider = ""
	src, err := NewSource(oc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("ECDSA assertion to the Microsoft server: err = %v, want invalid_client", err)
	}
	if r := srv.Refusals(); len(r) != 1 || !strings.Contains(r[0], "RSA certificates only") {
		t.Errorf("refusals %q, want the RSA-only rule", r)
	}
}

// TestServiceAccountRefused drives the JWT-bearer grant with one thing
// wrong at a time; the server checks each claim as Google documents.
func TestServiceAccountRefused(t *testing.T) {
	tests := []struct {
		name   string
		sub    string
		scopes []string // delegated to the account
		mangle func(t *testing.T, srv *oauthtest.Server, keyFile string) string
		want   string // in the error ackd reports
		refuse string // in the server's refusal
	}{
		{name: "scope not delegated", sub: "it@example.test", scopes: []string{"https://www.googleapis.com/auth/gmail.readonly"},
			want: "Domain-wide delegation", refuse: "not authorized for any of the scopes"},
		{name: "user of another domain", sub: "it@elsewhere.test", scopes: []string{"https://mail.google.com/"},
			want: "invalid_grant", refuse: "not a user of example.test"},
		{name: "key of another account", sub: "it@example.test", scopes: []string{"https://mail.google.com/"},
			mangle: func(t *testing.T, srv *oauthtest.Server, keyFile string) string {
				// The same client_email and key id with another account's key.
				other, _ := srv.AddServiceAccount(t, t.TempDir(), "other", "example.test")
				return swapKey(t, keyFile, other)
			}, want: "invalid_grant", refuse: "Invalid JWT Signature"},
		{name: "unknown account", sub: "it@example.test", scopes: []string{"https://mail.google.com/"},
			mangle: func(t *testing.T, srv *oauthtest.Server, keyFile string) string {
				return editKey(t, keyFile, `"client_email": "`, `"client_email": "gone-`)
			}, want: "invalid_grant", refuse: "iss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
			key, _ := srv.AddServiceAccount(t, t.TempDir(), "ackd", "example.test", tt.scopes...)
			if tt.mangle != nil {
				key = tt.mangle(t, srv, key)
			}
			oc := &config.OAuth2Config{Provider: config.ProviderGoogle, Flow: config.FlowServiceAccount, TokenURL: srv.URL + "/token",
				ServiceAccountKeyFile: key, Scopes: []string{"https://mail.google.com/"}, Mechanism: config.MechXOAuth2}
			src, err := NewSource(oc, quiet(), WithSubject(tt.sub))
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Token(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if r := srv.Refusals(); len(r) != 1 || !strings.Contains(r[0], tt.refuse) {
				t.Errorf("refusals %q, want one with %q", r, tt.refuse)
			}
		})
	}
}

// TestServiceAccountAssertionClaims checks the server's side of the
// claims x/oauth2/jwt signs: aud, scope and an expired assertion.
func TestServiceAccountAssertionClaims(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(srv *oauthtest.Server)
		aud    string
		scopes []string
		refuse string
	}{
		{name: "wrong audience", aud: "https://oauth2.googleapis.com/token", scopes: []string{"https://mail.google.com/"}, refuse: "audience"},
		{name: "no scope", refuse: "Empty or missing scope"},
		{name: "expired", edit: func(srv *oauthtest.Server) { srv.SetSkew(2 * time.Hour) }, scopes: []string{"https://mail.google.com/"}, refuse: "iat and exp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
			key, _ := srv.AddServiceAccount(t, t.TempDir(), "ackd", "example.test", "https://mail.google.com/")
			b, err := os.ReadFile(key)
			if err != nil {
				t.Fatal(err)
			}
			jc, err := google.JWTConfigFromJSON(b, tt.scopes...)
			if err != nil {
				t.Fatal(err)
			}
			jc.Subject, jc.Audience = "it@example.test", tt.aud
			// control: the same account gets a token with the right claims
			good := *jc
			good.Audience, good.Scopes = "", []string{"https://mail.google.com/"}
			if _, err := good.TokenSource(t.Context()).Token(); err != nil {
				t.Fatalf("control: %v (refusals %q)", err, srv.Refusals())
			}
			if tt.edit != nil {
				tt.edit(srv)
			}
			if _, err := jc.TokenSource(t.Context()).Token(); err == nil {
				t.Fatal("token issued")
			}
			if r := srv.Refusals(); len(r) != 1 || !strings.Contains(r[0], tt.refuse) {
				t.Errorf("refusals %q, want one with %q", r, tt.refuse)
			}
		})
	}
}

func TestServiceAccountKeyErrors(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notJSON, []byte("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oauthClient := filepath.Join(dir, "client_secret.json")
	if err := os.WriteFile(oauthClient, []byte(`{"installed":{"client_id":"x.apps.googleusercontent.com","client_secret":"GOCSPX-secret"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, sub, want string
	}{
		{"missing", filepath.Join(dir, "nope.json"), "it@example.test", "read service account key"},
		{"not JSON", notJSON, "it@example.test", notJSON + " is not a Google service account JSON key"},
		{"an OAuth client, not a service account", oauthClient, "it@example.test", oauthClient + " is not a Google service account JSON key"},
		{"no mailbox", oauthClient, "", "needs the mailbox"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSource(&config.OAuth2Config{Flow: config.FlowServiceAccount, ServiceAccountKeyFile: tt.file, TokenURL: "https://t.test/token"},
				quiet(), WithSubject(tt.sub))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "MIIEvQ") || strings.Contains(err.Error(), "GOCSPX") {
				t.Errorf("error shows the file's contents: %v", err)
			}
		})
	}
}

// swapKey writes a copy of keyFile whose private_key is other's.
func swapKey(t *testing.T, keyFile, other string) string {
	t.Helper()
	a, b := readJSON(t, keyFile), readJSON(t, other)
	a["private_key"] = b["private_key"]
	return writeJSON(t, a)
}

func editKey(t *testing.T, keyFile, old, repl string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%q not in the key file", old)
	}
	f := filepath.Join(t.TempDir(), "edited.json")
	if err := os.WriteFile(f, []byte(strings.Replace(string(b), old, repl, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func readJSON(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeJSON(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "swapped.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
