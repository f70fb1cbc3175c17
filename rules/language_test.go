package rules

import (
	"strings"
	"testing"
)

// TestDecideLanguage: the receipt's language comes from the rule, then
// Content-Language, then the text, else the department's language.
func TestDecideLanguage(t *testing.T) {
	fr := rule(t, "paris", "print", `{subject: "imprimante"}`)
	fr.Language = "fr"
	for _, tc := range []struct {
		name      string
		edit      func(m *Message)
		deptLang  string
		want, why string
	}{
		{"german text", func(*Message) {}, "", "de", "text reads as German"},
		{"content-language", func(m *Message) { m.Header["Content-Language"] = []string{"nl-NL"} }, "", "nl", `Content-Language "nl-NL"`},
		{"rule fixes it", func(m *Message) {
			m.Subject = "L'imprimante ne marche plus"
			m.Header["Content-Language"] = []string{"de"}
		}, "", "fr", "rule"},
		{"unsure falls back to the department", func(m *Message) { m.Subject = "VPN"; m.Text = "VPN 2.14 OK?" }, "es", "es", "department's language"},
		{"no department language means English", func(m *Message) { m.Subject = "VPN"; m.Text = "" }, "", "en", "department's language"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDept(t, fr)
			d.Language = tc.deptLang
			m := person()
			tc.edit(m)
			dec := decide(d, m, arrival)
			if !dec.Reply {
				t.Fatalf("no reply: %s", dec.Reason)
			}
			if dec.Language != tc.want || !strings.Contains(dec.LanguageReason, tc.why) {
				t.Errorf("language %q (%s), want %q (%s)", dec.Language, dec.LanguageReason, tc.want, tc.why)
			}
		})
	}
}
