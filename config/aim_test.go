package config

import (
	"strings"
	"testing"
	"time"
)

// TestLoadAim: aim is read next to commitment and may not be longer.
func TestLoadAim(t *testing.T) {
	y := strings.Replace(minimalConfigYAML, "      default: {commitment: 3d}\n", "      default: {commitment: 3d, aim: 2d}\n      fast: {commitment: 4h, aim: 90m}\n", 1)
	cfg, ps := configProblems(t, "config.yaml", []byte(y))
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	cats := cfg.Departments[0].Categories
	if got := cats["default"].Aim.Days; got != 2 {
		t.Errorf("default aim %v, want 2d", cats["default"].Aim)
	}
	if got := cats["fast"].Aim.Business; got != 90*time.Minute {
		t.Errorf("fast aim %v, want 90m", cats["fast"].Aim)
	}
	if !cfg.Departments[1].Categories["default"].Aim.IsZero() {
		t.Errorf("a category without aim has one")
	}
	bad := strings.Replace(minimalConfigYAML, "      default: {commitment: 3d}\n", "      default: {commitment: 3d, aim: 4d}\n", 1)
	_, ps = configProblems(t, "config.yaml", []byte(bad))
	if len(ps) != 1 || !strings.Contains(ps[0].Error(), "aim: 4d is longer than the commitment 3d") {
		t.Errorf("problems %v, want one about the aim", ps)
	}
}

// TestLoadSatisfaction: satisfaction is opt-in, with defaults for its keys.
func TestLoadSatisfaction(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		every time.Duration
		low   int
		on    bool
	}{
		{"", 0, 0, false},
		{"    satisfaction: false\n", 0, 0, false},
		{"    satisfaction: true\n", DefaultSatisfactionEvery, DefaultSatisfactionLow, true},
		{"    satisfaction: {every: 14d, low: 1}\n", 14 * 24 * time.Hour, 1, true},
	} {
		y := strings.Replace(minimalConfigYAML, "    calendar: {timezone: UTC}\n", "    calendar: {timezone: UTC}\n"+tc.yaml, 1)
		cfg, ps := configProblems(t, "config.yaml", []byte(y))
		if len(ps) > 0 {
			t.Fatalf("%q: %v", tc.yaml, ps)
		}
		s := cfg.Departments[1].Satisfaction
		if (s != nil) != tc.on || (s != nil && (s.Every != tc.every || s.Low != tc.low)) {
			t.Errorf("%q: satisfaction %+v", tc.yaml, s)
		}
	}
	bad := strings.Replace(minimalConfigYAML, "    calendar: {timezone: UTC}\n", "    calendar: {timezone: UTC}\n    satisfaction: {low: 5, evry: 1d}\n", 1)
	_, ps := configProblems(t, "config.yaml", []byte(bad))
	if len(ps) != 2 {
		t.Errorf("problems %v, want two (low out of range, unknown key)", ps)
	}
}
