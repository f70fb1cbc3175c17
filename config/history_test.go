package config

import (
	"strings"
	"testing"
	"time"
)

// historyConfig is minimalConfigYAML with top-level keys top and, for
// the IT department, keys dept.
func historyConfig(top, dept string) string {
	s := minimalConfigYAML
	if dept != "" {
		s = strings.Replace(s, "  - name: IT Help Desk\n", "  - name: IT Help Desk\n    "+dept+"\n", 1)
	}
	return top + "\n" + s
}

func TestHistorySettings(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		name, top, dept     string
		backfill, maxAge    time.Duration // of the IT department
		payBackfill, payMax time.Duration // of Payroll, which inherits
		wantProb            string
	}{
		{name: "defaults", maxAge: 4 * day, payMax: 4 * day},
		{name: "top level", top: "backfill: 2d\nmax_age: 7d", backfill: 2 * day, maxAge: 7 * day, payBackfill: 2 * day, payMax: 7 * day},
		{name: "department overrides", top: "backfill: 1d", dept: "backfill: 0\n    max_age: 36h", maxAge: 36 * time.Hour, payBackfill: day, payMax: 4 * day},
		{name: "go durations", dept: "backfill: 90m", backfill: 90 * time.Minute, maxAge: 4 * day, payMax: 4 * day},
		{name: "backfill past max_age", top: "backfill: 5d", wantProb: "config.yaml:1:11: backfill 5d is longer than max_age 4d"},
		{name: "department max_age below top backfill", top: "backfill: 3d", dept: "max_age: 2d", wantProb: "config.yaml:1:11: backfill 3d is longer than max_age 2d"},
		{name: "no unit", top: "max_age: 4", wantProb: `config.yaml:1:10: max_age: "4" needs a unit, like 4d or 4h`},
		{name: "zero max_age", top: "max_age: 0", wantProb: "config.yaml:1:10: max_age: must be positive"},
		{name: "negative", dept: "backfill: -1h", wantProb: "backfill: must not be negative"},
		{name: "words", dept: "max_age: a week", wantProb: `max_age: "a week" is not a duration like 4d, 36h or 90m`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ps := configProblems(t, "config.yaml", []byte(historyConfig(tt.top, tt.dept)))
			if tt.wantProb != "" {
				if !strings.Contains(ps.Error(), tt.wantProb) {
					t.Fatalf("problems %q; want one with %q", ps.Error(), tt.wantProb)
				}
				return
			}
			if len(ps) > 0 {
				t.Fatalf("problems: %v", ps)
			}
			it, pay := cfg.Departments[0], cfg.Departments[1]
			if it.Backfill != tt.backfill || it.MaxAge != tt.maxAge || pay.Backfill != tt.payBackfill || pay.MaxAge != tt.payMax {
				t.Errorf("IT %s/%s, Payroll %s/%s; want %s/%s and %s/%s", it.Backfill, it.MaxAge, pay.Backfill, pay.MaxAge,
					tt.backfill, tt.maxAge, tt.payBackfill, tt.payMax)
			}
		})
	}
}

func TestHistoryWarnings(t *testing.T) {
	cfg, ps := configProblems(t, "config.yaml", []byte(historyConfig("max_age: 30d\nbackfill: 1d", "")))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	got := strings.Join(cfg.HistoryWarnings(), "\n")
	for _, want := range []string{`department "IT Help Desk": max_age 30d lets mail older than two weeks`, `department "Payroll": backfill 1d: on its first start`} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	cfg, _ = configProblems(t, "config.yaml", []byte(minimalConfigYAML))
	if w := cfg.HistoryWarnings(); len(w) != 0 {
		t.Errorf("defaults warn: %q", w)
	}
}

func TestDepartmentKeyAndTooOld(t *testing.T) {
	d := &Department{Name: "IT", Address: "IT-Help@Example.test"}
	if d.Key() != "it-help@example.test" {
		t.Errorf("Key = %q", d.Key())
	}
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	if !d.TooOld(now.Add(-4*24*time.Hour-time.Second), now) || d.TooOld(now.Add(-4*24*time.Hour), now) || d.TooOld(time.Time{}, now) {
		t.Error("TooOld with the default max_age is not 'more than 4 days before now'")
	}
	cfg := &Config{Departments: []*Department{d}}
	if cfg.DepartmentName("it-help@example.test") != "IT" || cfg.DepartmentName("gone@example.test") != "gone@example.test" {
		t.Error("DepartmentName does not show the display name, or the key for an unknown department")
	}
}
