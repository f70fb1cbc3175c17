package rules

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The prefilter must never hide a match: for every expression and text,
// rx.match agrees with a plain regexp.MatchString.
func TestRegexpPrefilterAgreesWithRegexp(t *testing.T) {
	exprs := []string{
		`error code \d+`,
		`(?i)error code \d+`,
		`(?i)\b(ticket|case|incident)[ -]?\d+`,
		`(?i)KILO`,     // folds to the KELVIN SIGN
		`(?i)password`, // folds to LONG S
		`(?i)straße`,   // non-ASCII with case: no prefilter
		`(?i)パスワード`,    // non-ASCII without case: prefiltered
		`(?i)(abc|Dé)`, // mixed
		`foo(bar)+baz`,
		`(x{2,}|yyy)zzz`,
		`a?b?c?`, // no required literal
		`^$`,
	}
	texts := []string{
		"", "Error Code 42", "error code 42", "ERROR CODE", "see Ticket-123", "case 9", "incident42",
		"\u212Ailo", "pa\u017F\u017Fword", "PASSWORD", "STRASSE", "Straße", "STRAẞE", "パスワード", "abc", "ABC", "dé", "DÉ",
		"foobarbarbaz", "xxzzz", "yyyzzz", "xzzz",
	}
	for _, e := range exprs {
		r, err := compileRx(e)
		if err != nil {
			t.Fatalf("compile %q: %v", e, err)
		}
		plain := regexp.MustCompile(e)
		for _, s := range texts {
			var low lazyLower
			if got, want := r.match(s, &low), plain.MatchString(s); got != want {
				t.Errorf("%q on %q: prefiltered %v, regexp %v (literals %q lower %v)", e, s, got, want, r.lits, r.lower)
			}
		}
	}
}

func TestRegexpPrefilterLiterals(t *testing.T) {
	tests := []struct {
		expr  string
		lits  []string
		lower bool
	}{
		{`error code \d+`, []string{"error code "}, false},
		{`(?i)Error Code \d+`, []string{"error code "}, true},
		{`(?i)\b(ticket|case|incident)[ -]?\d+`, []string{"ticket", "case", "incident"}, true},
		{`a?b?c?`, nil, false},
		{`(?i)straße`, nil, false},
		{`x+y`, nil, false}, // literals too short to help
	}
	for _, tc := range tests {
		r, err := compileRx(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.lits, tc.lits) || r.lower != tc.lower {
			t.Errorf("%q: literals %q lower %v, want %q %v", tc.expr, r.lits, r.lower, tc.lits, tc.lower)
		}
	}
}

// inGrams must agree with in on texts long enough to build grams.
func TestWordGramsAgreeWithScan(t *testing.T) {
	body := fold(strings.Repeat("Der Drucker im 2. OG druckt nur leere Seiten; VPN-Zugang gesperrt. ", 3) +
		"Mot de passe oublié. ŞİFRE. パスワードをリセット。密码")
	g := newGrams(body)
	for _, p := range []string{"drucker", "vpn", "zugang", "passe oublié", "şifre", "パスワード", "密码", "toner", "pass", "leere seiten", "x", "ß"} {
		w := newWord(p)
		if got, want := w.inGrams(body, g), w.in(body); got != want {
			t.Errorf("%q: with grams %v, scanning %v", p, got, want)
		}
	}
}

// The split-on-star glob must agree with path.Match.
func TestGlobAgreesWithPathMatch(t *testing.T) {
	globs := []string{"*@hr.example.test", "*", "a*b*c", "it-*@example.test", "*@*.example.test", "exact@example.test", "*x*", "[a-c]*@x", "?@x", "**"}
	subjects := []string{"anna@hr.example.test", "anna@example.test", "abc", "aXbYc", "ac", "it-help@example.test", "x@a.example.test", "exact@example.test", "", "b@x", "a/b@hr.example.test", "xx"}
	for _, p := range globs {
		g := newGlob(p)
		for _, s := range subjects {
			want, _ := path.Match(p, s)
			if got := g.match(s); got != want {
				t.Errorf("glob %q on %q: %v, path.Match %v", p, s, got, want)
			}
		}
	}
}
