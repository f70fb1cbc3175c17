package rules

import (
	"net/textproto"
	"strings"
	"testing"

	"github.com/ackd/ackd/config"
	"gopkg.in/yaml.v3"
)

func compileYAML(t *testing.T, src string) (Matcher, config.Problems) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml %q: %v", src, err)
	}
	return CompileMatcher(&doc, "rules.yaml")
}

func mustCompile(t *testing.T, src string) Matcher {
	t.Helper()
	m, ps := compileYAML(t, src)
	if len(ps) > 0 {
		t.Fatalf("compile %q: %v", src, ps)
	}
	return m
}

func header(kv ...string) map[string][]string {
	h := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := textproto.CanonicalMIMEHeaderKey(kv[i])
		h[k] = append(h[k], kv[i+1])
	}
	return h
}

func TestWordMatching(t *testing.T) {
	tests := []struct {
		name, pattern, text string
		want                bool
	}{
		{"word before hyphen", "VPN", "VPN-Zugang funktioniert nicht", true},
		{"no match inside a word", "pass", "password reset please", false},
		{"case-insensitive", "password", "PASSWORD RESET", true},
		{"word at end", "reset", "please reset", true},
		{"letter after is no boundary", "drucker", "Druckerpatrone leer", false},
		{"digit after is no boundary", "win", "win11 update", false},
		{"umlaut upper/lower", "Größe", "GRÖSSE DES POSTFACHS", true},
		{"ß folds to ss", "Straße", "STRASSE gesperrt", true},
		{"ss matches ß", "strasse", "Die Straße ist gesperrt", true},
		{"umlaut is significant", "Drucker", "Der Drücker klemmt", false},
		{"umlaut boundary", "Zugang", "Kein Zugang für Jürgen", true},
		{"German compound does not match", "Passwort", "Passwortänderung", false},
		{"French accent upper case", "écran", "Mon ÉCRAN est noir", true},
		{"French accent is significant", "ecran", "Mon écran est noir", false},
		{"decomposed accent (NFD) matches", "écran", "Mon e\u0301cran est noir", true},
		{"French elision apostrophe is a boundary", "imprimante", "L'imprimante ne marche pas", true},
		{"Turkish dotted capital İ", "şifre", "ŞİFRE SIFIRLAMA", true},
		{"Turkish capital without dot", "şifre", "ŞIFRE sıfırlama", true},
		{"Turkish dotless ı in pattern", "sıfırlama", "ŞİFRE SIFIRLAMA", true},
		{"Turkish upper pattern, lower text", "ŞİFRE", "şifre unuttum", true},
		{"Turkish suffix is part of the word", "şifre", "şifremi unuttum", false},
		{"Turkish lower-cased İ with combining dot", "şifre", "şi\u0307fre", true},
		{"Japanese substring", "パスワード", "パスワードをリセットしてください", true},
		{"Japanese kanji", "印刷", "プリンターで印刷できません", true},
		{"Latin next to Japanese", "VPN", "VPN接続できません", true},
		{"Latin word inside Latin next to Japanese", "VP", "VPN接続", false},
		{"Chinese", "密码", "我忘记了密码。", true},
		{"Chinese absent", "打印机", "我的电脑坏了", false},
		{"Korean attached particle", "비밀번호", "비밀번호를 잊었습니다", true},
		{"fullwidth Latin (NFKC)", "vpn", "ＶＰＮが使えません", true},
		{"phrase across a line break", "locked out", "I am LOCKED\n   OUT of my account", true},
		{"phrase words must be adjacent", "locked out", "locked and out", false},
		{"pattern ending in punctuation", "c++", "c++ compiler crashes", true},
		{"hyphenated pattern", "e-mail", "E-Mail-Postfach voll", true},
		{"Greek final sigma", "ΟΔΟΣ", "η οδος", true},
		{"second occurrence on a boundary", "log", "catalog and log", true},
		{"empty text", "vpn", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWord(tc.pattern)
			if got := w.in(fold(tc.text)); got != tc.want {
				t.Errorf("%q in %q = %v, want %v (folded %q in %q)", tc.pattern, tc.text, got, tc.want, w.text, fold(tc.text))
			}
		})
	}
}

func TestMatcherKinds(t *testing.T) {
	base := func() *Message {
		return &Message{
			From:    Address{Name: "Jürgen MÜLLER", Address: "J.Mueller@HR.example.test"},
			To:      []Address{{Name: "IT Help", Address: "it-help@example.test"}, {Address: "boss@example.test"}},
			Cc:      []Address{{Name: "Zoë Martin", Address: "zoe@example.test"}},
			Subject: "Passwort vergessen – Zugang gesperrt",
			Text: "Hallo,\nich komme nicht ins VPN.\n\nAm 1. März schrieb Anna <anna@example.test>:\n> Drucker kaputt\n" +
				"-- \nJürgen, Personalabteilung\nTelefon: Drucker 1234\n",
			Header: header("X-Priority", "1 (Highest)", "X-Mailer", "Microsoft Outlook 16.0", "X-Mailer", "second copy"),
		}
	}
	tests := []struct {
		name, src string
		msg       func(*Message)
		want      bool
	}{
		{"subject word", `subject: passwort`, nil, true},
		{"subject list means any", `subject: [drucker, zugang]`, nil, true},
		{"subject list none", `subject: [drucker, monitor]`, nil, false},
		{"subject regex", `subject: /Zugang\s+gesperrt$/`, nil, true},
		{"subject regex is case-sensitive", `subject: /zugang gesperrt/`, nil, false},
		{"subject regex with i flag", `subject: /ZUGANG GESPERRT/i`, nil, true},
		{"subject slash text is a phrase, not a regex", `subject: "/etc/hosts"`, func(m *Message) { m.Subject = "edit /etc/hosts" }, true},
		{"body word", `body: vpn`, nil, true},
		{"body ignores quoted lines", `body: drucker`, nil, false},
		{"body regex sees stripped text", `body: /Drucker|Telefon/`, nil, false},
		{"body regex", `body: /ins\s+VPN/`, nil, true},
		{"from exact address, any case", `from: j.mueller@hr.example.test`, nil, true},
		{"from glob", `from: "*@hr.example.test"`, nil, true},
		{"from glob other domain", `from: "*@example.test"`, nil, false},
		{"from domain", `from: "@HR.example.test"`, nil, true},
		{"from display-name word with umlaut", `from: müller`, nil, true},
		{"from word of the address", `from: mueller`, nil, true},
		{"from regex", `from: /^j\./`, nil, false},
		{"from regex i", `from: /^j\.mueller@/i`, nil, true},
		{"from regex on name", `from: /MÜLLER$/`, nil, true},
		{"to any of the list", `to: [nobody@example.test, boss@example.test]`, nil, true},
		{"cc name", `cc: zoë`, nil, true},
		{"cc absent", `cc: "*@hr.example.test"`, nil, false},
		{"from absent", `from: x`, func(m *Message) { m.From = Address{} }, false},
		{"header word", `header: {X-Priority: highest}`, nil, true},
		{"header name any case", `header: {x-priority: "1"}`, nil, true},
		{"header regex", `header: {X-Mailer: "/^Microsoft Outlook 1[56]\\./"}`, nil, true},
		{"header any copy", `header: {X-Mailer: second}`, nil, true},
		{"header missing", `header: {X-Spam-Flag: "yes"}`, nil, false},
		{"header several names means all", `header: {X-Priority: "1", X-Mailer: thunderbird}`, nil, false},
		{"several keys mean all", `{subject: passwort, from: "*@hr.example.test"}`, nil, true},
		{"several keys, one fails", `{subject: passwort, from: "*@it.example.test"}`, nil, false},
		{"all", "all:\n  - subject: passwort\n  - body: vpn\n", nil, true},
		{"all fails", "all:\n  - subject: passwort\n  - body: drucker\n", nil, false},
		{"any", "any:\n  - subject: drucker\n  - body: vpn\n", nil, true},
		{"any fails", "any:\n  - subject: drucker\n  - body: monitor\n", nil, false},
		{"not", "not: {subject: drucker}", nil, true},
		{"not fails", "not: {subject: passwort}", nil, false},
		{"nested", "any:\n  - all: [{subject: passwort}, {not: {from: \"*@hr.example.test\"}}]\n  - {cc: zoe@example.test}\n", nil, true},
		{"French subject", `subject: ["mot de passe", écran]`, func(m *Message) { m.Subject = "MOT DE PASSE oublié" }, true},
		{"Turkish subject", `subject: şifre`, func(m *Message) { m.Subject = "ŞİFRE SIFIRLAMA TALEBİ" }, true},
		{"Japanese subject", `subject: パスワード`, func(m *Message) { m.Subject = "【至急】パスワードの再設定" }, true},
		{"Chinese subject", `subject: [密码, 打印机]`, func(m *Message) { m.Subject = "打印机无法连接" }, true},
		{"anchor alias", "any:\n  - &pw {subject: passwort}\n  - *pw\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			if tc.msg != nil {
				tc.msg(m)
			}
			if got := mustCompile(t, tc.src).Match(m); got != tc.want {
				t.Errorf("match %q = %v, want %v", tc.src, got, tc.want)
			}
		})
	}
}

func TestMatchNilMessage(t *testing.T) {
	if mustCompile(t, `subject: x`).Match(nil) {
		t.Error("nil message matched")
	}
}

func TestCompileMatcherProblems(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // "LINE:COL: substring", one per problem
	}{
		{"unknown key with suggestion", "subjet: x\n", []string{`1:1: match: unknown key "subjet" (did you mean "subject"?)`}},
		{"plural key suggestion", "headers: {X-A: b}\n", []string{`1:1: match: unknown key "headers" (did you mean "header"?)`}},
		{"unknown key without suggestion", "subject: x\ncolour: red\n", []string{`2:1: match: unknown key "colour" (known: subject, body`}},
		{"bad regex", "subject: \"/(abc/\"\n", []string{"1:10: subject: bad regular expression /(abc/: error parsing regexp: missing closing )"}},
		{"bad regex in a list", "body:\n  - ok\n  - /a**/\n", []string{"3:5: body: bad regular expression /a**/: error parsing regexp: invalid nested repetition operator"}},
		{"empty list", "subject: []\n", []string{"1:10: subject: empty list"}},
		{"null value", "subject:\n", []string{"1:9: subject: want a pattern or a list of patterns, got nothing"}},
		{"mapping as pattern", "subject: {a: b}\n", []string{"1:10: subject: want a pattern or a list of patterns, got a mapping"}},
		{"list of lists", "to: [[a]]\n", []string{"1:6: to: list items must be patterns, got a list"}},
		{"empty pattern", "subject: \"  \"\n", []string{"1:10: subject: empty pattern"}},
		{"bad glob", "from: \"[*@x\"\n", []string{"1:7: from: bad glob \"[*@x\": syntax error in pattern"}},
		{"match is a list", "- subject: x\n", []string{"1:1: match: want a mapping of match keys"}},
		{"match is empty", "{}\n", []string{"1:1: match: empty"}},
		{"all is not a list", "all: {subject: x}\n", []string{"1:6: all: want a list of matches, got a mapping"}},
		{"any empty", "any: []\n", []string{"1:6: any: empty list"}},
		{"any item not a mapping", "any: [x]\n", []string{"1:7: match: want a mapping of match keys"}},
		{"not is a list", "not: [subject: x]\n", []string{"1:6: match: want a mapping of match keys"}},
		{"header is a list", "header: [x]\n", []string{"1:9: header: want a mapping of header name to pattern, got a list"}},
		{"header empty", "header: {}\n", []string{"1:9: header: empty mapping"}},
		{"header bad name", "header: {\"Bad Name\": x}\n", []string{`1:10: header: "Bad Name" is not a header field name`}},
		{"header bad regex", "header:\n  X-A: /[z-a]/\n", []string{"2:8: header X-A: bad regular expression /[z-a]/: error parsing regexp: invalid character class range"}},
		{"nested problems all reported", "all:\n  - subjet: x\n  - not: {body: []}\n", []string{
			`2:5: match: unknown key "subjet"`, "3:17: body: empty list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ps := compileYAML(t, tc.src)
			if m == nil {
				t.Fatal("nil Matcher")
			}
			if m.Match(&Message{Subject: "x", Header: map[string][]string{}}) {
				t.Error("a matcher with problems matched")
			}
			if len(ps) != len(tc.want) {
				t.Fatalf("got %d problems %v, want %d", len(ps), ps, len(tc.want))
			}
			for i, p := range ps {
				if p.File != "rules.yaml" {
					t.Errorf("problem %d file %q", i, p.File)
				}
				if got := p.Error(); !strings.HasPrefix(got, "rules.yaml:"+tc.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got, "rules.yaml:"+tc.want[i])
				}
			}
		})
	}
}

func TestCompileMatcherNil(t *testing.T) {
	m, ps := CompileMatcher(nil, "r.yaml")
	if m == nil || len(ps) != 1 {
		t.Fatalf("CompileMatcher(nil) = %v, %v", m, ps)
	}
}

func TestCompileMatcherDeepNesting(t *testing.T) {
	src := strings.Repeat("{not: ", 40) + "{subject: x}" + strings.Repeat("}", 40)
	_, ps := compileYAML(t, src)
	if len(ps) == 0 || !strings.Contains(ps.Error(), "nested more than") {
		t.Fatalf("deep nesting: %v", ps)
	}
}

func TestStripQuoted(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Hello\nworld\n", "Hello\nworld"},
		{"quoted lines", "New text\n> old\n  > older\nmore\n", "New text\nmore"},
		{"inline answers kept", "> question?\nanswer\n> second?\nsecond answer", "answer\nsecond answer"},
		{"English attribution", "Thanks\n\nOn Mon, 3 Mar 2025 at 10:00, Anna <anna@example.test> wrote:\n> x\n", "Thanks"},
		{"wrapped attribution", "Thanks\nOn Mon, 3 Mar 2025 at 10:00, Anna Example <\nanna@example.test> wrote:\n> x\n", "Thanks"},
		{"German attribution", "Danke\nAm 03.03.2025 um 10:00 schrieb Jürgen Müller:\n> x\n", "Danke"},
		{"French attribution", "Merci\nLe lun. 3 mars 2025 à 10:00, Zoë <z@example.test> a écrit :\n> x\n", "Merci"},
		{"French attribution with no-break space", "Merci\nLe 3 mars 2025, Zoë a écrit\u00a0:\n> x\n", "Merci"},
		{"a sentence starting with On is kept", "On Monday the printer broke.\nPlease help.", "On Monday the printer broke.\nPlease help."},
		{"signature", "Help!\n-- \nAnna\nIT\n", "Help!"},
		{"double dash without space is not a signature", "a\n--\nb", "a\n--\nb"},
		{"Outlook original message", "See below\n\n-----Original Message-----\nFrom: x\nSent: y\n\nold text", "See below"},
		{"German Outlook", "Siehe unten\n-----Ursprüngliche Nachricht-----\nVon: x\nold", "Siehe unten"},
		{"Outlook From/Sent block", "Please fix\n\n________________________________\nFrom: Anna <a@example.test>\nSent: Monday, 3 March 2025 10:00\nTo: IT\nSubject: x\n\nold", "Please fix\n\n________________________________"},
		{"German Von/Gesendet block", "Bitte\nVon: Anna\nGesendet: Montag\nold", "Bitte"},
		{"From line alone is kept", "From: my laptop\nit does not boot", "From: my laptop\nit does not boot"},
		{"CRLF", "a\r\n> b\r\nc\r\n", "a\nc"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StripQuoted(tc.in); got != tc.want {
				t.Errorf("StripQuoted(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{"subjet": "subject", "Subject": "subject", "bdy": "body", "frm": "from", "xyzzy": "", "headers": "header", "nott": "not"} {
		if got := suggest(in, matchKeys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
