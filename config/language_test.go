package config

import (
	"strings"
	"testing"
)

func TestLoadLanguage(t *testing.T) {
	y := strings.Replace(minimalConfigYAML, "    calendar: {timezone: Europe/Berlin}\n", "    calendar: {timezone: Europe/Berlin}\n    language: de-AT\n", 1)
	y = strings.Replace(y, "      - {name: r1, match: {subject: x}, category: default}\n  - name: Payroll",
		"      - {name: r1, match: {subject: x}, category: default, language: FR}\n  - name: Payroll", 1)
	cfg, ps := configProblems(t, "config.yaml", []byte(y))
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	if got := cfg.Departments[0].Language; got != "de" {
		t.Errorf("department language %q, want de", got)
	}
	if got := cfg.Departments[0].Rules[0].Language; got != "fr" {
		t.Errorf("rule language %q, want fr", got)
	}
	if got := cfg.Departments[1].Language; got != "en" {
		t.Errorf("default department language %q, want en", got)
	}

	bad := strings.Replace(minimalConfigYAML, "    calendar: {timezone: UTC}\n", "    calendar: {timezone: UTC}\n    language: klingon!\n", 1)
	_, ps = configProblems(t, "config.yaml", []byte(bad))
	if len(ps) != 1 || !strings.Contains(ps[0].Error(), `config.yaml:18:15: language: "klingon!" is not a language code`) {
		t.Errorf("problems %v, want one about the language at 18:15", ps)
	}
}
