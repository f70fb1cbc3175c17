package config

import (
	"strings"
	"testing"
)

// TestLimitsKeys: the per-request caps default to values that let a real
// thread through, take any count in range, and report a bad one at its
// file, line and column.
func TestLimitsKeys(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, ps := configProblems(t, "/etc/ackd/config.yaml", []byte(minimalConfigYAML))
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		if l := cfg.Limits; l.EscalationsPerRequestPerDay != 6 || l.RelaysPerRequestPerDay != 10 {
			t.Errorf("defaults: %+v", l)
		}
	})
	t.Run("set", func(t *testing.T) {
		yaml := "limits:\n  escalations_per_request_per_day: 3\n  relays_per_request_per_day: 20\n" + minimalConfigYAML
		cfg, ps := configProblems(t, "config.yaml", []byte(yaml))
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		if cfg.Limits.EscalationsPerRequestPerDay != 3 || cfg.Limits.RelaysPerRequestPerDay != 20 {
			t.Errorf("limits: %+v", cfg.Limits)
		}
	})
	for _, tc := range []struct {
		name, limits, want string
	}{
		{"zero escalations", "limits:\n  escalations_per_request_per_day: 0\n",
			"config.yaml:2:36: escalations_per_request_per_day: 0 is out of range 1-10000"},
		{"relays not a number", "limits:\n  relays_per_request_per_day: many\n",
			"config.yaml:2:31: relays_per_request_per_day: expected an integer"},
		{"misspelt key", "limits:\n  escalation_per_request_per_day: 3\n",
			"config.yaml:2:3: limits: unknown key \"escalation_per_request_per_day\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := configProblems(t, "config.yaml", []byte(tc.limits+minimalConfigYAML))
			if len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), tc.want) {
				t.Errorf("problems %v, want one starting %q", ps, tc.want)
			}
		})
	}
}
