package rules_test

import (
	"net/textproto"
	"slices"
	"testing"

	"github.com/ackd/ackd/rules"
)

// TestParseCommandsNearMiss: a known command mistyped is reported (the
// sender gets help) and removed from the requester's copy; prose that
// only looks a little like it stays.
func TestParseCommandsNearMiss(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	for _, tc := range []struct{ line, want string }{
		{"# done", "#done: write #done without a space after the #"},
		{"#  ETA friday", "#eta: write #eta without a space after the #"},
		{"/done", "#done: commands start with #: write #done"},
		{"!waiting.", "#waiting: commands start with #: write #waiting"},
		{`\reopen`, "#reopen: commands start with #: write #reopen"},
		{"", ""},
		{"# Heading", ""},
		{"## done", ""},
		{"/home/alice", ""},
		{"/donezo", ""},
		{"!important", ""},
	} {
		t.Run(tc.line, func(t *testing.T) {
			text := "Hello\n" + tc.line + "\nBye"
			_, unknown, stripped := rules.ParseCommands(text, office, now)
			if tc.want == "" {
				if len(unknown) != 0 || stripped != text {
					t.Errorf("unknown %q, stripped %q; want prose kept", unknown, stripped)
				}
				return
			}
			if !slices.Equal(unknown, []string{tc.want}) {
				t.Errorf("unknown = %q, want %q", unknown, tc.want)
			}
			if stripped != "Hello\nBye" {
				t.Errorf("stripped = %q, want the line gone", stripped)
			}
		})
	}
}

func TestSignOffOnly(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"", true},
		{"Thanks,\nAlice", true},
		{"Kind regards\n\nAlice Smith\nIT Help Desk\nTel. +49 30 1234-567", true},
		{"Sent from my iPhone", true},
		{"Viele Grüße\nalice.smith", true},
		{"Done, try again.", false},
		{"Thanks, please restart", false},
		{"Alice\nYour account is unlocked", false},
	} {
		if got := rules.SignOffOnly(tc.text, "Alice Smith", "alice.smith@example.test", "IT Help Desk"); got != tc.want {
			t.Errorf("SignOffOnly(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestAutoReply: the auto-reply signals the processor asks of mail on a
// thread; a person's reply has none.
func TestAutoReply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		subject string
		want    bool
	}{
		{"person", nil, "Re: [REQ-1] Printer", false},
		{"auto-submitted: no", map[string]string{"Auto-Submitted": "no"}, "Re: [REQ-1] Printer", false},
		{"vacation", map[string]string{"Auto-Submitted": "auto-replied (vacation)"}, "Re: [REQ-1] Printer", true},
		{"vendor header", map[string]string{"X-Autoreply": "yes"}, "Re: [REQ-1] Printer", true},
		{"precedence", map[string]string{"Precedence": "auto_reply"}, "Re: [REQ-1] Printer", true},
		{"outlook subject", nil, "Automatic reply: [REQ-1] Printer", true},
		{"out of office subject", nil, "Out of Office: [REQ-1] Printer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &rules.Message{Subject: tc.subject, From: rules.Address{Address: "alice@example.test"}, Header: map[string][]string{}}
			for k, v := range tc.headers {
				m.Header[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
			}
			if why, got := rules.AutoReply(m); got != tc.want {
				t.Errorf("AutoReply = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}
