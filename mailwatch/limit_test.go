package mailwatch

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		perSender int
		global    int
		sends     []struct {
			who  string
			at   time.Duration
			want bool
		}
	}{
		{"per sender per hour", 2, 0, []struct {
			who  string
			at   time.Duration
			want bool
		}{{"a@x", 0, true}, {"A@X", time.Minute, true}, {"a@x", 2 * time.Minute, false}, {"b@x", 3 * time.Minute, true}, {"a@x", 61 * time.Minute, true}}},
		{"global per minute", 0, 2, []struct {
			who  string
			at   time.Duration
			want bool
		}{{"a@x", 0, true}, {"b@x", time.Second, true}, {"c@x", 2 * time.Second, false}, {"c@x", 61 * time.Second, true}}},
		{"unlimited", 0, 0, []struct {
			who  string
			at   time.Duration
			want bool
		}{{"a@x", 0, true}, {"a@x", 0, true}, {"a@x", 0, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimiter(tc.perSender, tc.global)
			for i, s := range tc.sends {
				got, why := l.Allow(s.who, t0.Add(s.at))
				if got != s.want {
					t.Errorf("send %d (%s at +%v) allowed=%v (%s), want %v", i, s.who, s.at, got, why, s.want)
				}
				if !got && why == "" {
					t.Errorf("send %d refused without a reason", i)
				}
			}
		})
	}
}
