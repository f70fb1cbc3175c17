package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestTransportSecurity: TLS may be off or unverified only towards this
// machine; every other host, including names that merely start like a
// loopback address, is refused with a message naming the host.
func TestTransportSecurity(t *testing.T) {
	tests := []struct {
		host, opts string
		refused    string // "" = accepted
	}{
		{"127.0.0.1", "tls: none", ""},
		{"127.8.9.10", "tls: none", ""},
		{"localhost", "tls: none", ""},
		{"localhost.", "insecure_skip_verify: true", ""},
		{"::1", "tls: none", ""},
		{"mail.example.test", "tls: starttls", ""},
		{"mail.example.test", "tls: none", "tls: none is allowed only for loopback hosts"},
		{"mail.example.test", "insecure_skip_verify: true", "insecure_skip_verify is allowed only for loopback hosts"},
		{"192.0.2.1", "tls: none", "tls: none is allowed only for loopback hosts"},
		{"0.0.0.0", "tls: none", "tls: none is allowed only for loopback hosts"},
		{"127.0.0.1.example.test", "tls: none", "tls: none is allowed only for loopback hosts"},
		{"localhost.example.test", "insecure_skip_verify: true", "insecure_skip_verify is allowed only for loopback hosts"},
	}
	for _, tt := range tests {
		for _, side := range []string{"smtp", "imap"} {
			t.Run(side+"/"+tt.host+"/"+tt.opts, func(t *testing.T) {
				smtp := "{host: '127.0.0.1', port: 2525, tls: none}"
				imap := "{host: '127.0.0.1', port: 1143, tls: none, username: u, password_env: X}"
				if side == "smtp" {
					smtp = fmt.Sprintf("{host: '%s', port: 2525, %s}", tt.host, tt.opts)
				} else {
					imap = fmt.Sprintf("{host: '%s', port: 1143, username: u, password_env: X, %s}", tt.host, tt.opts)
				}
				cfg := "smtp: " + smtp + `
departments:
  - name: IT
    address: it@example.test
    imap: ` + imap + `
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}}
    rules: [{name: r, category: default, match: {subject: x}}]
`
				_, probs := configProblems(t, "/etc/ackd/config.yaml", []byte(cfg))
				if tt.refused == "" {
					if len(probs) > 0 {
						t.Fatalf("refused: %v", probs)
					}
					return
				}
				if len(probs) != 1 || !strings.Contains(probs[0].Msg, tt.refused) || !strings.Contains(probs[0].Msg, side+":") || !strings.Contains(probs[0].Msg, tt.host) {
					t.Fatalf("problems %v, want one %s problem naming %q and the host", probs, side, tt.refused)
				}
			})
		}
	}
}
