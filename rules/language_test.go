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
			dec := d.Decide(m, arrival)
			if !dec.Reply {
				t.Fatalf("no reply: %s", dec.Reason)
			}
			if dec.Language != tc.want || !strings.Contains(dec.LanguageReason, tc.why) {
				t.Errorf("language %q (%s), want %q (%s)", dec.Language, dec.LanguageReason, tc.want, tc.why)
			}
		})
	}
}

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
