package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestParseHTTPBasicAuth checks the optional basic auth of the status page:
// user and password file go together, the password never inline, and every
// problem points at its line and column.
func TestParseHTTPBasicAuth(t *testing.T) {
	tests := []struct {
		name     string
		http     string
		user     string
		file     string
		problems []string // "line:col: substring"
	}{
		{name: "none", http: "{listen: 127.0.0.1:8025}"},
		{name: "both", http: "{listen: 127.0.0.1:8025, basic_auth_user: staff, basic_auth_password_file: web.pw}",
			user: "staff", file: "/etc/ackd/web.pw"},
		{name: "absolute file", http: "{basic_auth_user: staff, basic_auth_password_file: /run/secrets/web}",
			user: "staff", file: "/run/secrets/web"},
		{name: "user without file", http: "{basic_auth_user: staff}",
			problems: []string{"1:8: http: basic_auth_user needs basic_auth_password_file"}},
		{name: "file without user", http: "{basic_auth_password_file: web.pw}",
			problems: []string{"1:8: http: basic_auth_password_file needs basic_auth_user"}},
		{name: "inline password", http: "{basic_auth_user: staff, basic_auth_password: hunter22}",
			problems: []string{`1:32: http: unknown key "basic_auth_password" (did you mean "basic_auth_password_file"?)`}},
		{name: "colon in user", http: `{basic_auth_user: "a:b", basic_auth_password_file: web.pw}`,
			problems: []string{"1:25: basic_auth_user: \"a:b\" must not contain a colon"}},
		{name: "empty user", http: `{basic_auth_user: "", basic_auth_password_file: web.pw}`,
			problems: []string{"1:25: basic_auth_user: empty"}},
		{name: "empty file", http: `{basic_auth_user: staff, basic_auth_password_file: ""}`,
			problems: []string{"1:58: basic_auth_password_file: empty path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "http: " + tt.http + "\n" + minimalConfigYAML
			cfg, ps := configProblems(t, "/etc/ackd/config.yaml", []byte(data))
			if len(ps) != len(tt.problems) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.problems), ps)
			}
			for _, want := range tt.problems {
				found := false
				for _, p := range ps {
					if strings.Contains(p.Error(), want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem containing %q; got:\n%v", want, ps)
				}
			}
			if strings.Contains(ps.Error(), "hunter22") {
				t.Errorf("problems echo the inline password: %v", ps)
			}
			if len(tt.problems) > 0 {
				return
			}
			if cfg.HTTP.BasicAuthUser != tt.user || cfg.HTTP.BasicAuthPasswordFile != filepath.FromSlash(tt.file) {
				t.Errorf("basic auth = %q, %q; want %q, %q", cfg.HTTP.BasicAuthUser, cfg.HTTP.BasicAuthPasswordFile, tt.user, tt.file)
			}
		})
	}
}
