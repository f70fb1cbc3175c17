package config

import (
	"strings"
	"testing"
)

// TestProviderWarnings: an imap or smtp block merged into the example
// config keeps the example's host, port, tls and sent_mailbox, which win
// over the provider preset without a word; `ackd check` must say so.
func TestProviderWarnings(t *testing.T) {
	const m365 = `oauth2: {flow: client_credentials, tenant: contoso.onmicrosoft.com, client_id: a, client_secret_env: S}`
	const google = `oauth2: {flow: service_account, service_account_key_file: /etc/ackd/sa.json}`
	tests := []struct {
		name       string
		smtp, imap string
		want       []string // one warning containing each, in order; none when empty
	}{
		{"presets alone", `provider: microsoft365, username: it@contoso.test, ` + m365,
			`provider: microsoft365, username: it@contoso.test, ` + m365, nil},
		{"preset host written out again", `provider: google, host: smtp.gmail.com, port: 587, tls: starttls, username: it@example.test, ` + google,
			`provider: google, host: imap.gmail.com, port: 993, username: it@example.test, ` + google, nil},
		{"example host left in smtp", `provider: microsoft365, host: 127.0.0.1, port: 587, tls: starttls, username: it@contoso.test, ` + m365,
			`provider: microsoft365, username: it@contoso.test, ` + m365,
			[]string{`smtp: provider: microsoft365 means smtp.office365.com:587 (tls starttls), but host, port or tls in the same section make ackd connect to 127.0.0.1:587`}},
		{"example host left in imap", `provider: google, username: it@example.test, ` + google,
			`provider: google, host: 127.0.0.1, port: 993, tls: implicit, username: it@example.test, ` + google,
			[]string{`department "IT" imap: provider: google means imap.gmail.com:993 (tls implicit)`}},
		{"port changed only", `provider: google, port: 465, username: it@example.test, ` + google,
			`provider: google, username: it@example.test, ` + google,
			[]string{`connect to smtp.gmail.com:465 (tls implicit)`}},
		{"example sent_mailbox with google", `provider: google, username: it@example.test, ` + google,
			`provider: google, username: it@example.test, sent_mailbox: Sent, ` + google,
			[]string{`department "IT" imap: sent_mailbox "Sent" with provider: google`}},
		{"example sent_mailbox with microsoft365", `provider: microsoft365, username: it@contoso.test, ` + m365,
			`provider: microsoft365, username: it@contoso.test, sent_mailbox: Sent, ` + m365,
			[]string{`"Sent Items" in English`}},
		{"the provider's own Sent name", `provider: microsoft365, username: it@contoso.test, ` + m365,
			`provider: microsoft365, username: it@contoso.test, sent_mailbox: Sent Items, ` + m365, nil},
		{"no preset: host and sent_mailbox are the admin's", `host: 127.0.0.1`,
			`host: 127.0.0.1, username: it, password_env: P, sent_mailbox: Sent`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ps := parseConfig("/cfgdir/config.yaml", "/cfgdir", []byte(oauthConfig(tt.smtp, tt.imap)))
			if len(ps) > 0 {
				t.Fatalf("a warning case must load; problems:\n%v", ps)
			}
			got := cfg.ProviderWarnings()
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q; want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q; want it to contain %q", got[i], w)
				}
			}
		})
	}
}
