package config

import (
	"strings"
	"testing"
)

// TestParsePush: the push: section gets a loopback listener by default,
// needs a shared secret from the environment or a file (never inline),
// and every problem points at its line and column; a listener beyond
// this host is a check warning.
func TestParsePush(t *testing.T) {
	tests := []struct {
		name     string
		push     string
		want     *PushConfig
		problems []string // "line:col: substring"
		warn     string
	}{
		{name: "absent", push: ""},
		{name: "defaults", push: "{password_env: ACKD_PUSH_SECRET}",
			want: &PushConfig{Listen: DefaultPushListen, Password: Secret{Env: "ACKD_PUSH_SECRET"}}},
		{name: "file and listen", push: "{listen: 127.0.0.1:9026, password_file: push.secret}",
			want: &PushConfig{Listen: "127.0.0.1:9026", Password: Secret{File: "/etc/ackd/push.secret"}}},
		{name: "beyond this host", push: "{listen: 0.0.0.0:8026, password_env: S}",
			want: &PushConfig{Listen: "0.0.0.0:8026", Password: Secret{Env: "S"}},
			warn: "push: listen 0.0.0.0:8026 is reachable beyond this host"},
		{name: "no secret", push: "{listen: 127.0.0.1:8026}",
			problems: []string{"1:7: push: needs password_env or password_file"}},
		{name: "inline secret", push: "{password: hunter22}",
			problems: []string{"1:8: inline password refused"}},
		{name: "both secrets", push: "{password_env: S, password_file: f}",
			problems: []string{"1:25: push: set only one of password_env and password_file"}},
		{name: "bad listen", push: "{listen: localhost, password_env: S}",
			problems: []string{`1:16: listen: "localhost" is not host:port`}},
		{name: "empty listen", push: `{listen: "", password_env: S}`,
			problems: []string{"1:16: listen: empty"}},
		{name: "not a mapping", push: "yes",
			problems: []string{"1:7: push:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := minimalConfigYAML
			if tt.push != "" {
				data = "push: " + tt.push + "\n" + data
			}
			cfg, ps := configProblems(t, "/etc/ackd/config.yaml", []byte(data))
			if len(ps) != len(tt.problems) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.problems), ps)
			}
			for _, want := range tt.problems {
				if !strings.Contains(ps.Error(), want) {
					t.Errorf("no problem containing %q; got:\n%v", want, ps)
				}
			}
			if strings.Contains(ps.Error(), "hunter22") {
				t.Errorf("problems echo the inline secret: %v", ps)
			}
			if len(tt.problems) > 0 {
				return
			}
			switch {
			case tt.want == nil && cfg.Push != nil:
				t.Errorf("push = %+v, want none", *cfg.Push)
			case tt.want != nil && (cfg.Push == nil || *cfg.Push != *tt.want):
				t.Errorf("push = %+v, want %+v", cfg.Push, *tt.want)
			}
			w := strings.Join(cfg.PushWarnings(), "\n")
			if (tt.warn == "") != (w == "") || !strings.Contains(w, tt.warn) {
				t.Errorf("warnings %q, want %q", w, tt.warn)
			}
		})
	}
}
