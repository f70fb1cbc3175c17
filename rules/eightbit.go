package rules

import (
	"regexp/syntax"
	"unicode/utf8"
)

// Raw 8-bit bytes in a header are not allowed by RFC 5322, and servers
// that receive them rewrite them: Cyrus IMAP replaces each with "X",
// others with "?", and a decoder that meets broken UTF-8 with U+FFFD. An
// auto-reply whose raw subject read "Réponse automatique : …" reaches ackd
// as "RXponse automatique : …". The subject checks therefore accept, in
// place of each accented letter of their phrases, one to as many
// substitutes as the letter has bytes in UTF-8. The ASCII letters around
// it still have to match, so a phrase made only of non-Latin letters
// (自動応答) gets no such tolerance: any subject in a non-Latin script
// would match it once substituted.

// substituteClass matches one substitute for a raw 8-bit byte.
var substituteClass = &syntax.Regexp{Op: syntax.OpCharClass, Rune: []rune{'?', '?', 'X', 'X', utf8.RuneError, utf8.RuneError}}

// eightBitTolerant rewrites the regular expression src so that each
// non-ASCII letter of its literals and small character classes may also
// be written with substitutes. It returns src unchanged if it does not
// parse, for mustRx to report.
func eightBitTolerant(src string) string {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return src
	}
	return tolerate(re).String()
}

// substitutable is a rune of the scripts a substitute may stand for:
// Latin letters with diacritics and punctuation, not CJK.
func substitutable(r rune) bool {
	return r >= utf8.RuneSelf && r < 0x2E80 && r != utf8.RuneError
}

func tolerate(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpLiteral:
		var out []*syntax.Regexp
		var run []rune
		flush := func() {
			if len(run) > 0 {
				out = append(out, &syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags, Rune: run})
				run = nil
			}
		}
		changed := false
		for _, r := range re.Rune {
			if !substitutable(r) {
				run = append(run, r)
				continue
			}
			flush()
			out = append(out, orSubstituted(&syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags, Rune: []rune{r}}, utf8.RuneLen(r)))
			changed = true
		}
		if !changed {
			return re
		}
		flush()
		if len(out) == 1 {
			return out[0]
		}
		return &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: out}
	case syntax.OpCharClass:
		widest := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi < utf8.RuneSelf {
				continue
			}
			if hi-lo > 8 || !substitutable(lo) || !substitutable(hi) {
				return re // a broad class such as [^\]] already takes anything
			}
			widest = max(widest, utf8.RuneLen(hi))
		}
		if widest == 0 {
			return re
		}
		return orSubstituted(re, widest)
	}
	for i, sub := range re.Sub {
		re.Sub[i] = tolerate(sub)
	}
	return re
}

// orSubstituted is re or 1 to n substitutes.
func orSubstituted(re *syntax.Regexp, n int) *syntax.Regexp {
	return &syntax.Regexp{Op: syntax.OpAlternate, Sub: []*syntax.Regexp{
		re,
		{Op: syntax.OpRepeat, Min: 1, Max: n, Sub: []*syntax.Regexp{substituteClass}},
	}}
}
