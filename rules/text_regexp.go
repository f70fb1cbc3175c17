package rules

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rx is a compiled regular expression with a literal prefilter: literals of
// which at least one must occur in any match. Most rule regexps contain a
// word ("error code \d+", "(?i)\b(ticket|case)"), and strings.Contains
// rejects a non-matching body far faster than the regexp engine, which is
// what keeps 200 rules within budget.
type rx struct {
	re   *regexp.Regexp
	lits []string // nil: no prefilter, always run re
	// lower says lits are lower case and must be looked up in lowerASCII
	// of the text, because the expression folds case.
	lower bool
}

func compileRx(src string) (*rx, error) {
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, err
	}
	r := &rx{re: re}
	if tree, err := syntax.Parse(src, syntax.Perl); err == nil {
		if lits, fold, ok := required(tree); ok && usefulLiterals(lits) {
			r.lits, r.lower = lits, fold
			if fold {
				for i, l := range lits {
					r.lits[i] = lowerASCII(l)
				}
			}
		}
	}
	return r, nil
}

func mustRx(src string) *rx {
	r, err := compileRx(src)
	if err != nil {
		panic("rules: bad built-in regexp " + src + ": " + err.Error())
	}
	return r
}

// lazyLower caches lowerASCII of one text for all rules of one message.
// It must always be used with the same text.
type lazyLower struct {
	val  string
	done bool
}

func (l *lazyLower) get(raw string) string {
	if !l.done {
		l.val, l.done = lowerASCII(raw), true
	}
	return l.val
}

// match runs the expression on raw after the literal prefilter.
func (r *rx) match(raw string, low *lazyLower) bool {
	if !r.maybe(raw, low) {
		return false
	}
	return r.re.MatchString(raw)
}

func (r *rx) maybe(raw string, low *lazyLower) bool {
	if r.lits == nil {
		return true
	}
	t := raw
	if r.lower {
		t = low.get(raw)
	}
	for _, l := range r.lits {
		if strings.Contains(t, l) {
			return true
		}
	}
	return false
}

func usefulLiterals(lits []string) bool {
	if len(lits) == 0 || len(lits) > 16 {
		return false
	}
	for _, l := range lits {
		if len(l) < 3 {
			return false
		}
	}
	return true
}

// required returns literals one of which occurs in every match of re, and
// whether any of them must be compared case-insensitively. It gives up (ok
// false) whenever it cannot be sure, so the prefilter never hides a match.
func required(re *syntax.Regexp) (lits []string, fold, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if re.Flags&syntax.FoldCase != 0 {
			// lowerASCII folds ASCII exactly (see there) and keeps other
			// runes, which is exact only for runes without case.
			for _, r := range re.Rune {
				if r >= utf8.RuneSelf && unicode.SimpleFold(r) != r {
					return nil, false, false
				}
			}
			return []string{s}, true, true
		}
		return []string{s}, false, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		best, bestScore := []string(nil), 0
		var bestFold bool
		for _, sub := range re.Sub {
			l, f, ok := required(sub)
			if !ok {
				continue
			}
			if s := score(l); s > bestScore {
				best, bestFold, bestScore = l, f, s
			}
		}
		return best, bestFold, best != nil
	case syntax.OpAlternate:
		var all []string
		anyFold := false
		for _, sub := range re.Sub {
			l, f, ok := required(sub)
			if !ok {
				return nil, false, false
			}
			all = append(all, l...)
			anyFold = anyFold || f
		}
		if anyFold {
			// Case-sensitive literals are then looked up lowered too:
			// lowerASCII(lit) occurs in lowerASCII(text) whenever lit
			// occurs in text.
			for i := range all {
				all[i] = lowerASCII(all[i])
			}
		}
		return all, anyFold, true
	}
	return nil, false, false
}

// score prefers sets whose shortest literal is longest.
func score(lits []string) int {
	if len(lits) == 0 {
		return 0
	}
	m := len(lits[0])
	for _, l := range lits[1:] {
		m = min(m, len(l))
	}
	return m*32 - len(lits)
}

// lowerASCII lower-cases ASCII letters and maps the only two non-ASCII
// runes whose simple case folding reaches an ASCII letter (KELVIN SIGN to
// "k", LATIN SMALL LETTER LONG S to "s"); everything else is kept. So an
// ASCII literal occurs case-insensitively (as RE2's (?i) defines it) in s
// exactly when its lower-case form occurs in lowerASCII(s).
func lowerASCII(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '\u212A':
			b.WriteByte('k')
		case '\u017F':
			b.WriteByte('s')
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
