package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// oauthConfig is a department config whose smtp and imap sections are
// given; each section is written as a flow mapping on line 1 and line 5.
func oauthConfig(smtp, imap string) string {
	return `smtp: {` + smtp + `}
departments:
  - name: IT
    address: it@example.test
    imap: {` + imap + `}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
`
}

func TestOAuth2ConfigValid(t *testing.T) {
	tests := []struct {
		name       string
		smtp, imap string
		check      func(t *testing.T, cfg *Config)
	}{
		{
			name: "microsoft365 app-only fills hosts, endpoints, scopes and mechanism",
			smtp: `provider: microsoft365, username: it@contoso.test, oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com, client_id: abc, client_secret_env: M365_SECRET}`,
			imap: `provider: microsoft365, username: it@contoso.test, oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com, client_id: abc, client_secret_file: secret.txt}`,
			check: func(t *testing.T, cfg *Config) {
				ic, sc := cfg.Departments[0].IMAP, cfg.SMTP
				want := []string{ic.Host, fmt.Sprint(ic.Port), ic.TLS, sc.Host, fmt.Sprint(sc.Port), sc.TLS}
				if got := []string{"outlook.office365.com", "993", TLSImplicit, "smtp.office365.com", "587", TLSStartTLS}; !slices.Equal(want, got) {
					t.Errorf("hosts/ports/tls = %v, want %v", want, got)
				}
				o := ic.OAuth2
				if o.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
					t.Errorf("token url = %q", o.TokenURL)
				}
				if o.Mechanism != MechXOAuth2 || !slices.Equal(o.Scopes, []string{"https://outlook.office365.com/.default"}) {
					t.Errorf("mechanism %q scopes %v", o.Mechanism, o.Scopes)
				}
				if !strings.HasSuffix(o.ClientSecret.File, "/cfgdir/secret.txt") || sc.OAuth2.ClientSecret.Env != "M365_SECRET" {
					t.Errorf("client secrets %+v %+v", o.ClientSecret, sc.OAuth2.ClientSecret)
				}
			},
		},
		{
			name: "google refresh token",
			smtp: `provider: google, username: it@example.test, oauth2: {flow: refresh_token, client_id: abc, client_secret_env: G, refresh_token_file: /var/lib/ackd/google.token}`,
			imap: `provider: google, username: it@example.test, oauth2: {flow: refresh_token, client_id: abc, refresh_token_file: tok}`,
			check: func(t *testing.T, cfg *Config) {
				o := cfg.Departments[0].IMAP.OAuth2
				if cfg.Departments[0].IMAP.Host != "imap.gmail.com" || cfg.SMTP.Host != "smtp.gmail.com" {
					t.Errorf("hosts %q %q", cfg.Departments[0].IMAP.Host, cfg.SMTP.Host)
				}
				// Google's device endpoint refuses Gmail's scope: the login
				// is the browser with a loopback redirect.
				if o.DeviceAuthURL != "" || o.AuthURL != "https://accounts.google.com/o/oauth2/v2/auth" || !slices.Equal(o.Scopes, []string{"https://mail.google.com/"}) {
					t.Errorf("device url %q auth url %q scopes %v", o.DeviceAuthURL, o.AuthURL, o.Scopes)
				}
				if o.Provider != ProviderGoogle {
					t.Errorf("provider %q", o.Provider)
				}
				if o.RefreshTokenFile != "/cfgdir/tok" {
					t.Errorf("refresh token file %q, want it resolved against the config dir", o.RefreshTokenFile)
				}
			},
		},
		{
			name: "google service account with domain-wide delegation",
			smtp: `provider: google, username: it@example.test, oauth2: {flow: service_account, service_account_key_file: /etc/ackd/google-sa.json}`,
			imap: `provider: google, username: it@example.test, oauth2: {flow: service_account, service_account_key_file: sa.json}`,
			check: func(t *testing.T, cfg *Config) {
				o, so := cfg.Departments[0].IMAP.OAuth2, cfg.SMTP.OAuth2
				if o.ServiceAccountKeyFile != "/cfgdir/sa.json" || so.ServiceAccountKeyFile != "/etc/ackd/google-sa.json" {
					t.Errorf("key files %q %q", o.ServiceAccountKeyFile, so.ServiceAccountKeyFile)
				}
				if o.TokenURL != "https://oauth2.googleapis.com/token" || o.Mechanism != MechXOAuth2 || !slices.Equal(o.Scopes, []string{"https://mail.google.com/"}) {
					t.Errorf("token url %q mechanism %q scopes %v", o.TokenURL, o.Mechanism, o.Scopes)
				}
			},
		},
		{
			name: "generic on loopback with explicit everything",
			smtp: `host: 127.0.0.1, port: 10587, tls: none, username: it@example.test, oauth2: {flow: client_credentials, token_url: "http://127.0.0.1:10180/token", client_id: ackd, client_secret_env: S, scopes: [mail, imap], mechanism: XOAUTH2}`,
			imap: `provider: generic, host: 127.0.0.1, port: 10144, tls: none, username: it@example.test, oauth2: {flow: client_credentials, token_url: "http://127.0.0.1:10180/token", client_id: ackd, client_secret_env: S}`,
			check: func(t *testing.T, cfg *Config) {
				if m := cfg.SMTP.OAuth2.Mechanism; m != MechXOAuth2 {
					t.Errorf("smtp mechanism %q", m)
				}
				if m := cfg.Departments[0].IMAP.OAuth2.Mechanism; m != MechOAuthBearer {
					t.Errorf("generic default mechanism %q, want oauthbearer", m)
				}
				if s := cfg.SMTP.OAuth2.Scopes; !slices.Equal(s, []string{"mail", "imap"}) {
					t.Errorf("scopes %v", s)
				}
			},
		},
		{
			name: "microsoft365 app-only with a certificate",
			smtp: `host: 127.0.0.1`,
			imap: `provider: microsoft365, username: it@contoso.test, oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com, client_id: abc, client_certificate_file: ackd.crt, client_key_file: /etc/ackd/ackd.key}`,
			check: func(t *testing.T, cfg *Config) {
				o := cfg.Departments[0].IMAP.OAuth2
				if o.ClientCertificateFile != "/cfgdir/ackd.crt" || o.ClientKeyFile != "/etc/ackd/ackd.key" || o.ClientSecret.IsSet() {
					t.Errorf("certificate %q key %q secret %+v", o.ClientCertificateFile, o.ClientKeyFile, o.ClientSecret)
				}
			},
		},
		{
			name: "password login with a provider preset still works",
			smtp: `provider: google, username: it@example.test, password_env: APP_PASSWORD`,
			imap: `host: 127.0.0.1, username: it, password_env: P`,
			check: func(t *testing.T, cfg *Config) {
				if cfg.SMTP.OAuth2 != nil || cfg.SMTP.Host != "smtp.gmail.com" {
					t.Errorf("smtp %+v", cfg.SMTP)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ps := parseConfig("/cfgdir/config.yaml", "/cfgdir", []byte(oauthConfig(tt.smtp, tt.imap)))
			if len(ps) > 0 {
				t.Fatalf("unexpected problems:\n%v", ps)
			}
			tt.check(t, cfg)
		})
	}
}

func TestOAuth2ConfigProblems(t *testing.T) {
	const okIMAP = `host: 127.0.0.1, username: it, password_env: P`
	const okSMTP = `host: 127.0.0.1`
	tests := []struct {
		name       string
		smtp, imap string
		line       int
		at         string // the problem's column is where this first appears on line
		want       string
	}{
		{"unknown provider", okSMTP, `provider: yahoo, username: it, password_env: P`, 5, `yahoo`, `provider "yahoo" is not microsoft365, google or generic`},
		{"host still required for generic", okSMTP, `provider: generic, username: it, password_env: P`, 5, `{provider`, `imap: missing required key "host"`},
		{"bad flow", okSMTP, `host: h.test, username: it, oauth2: {flow: implicit, client_id: a, token_url: "https://t.test/token"}`, 5, `implicit`, `flow "implicit" is not client_credentials, refresh_token or service_account`},
		{"service account without key", okSMTP, `provider: google, username: it, oauth2: {flow: service_account}`, 5, `{flow`, `service_account needs service_account_key_file`},
		{"service account with a secret", okSMTP, `provider: google, username: it, oauth2: {flow: service_account, service_account_key_file: sa.json, client_secret_env: S}`, 5, `client_secret_env:`, `remove client_secret_env`},
		{"service account with client_id", okSMTP, `provider: google, username: it, oauth2: {flow: service_account, service_account_key_file: sa.json, client_id: a}`, 5, `client_id:`, `remove client_id`},
		{"service account key with refresh flow", okSMTP, `provider: google, username: it, oauth2: {flow: refresh_token, client_id: a, refresh_token_file: f, service_account_key_file: sa.json}`, 5, `service_account_key_file:`, `service_account_key_file is for flow: service_account`},
		{"service account for microsoft365", okSMTP, `provider: microsoft365, username: it, oauth2: {flow: service_account, tenant: t, service_account_key_file: sa.json}`, 5, `service_account,`, `Microsoft 365 app-only access is flow: client_credentials`},
		{"refresh token file with service account", okSMTP, `provider: google, username: it, oauth2: {flow: service_account, service_account_key_file: sa.json, refresh_token_file: f}`, 5, `refresh_token_file:`, `refresh_token_file is for flow: refresh_token`},
		{"google device flow", okSMTP, `provider: google, username: it, oauth2: {flow: refresh_token, client_id: a, refresh_token_file: f, device_auth_url: "https://oauth2.googleapis.com/device/code"}`, 5, `device_auth_url:`, `Google's device flow refuses Gmail's scope`},
		{"client credentials without secret", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, token_url: "https://t.test/token"}`, 5, `{flow`, `client_credentials needs client_secret_env, client_secret_file, or client_certificate_file with client_key_file`},
		{"certificate and secret", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, client_secret_env: S, client_certificate_file: c.pem, client_key_file: k.pem, token_url: "https://t.test/token"}`, 5, `client_certificate_file:`, `set either a client secret or a client certificate, not both`},
		{"key and secret file", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, client_secret_file: s, client_key_file: k.pem, token_url: "https://t.test/token"}`, 5, `client_key_file:`, `set either a client secret or a client certificate, not both`},
		{"certificate without key", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, client_certificate_file: c.pem, token_url: "https://t.test/token"}`, 5, `client_certificate_file:`, `client_certificate_file needs client_key_file`},
		{"key without certificate", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, client_key_file: k.pem, token_url: "https://t.test/token"}`, 5, `client_key_file:`, `client_key_file needs client_certificate_file`},
		{"empty key file name", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, client_certificate_file: c.pem, client_key_file: "", token_url: "https://t.test/token"}`, 5, `""`, `client_key_file is empty`},
		{"certificate with refresh flow", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a, client_certificate_file: c.pem, client_key_file: k.pem, token_url: "https://t.test/token"}`, 5, `client_certificate_file:`, `client certificates are for flow: client_credentials`},
		{"refresh without file", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, client_id: a, token_url: "https://t.test/token"}`, 5, `{flow`, `refresh_token needs refresh_token_file`},
		{"inline secret", okSMTP, `host: h.test, username: it, oauth2: {flow: client_credentials, client_id: a, client_secret: hunter22, token_url: "https://t.test/token"}`, 5, `client_secret:`, `inline client secret refused`},
		{"inline refresh token", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, refresh_token: abc, refresh_token_file: f, client_id: a, token_url: "https://t.test/token"}`, 5, `refresh_token:`, `inline refresh_token refused`},
		{"plain http token url elsewhere", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a, token_url: "http://t.test/token"}`, 5, `"http://`, `token_url "http://t.test/token" is not an https URL`},
		{"no token url for generic", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a}`, 5, `{flow`, `missing token_url`},
		{"password and oauth2", okSMTP, `host: h.test, username: it, password_env: P, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a, token_url: "https://t.test/token"}`, 5, `oauth2:`, `oauth2 replaces the password`},
		{"tenant missing", okSMTP, `provider: microsoft365, username: it, oauth2: {flow: client_credentials, client_id: a, client_secret_env: S}`, 5, `{flow`, `microsoft365 needs tenant`},
		{"google app-only", okSMTP, `provider: google, username: it, oauth2: {flow: client_credentials, client_id: a, client_secret_env: S}`, 5, `client_credentials`, `use flow: service_account`},
		{"bad mechanism", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a, token_url: "https://t.test/token", mechanism: plain}`, 5, `plain`, `mechanism "plain" is not xoauth2 or oauthbearer`},
		{"typo in oauth2", okSMTP, `host: h.test, username: it, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a, token_url: "https://t.test/token", scope: [x]}`, 5, `scope:`, `unknown key "scope" (did you mean "scopes"?)`},
		{"smtp oauth2 without username", `host: h.test, oauth2: {flow: refresh_token, refresh_token_file: f, client_id: a, token_url: "https://t.test/token"}`, okIMAP, 1, `oauth2:`, `smtp: oauth2 needs username`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := oauthConfig(tt.smtp, tt.imap)
			col := strings.Index(strings.Split(cfg, "\n")[tt.line-1], tt.at) + 1
			if col == 0 {
				t.Fatalf("%q is not on line %d", tt.at, tt.line)
			}
			_, ps := parseConfig("config.yaml", ".", []byte(cfg))
			for _, p := range ps {
				if strings.Contains(p.Msg, tt.want) {
					if p.Line != tt.line || p.Col != col {
						t.Errorf("problem %q at %d:%d, want %d:%d", p.Msg, p.Line, p.Col, tt.line, col)
					}
					if strings.Contains(p.Msg, "hunter22") {
						t.Errorf("problem echoes the secret: %s", p.Msg)
					}
					return
				}
			}
			t.Errorf("no problem containing %q; got:\n%v", tt.want, ps)
		})
	}
}
