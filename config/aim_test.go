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
