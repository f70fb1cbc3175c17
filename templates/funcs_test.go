package templates

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDisplayName(t *testing.T) {
	tests := []struct {
		name, display, address, want string
	}{
		{"plain", "Jane Doe", "jane@example.test", "Jane Doe"},
		{"last comma first", "Doe, Jane", "jane@example.test", "Jane Doe"},
		{"quoted last comma first", `"Doe, Jane"`, "jane@example.test", "Jane Doe"},
		{"last comma first with spaces", "  van der Berg ,  Anna Maria ", "a@example.test", "Anna Maria van der Berg"},
		{"trailing comment", "Omar Haddad (Finance)", "o@example.test", "Omar Haddad"},
		{"trailing bracket tag", "Doe, Jane [IT]", "j@example.test", "Jane Doe"},
		{"unicode", "Šimůnková, Zdeňka", "z@example.test", "Zdeňka Šimůnková"},
		{"single name", "Prince", "p@example.test", "Prince"},
		{"empty", "", "jane@example.test", ""},
		{"blank", "   ", "jane@example.test", ""},
		{"address as name", "jane@example.test", "jane@example.test", ""},
		{"quoted address as name", "'jane@example.test'", "jane@example.test", ""},
		{"angle brackets", "<jane>", "jane@example.test", ""},
		{"local part as name", "JDoe", "jdoe@example.test", ""},
		{"undecoded encoded word", "=?utf-8?q?J=C3=B6rg?=", "j@example.test", ""},
		{"no letters", "??? 123", "x@example.test", ""},
		{"replacement char", "J\ufffdrg", "j@example.test", ""},
		{"two commas", "Doe, Jane, Dr.", "j@example.test", ""},
		{"only comma", ",", "j@example.test", ""},
		{"comma first empty", ", Jane", "j@example.test", "Jane"},
		{"too long", strings.Repeat("Jane ", 20), "j@example.test", ""},
		{"newline in name", "Jane\r\nBcc: x@example.test", "j@example.test", ""},
		{"newline only folds", "Jane\r\n Doe", "j@example.test", "Jane Doe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DisplayName(Person{Name: tt.display, Address: tt.address})
			if got != tt.want {
				t.Errorf("DisplayName(%q) = %q, want %q", tt.display, got, tt.want)
			}
			wantGreeting := "Hello,"
			if tt.want != "" {
				wantGreeting = "Dear " + tt.want + ","
			}
			if g := greeting(Person{Name: tt.display, Address: tt.address}); g != wantGreeting {
				t.Errorf("greeting = %q, want %q", g, wantGreeting)
			}
		})
	}
}

func TestReplySubject(t *testing.T) {
	tests := []struct {
		name, subject, ref, want string
	}{
		{"plain", "Printer jams", "REQ-12", "Re: Printer jams [REQ-12]"},
		{"one re", "Re: Printer jams", "REQ-12", "Re: Printer jams [REQ-12]"},
		{"stacked", "RE: Re: re:Printer jams", "REQ-12", "Re: Printer jams [REQ-12]"},
		{"german", "AW: WG: Drucker", "REQ-3", "Re: Drucker [REQ-3]"},
		{"nordic", "Sv: SV: Skrivare", "REQ-3", "Re: Skrivare [REQ-3]"},
		{"forward", "Fwd: FW: invoice 2231", "REQ-3", "Re: invoice 2231 [REQ-3]"},
		{"counted re", "Re[2]: Printer", "REQ-3", "Re: Printer [REQ-3]"},
		{"dutch", "Doorst: Antw: Printer", "REQ-3", "Re: Printer [REQ-3]"},
		{"italian", "R: I: Stampante", "REQ-3", "Re: Stampante [REQ-3]"},
		{"danish forward", "VB: Printer", "REQ-3", "Re: Printer [REQ-3]"},
		{"fullwidth colon", "回复 Re： 打印机", "REQ-3", "Re: 回复 Re： 打印机 [REQ-3]"},
		{"word starting with re", "Reset my password", "REQ-3", "Re: Reset my password [REQ-3]"},
		{"re without colon", "Re printer", "REQ-3", "Re: Re printer [REQ-3]"},
		{"empty", "", "REQ-1", "Re: (no subject) [REQ-1]"},
		{"blank", "  \t ", "REQ-1", "Re: (no subject) [REQ-1]"},
		{"only prefixes", "Re: Fwd:", "REQ-1", "Re: (no subject) [REQ-1]"},
		{"tag present", "Re: Printer jams [REQ-12]", "REQ-12", "Re: Printer jams [REQ-12]"},
		{"tag present in front", "[REQ-12] Printer jams", "REQ-12", "Re: [REQ-12] Printer jams"},
		{"tag other case", "Printer [req-12]", "REQ-12", "Re: Printer [req-12]"},
		{"longer ref is not ours", "Printer [REQ-123]", "REQ-12", "Re: Printer [REQ-123] [REQ-12]"},
		{"control chars", "Printer\r\nBcc: evil@example.test", "REQ-12", "Re: Printer Bcc: evil@example.test [REQ-12]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReplySubject(tt.subject, tt.ref); got != tt.want {
				t.Errorf("ReplySubject(%q, %q) = %q, want %q", tt.subject, tt.ref, got, tt.want)
			}
		})
	}
}

// TestSetReplySubject: a subject composed outside a template (the relay
// of a staff member's words) says "(no subject)" in the request's
// language, as the templates do.
func TestSetReplySubject(t *testing.T) {
	for _, tc := range []struct{ lang, subject, want string }{
		{"en", "", "Re: (no subject) [REQ-1]"},
		{"de", "", "Re: (ohne Betreff) [REQ-1]"},
		{"fr", "Re: ", "Re: (sans objet) [REQ-1]"},
		{"de", "Drucker", "Re: Drucker [REQ-1]"},
	} {
		if got := Default().In(tc.lang).ReplySubject(tc.subject, "REQ-1"); got != tc.want {
			t.Errorf("In(%q).ReplySubject(%q) = %q, want %q", tc.lang, tc.subject, got, tc.want)
		}
	}
}

func TestTopic(t *testing.T) {
	tests := []struct{ subject, ref, want string }{
		{"Re: VPN drops [REQ-31]", "REQ-31", "VPN drops"},
		{"[REQ-31] Re: VPN drops", "REQ-31", "Re: VPN drops"},
		{"AW: [REQ-31]", "REQ-31", "(no subject)"},
		{"VPN drops", "", "VPN drops"},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			if got := topic(tt.subject, tt.ref); got != tt.want {
				t.Errorf("topic(%q, %q) = %q, want %q", tt.subject, tt.ref, got, tt.want)
			}
		})
	}
}

func TestLongDate(t *testing.T) {
	ber := mustZone(t, "Europe/Berlin")
	nyc := mustZone(t, "America/New_York")
	ist := mustZone(t, "Europe/Istanbul")
	utcTime := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		loc  *time.Location
		want string
	}{
		{"berlin winter", utcTime, ber, "Tuesday 1 December 2026, 17:00 CET"},
		{"berlin summer", time.Date(2026, 7, 1, 7, 5, 0, 0, time.UTC), ber, "Wednesday 1 July 2026, 09:05 CEST"},
		{"new york before dst", time.Date(2026, 3, 6, 21, 0, 0, 0, time.UTC), nyc, "Friday 6 March 2026, 16:00 EST"},
		{"new york after dst", time.Date(2026, 3, 9, 20, 0, 0, 0, time.UTC), nyc, "Monday 9 March 2026, 16:00 EDT"},
		{"numeric zone", utcTime, ist, "Tuesday 1 December 2026, 19:00 +03"},
		{"nil location keeps zone", utcTime.In(ber), nil, "Tuesday 1 December 2026, 17:00 CET"},
		{"zero", time.Time{}, ber, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newLocale("en").longDate(tt.t, tt.loc); got != tt.want {
				t.Errorf("longDate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommitment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4h", "4 working hours"},
		{"1h", "1 working hour"},
		{"3d", "3 working days"},
		{"1d", "1 working day"},
		{"1d4h", "1 working day 4 working hours"},
		{"90m", "90 minutes"},
		{"2w", "2 working weeks"},
		{"", ""},
		{"soon", "soon"},
		{"4x", "4x"},
		{"h4", "h4"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := newLocale("en").commitment(tt.in); got != tt.want {
				t.Errorf("commitment(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb", "a b"},
		{"a\u2028b\u2029c\u0085d", "a b c d"},
		{"a\x00b\x1b[31mc", "a b [31mc"},
		{"  many   spaces\t\there ", "many spaces here"},
		{"bad \xff utf8", "bad \ufffd utf8"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := OneLine(tt.in); got != tt.want {
				t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFinishText(t *testing.T) {
	long := strings.Repeat("word ", 30)
	url := "https://example.test/" + strings.Repeat("x", 90)
	tests := []struct{ name, in, want string }{
		{"short kept", "Hello,\n", "Hello,\n"},
		{"blank runs collapse", "\n\na\n\n\n\nb\n\n", "a\n\nb\n"},
		{"crlf", "a\r\nb\rc", "a\nb\nc\n"},
		{"nul dropped", "a\x00b", "ab\n"},
		{"sig delimiter", "x\n--\ny", "x\n-- \ny\n"},
		{"prose wraps", strings.TrimSpace(long),
			strings.TrimSpace(strings.Repeat("word ", 14)) + "\n" + strings.TrimSpace(strings.Repeat("word ", 14)) + "\nword word\n"},
		{"quote keeps marker", "> " + strings.TrimSpace(long),
			"> " + strings.TrimSpace(strings.Repeat("word ", 14)) + "\n> " + strings.TrimSpace(strings.Repeat("word ", 14)) + "\n> word word\n"},
		{"bullet indents", "- " + strings.TrimSpace(long),
			"- " + strings.TrimSpace(strings.Repeat("word ", 14)) + "\n  " + strings.TrimSpace(strings.Repeat("word ", 14)) + "\n  word word\n"},
		{"long url whole", "see " + url + " now", "see\n" + url + "\nnow\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := finishText(tt.in); got != tt.want {
				t.Errorf("finishText(%q) =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
		})
	}
}

func TestCapSubjectKeepsTag(t *testing.T) {
	s := capSubject("Re: " + strings.Repeat("ä", 1000) + " [REQ-77]")
	if n := utf8.RuneCountInString(s); n > maxSubjectRunes {
		t.Errorf("subject has %d runes, cap is %d", n, maxSubjectRunes)
	}
	if !strings.HasSuffix(s, "… [REQ-77]") {
		t.Errorf("capped subject lost its tag: %q", s[len(s)-40:])
	}
}

// findTag and replaceTags find what tagRE finds, without compiling it.
func TestFindTagAsTagRE(t *testing.T) {
	for _, tc := range []struct{ s, ref string }{
		{"Printer jams [REQ-12]", "REQ-12"},
		{"[req-12] Printer jams", "REQ-12"},
		{"Printer [ REQ-12\t] jams [REQ-12]", "REQ-12"},
		{"Printer [REQ-123] jams", "REQ-12"},
		{"Printer [REQ-1] jams", "REQ-12"},
		{"Printer [[REQ-12]] jams", "REQ-12"},
		{"[REQ-12", "REQ-12"},
		{"[", "REQ-12"},
		{"no tag at all", "REQ-12"},
		{"[REQ-12 ] [ req-12] end", "REQ-12"},
		{"Drucker [ÄND-7] klemmt", "ÄND-7"},
		{"Drucker [änd-7] klemmt", "ÄND-7"},
		{"Écran [REQ.12]", "REQ.12"},
		{"Écran [REQX12]", "REQ.12"},
	} {
		i, j := findTag(tc.s, tc.ref)
		want := tagRE(tc.ref).FindStringIndex(tc.s)
		if (want == nil && i != -1) || (want != nil && (i != want[0] || j != want[1])) {
			t.Errorf("findTag(%q, %q) = %d, %d; tagRE finds %v", tc.s, tc.ref, i, j, want)
		}
		if got, want := replaceTags(tc.s, tc.ref), tagRE(tc.ref).ReplaceAllString(tc.s, " "); got != want {
			t.Errorf("replaceTags(%q, %q) = %q, want %q", tc.s, tc.ref, got, want)
		}
	}
}
