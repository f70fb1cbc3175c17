package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminKeys: reload: defaults to signal and takes watch; rule_tests
// is resolved against the config file's directory.
func TestAdminKeys(t *testing.T) {
	const base = `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, username: it, password_env: IMAP_PW}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 3d}}
    rules: [{name: r1, match: {subject: x}, category: default}]
`
	tests := []struct {
		extra     string
		reload    ReloadMode
		ruleTests string
	}{
		{"", ReloadSignal, ""},
		{"reload: signal\n", ReloadSignal, ""},
		{"reload: watch\nrule_tests: rules.test.yaml\n", ReloadWatch, filepath.Join("/etc/ackd", "rules.test.yaml")},
		{"rule_tests: /srv/ackd/cases.yaml\n", ReloadSignal, "/srv/ackd/cases.yaml"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.extra), func(t *testing.T) {
			cfg, err := Parse("/etc/ackd/config.yaml", []byte(tt.extra+base))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Reload != tt.reload || cfg.RuleTests != tt.ruleTests {
				t.Errorf("reload %v, rule_tests %q; want %v, %q", cfg.Reload, cfg.RuleTests, tt.reload, tt.ruleTests)
			}
		})
	}
}
