package rules_test

import (
	"net/textproto"
	"slices"
	"testing"
	"time"

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

// TestReturnDate: the return date an out-of-office text states (issue 15
// item 2); now is Tuesday 1 December 2026, 10:00 in Berlin.
func TestReturnDate(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, berlin)
	for _, tc := range []struct{ text, want string }{
		{"I am out of the office until Monday, 7 December 2026.", "2026-12-07"},
		{"I am out of the office. I will be back on December 9th.", "2026-12-09"},
		{"Ich bin bis zum 10.12.2026 nicht im Büro.", "2026-12-10"},
		{"Ich bin ab 02.12. nicht da und am 14.12. wieder im Büro.", "2026-12-14"},
		{"Out from 2026-12-02, back 2026-12-08.", "2026-12-08"},
		{"Away until friday.", "2026-12-04"},
		{"On leave 3 Dec to 11 Dec", "2026-12-11"},
		{"Back on 5 January", "2027-01-05"},
		{"I am on holiday. Last year's party was on 2025-12-10.", ""},
		{"I am away at the moment.", ""},
		{"Back on 31.02.2027", ""},
	} {
		got, ok := rules.ReturnDate(tc.text, berlin, now)
		s := ""
		if ok {
			s = got.Format("2006-01-02")
			if got.Hour() != 0 || got.Location() != berlin {
				t.Errorf("%q: %v, want midnight in Berlin", tc.text, got)
			}
		}
		if s != tc.want {
			t.Errorf("ReturnDate(%q) = %q, want %q", tc.text, s, tc.want)
		}
	}
}

func TestParseCommandsAway(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00") // a Tuesday
	for _, tc := range []struct{ line, want, bad string }{
		{"#away", "", ""},
		{"#away until friday", "2026-03-13 00:00", ""},
		{"#away 2026-03-16", "2026-03-16 00:00", ""},
		{"#away until 2025-01-01", "", `#away: "until 2025-01-01" is not a date ahead, e.g. #away until friday or #away until 2026-12-07`},
		{"#back", "", ""},
	} {
		cmds, unknown, _ := rules.ParseCommands(tc.line, office, now)
		if tc.bad != "" {
			if !slices.Equal(unknown, []string{tc.bad}) {
				t.Errorf("%q: unknown %q, want %q", tc.line, unknown, tc.bad)
			}
			continue
		}
		if len(cmds) != 1 {
			t.Fatalf("%q: %q", tc.line, unknown)
		}
		got := ""
		if !cmds[0].Due.IsZero() {
			got = cmds[0].Due.In(office.Location()).Format("2006-01-02 15:04")
		}
		if got != tc.want {
			t.Errorf("%q: back %q, want %q", tc.line, got, tc.want)
		}
	}
}
