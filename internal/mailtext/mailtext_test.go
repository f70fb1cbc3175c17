package mailtext

import (
	"testing"
	"time"
)

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven runes", 10, "eleven ru…"},
		{"word end   here", 9, "word end…"},
		{"Grüße aus Köln", 6, "Grüße…"},
		{"anything", 0, "anything"},
	}
	for _, tt := range tests {
		if got := Clip(tt.s, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestReplyPrefixes is the one list of markers both the robot heuristics
// (a forwarded subject is a person's) and the subjects ackd writes use.
func TestReplyPrefixes(t *testing.T) {
	tests := []struct {
		subject  string
		has      bool
		stripped string
	}{
		{"Re: printer", true, "printer"},
		{"RE[2]: printer", true, "printer"},
		{"Re(3): printer", true, "printer"},
		{"AW: Re: WG: printer", true, "printer"},
		{"Antwort: printer", true, "printer"},
		{"Antw: printer", true, "printer"},
		{"Doorst: printer", true, "printer"},
		{"SV: printer", true, "printer"},
		{"VS: printer", true, "printer"},
		{"VB: printer", true, "printer"},
		{"Odp: printer", true, "printer"},
		{"RES: printer", true, "printer"},
		{"ENC: printer", true, "printer"},
		{"TR: printer", true, "printer"},
		{"RV: printer", true, "printer"},
		{"R: printer", true, "printer"},
		{"I: printer", true, "printer"},
		{"Fw: printer", true, "printer"},
		{"Fwd： printer", true, "printer"},
		{"  re :  printer", true, "printer"},
		{"Reset my password", false, "Reset my password"},
		{"Request: laptop", false, "Request: laptop"},
		{"Invoice: 12", false, "Invoice: 12"},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := HasReplyPrefix(tt.subject); got != tt.has {
			t.Errorf("HasReplyPrefix(%q) = %v, want %v", tt.subject, got, tt.has)
		}
		if got := StripReplyPrefixes(tt.subject); got != tt.stripped {
			t.Errorf("StripReplyPrefixes(%q) = %q, want %q", tt.subject, got, tt.stripped)
		}
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0m"},
		{45 * time.Minute, "45m"},
		{3 * time.Hour, "3h"},
		{2*time.Hour + 10*time.Minute + 29*time.Second, "2h 10m"},
		{-90 * time.Minute, "1h 30m"},
		{50 * time.Hour, "50h"},
	} {
		if got := Span(tc.d); got != tc.want {
			t.Errorf("Span(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
