package rules

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fold prepares text for case-insensitive word matching: NFKC (so
// fullwidth "ＶＰＮ" and ligatures compare like their plain forms), Unicode
// case folding, "ß" as "ss", and every run of white space as one space so a
// phrase matches across line breaks.
//
// Turkish dotted and dotless i: İ, I, ı and i all fold to "i". Locale-free
// folding would turn "İ" into "i" plus a combining dot and leave "ı" alone,
// so "şifre" would miss "ŞİFRE" (Turkish upper case) and "sifre" typed on a
// non-Turkish keyboard would miss "ŞIFRE". Merging the four costs nothing
// for routing mail: no two keywords worth a rule differ only in that dot.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
				space = true
				continue
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
		}
		return b.String()
	}
	if !norm.NFKC.IsNormalString(s) {
		s = norm.NFKC.String(s)
	}
	var prev rune
	for _, r := range s {
		if r < utf8.RuneSelf && r != ' ' && (r < '\t' || r > '\r') {
			// Most of a German or French text is ASCII: skip the tables.
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
			prev = r
			continue
		}
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			prev = ' '
		}
		space = false
		switch r {
		case 'ß', 'ẞ':
			b.WriteString("ss")
			prev = 's'
			continue
		case 'İ', 'ı':
			r = 'i'
		case '\u0307': // combining dot above left by lower-casing İ elsewhere
			if prev == 'i' {
				continue
			}
		case 'ς':
			r = 'σ'
		case utf8.RuneError:
			continue
		default:
			r = unicode.ToLower(unicode.ToUpper(r))
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// isWordRune says whether r continues a word for boundary purposes. Scripts
// written without spaces (Han, kana, Hangul, Thai …) never do: a boundary
// is assumed between any two of their characters, so their patterns match
// as substrings and "VPN" still matches in "VPN接続".
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
		return false
	}
	return !unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul,
		unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

// word is a folded plain pattern and which of its ends need a word boundary.
type word struct {
	text        string
	left, right bool
	grams       []uint16 // distinct byte pairs of text, for grams.has
}

func newWord(pattern string) word {
	f := fold(pattern)
	first, _ := utf8.DecodeRuneInString(f)
	last, _ := utf8.DecodeLastRuneInString(f)
	w := word{text: f, left: isWordRune(first), right: isWordRune(last)}
	for i := 0; i+1 < len(f) && len(w.grams) < 8; i++ {
		g := uint16(f[i])<<8 | uint16(f[i+1])
		if !slices.Contains(w.grams, g) {
			w.grams = append(w.grams, g)
		}
	}
	return w
}

// grams records which byte pairs occur in a long text. A word with a pair
// the text lacks cannot occur in it; checking a few bits rules out most
// body patterns without scanning the body once per pattern.
type grams [1 << 16 / 64]uint64

// minGramText is the text length from which building grams pays off.
const minGramText = 64

func newGrams(t string) *grams {
	g := new(grams)
	for i := 0; i+1 < len(t); i++ {
		k := uint16(t[i])<<8 | uint16(t[i+1])
		g[k>>6] |= 1 << (k & 63)
	}
	return g
}

// inGrams is w.in(t) where g is nil or newGrams(t).
func (w word) inGrams(t string, g *grams) bool {
	if g != nil {
		for _, k := range w.grams {
			if g[k>>6]&(1<<(k&63)) == 0 {
				return false
			}
		}
	}
	return w.in(t)
}

// in reports whether w occurs in the folded text t on word boundaries.
func (w word) in(t string) bool {
	if w.text == "" {
		return false
	}
	for off := 0; off <= len(t); {
		i := strings.Index(t[off:], w.text)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(w.text)
		okL := true
		if w.left && i > 0 {
			r, _ := utf8.DecodeLastRuneInString(t[:i])
			okL = !isWordRune(r)
		}
		okR := true
		if w.right && j < len(t) {
			r, _ := utf8.DecodeRuneInString(t[j:])
			okR = !isWordRune(r)
		}
		if okL && okR {
			return true
		}
		_, size := utf8.DecodeRuneInString(t[i:])
		off = i + size
	}
	return false
}

// StripQuoted returns what the writer of a reply wrote themselves: it drops
// ">"-quoted lines and attribution lines ("On … wrote:", "Am … schrieb …:",
// "Le … a écrit :"), and cuts at a signature separator (a line that is
// exactly "-- ") or at a forwarded/quoted Outlook header block
// ("-----Original Message-----", or "From:" followed by "Sent:"). Body
// rules then match the new request, not the thread it quotes.
func StripQuoted(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	out := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "-- " || isOutlookSeparator(line) || isOutlookHeader(lines, i) {
			break
		}
		trimmed := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(trimmed, ">") {
			continue
		}
		if n := attribution(lines, i); n > 0 {
			i += n - 1
			continue
		}
		out = append(out, line)
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// isOutlookSeparator matches Outlook's "-----Original Message-----" in the
// languages staff and requesters here write.
func isOutlookSeparator(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "-----") || !strings.HasSuffix(t, "-----") || len(t) < 12 {
		return false
	}
	inner := strings.ToLower(strings.Trim(t, "- "))
	switch inner {
	case "original message", "ursprüngliche nachricht", "message d'origine",
		"original nachricht", "originalnachricht", "forwarded message", "weitergeleitete nachricht",
		"message transféré":
		return true
	}
	return false
}

// isOutlookHeader matches the header block Outlook puts above a quoted
// message: a "From:" line followed within three lines by "Sent:" (or the
// German/French equivalents).
func isOutlookHeader(lines []string, i int) bool {
	from := strings.TrimSpace(strings.TrimLeft(lines[i], "*"))
	if !hasPrefixFold(from, "from:") && !hasPrefixFold(from, "von:") && !hasPrefixFold(from, "de :") && !hasPrefixFold(from, "de:") {
		return false
	}
	for j := i + 1; j < len(lines) && j <= i+3; j++ {
		t := strings.TrimSpace(strings.TrimLeft(lines[j], "*"))
		for _, p := range []string{"sent:", "gesendet:", "envoyé :", "envoyé:", "date:", "datum:"} {
			if hasPrefixFold(t, p) {
				return true
			}
		}
	}
	return false
}

// attribution returns how many lines (1 or 2, mail clients wrap long
// ones) form a reply attribution starting at line i, or 0.
func attribution(lines []string, i int) int {
	start := strings.TrimSpace(lines[i])
	if !hasPrefixFold(start, "on ") && !hasPrefixFold(start, "am ") && !hasPrefixFold(start, "le ") {
		return 0
	}
	if isAttributionEnd(start) {
		return 1
	}
	if i+1 < len(lines) && isAttributionEnd(strings.TrimSpace(start+" "+strings.TrimSpace(lines[i+1]))) {
		return 2
	}
	return 0
}

func isAttributionEnd(s string) bool {
	l := strings.ToLower(s)
	switch {
	case strings.HasPrefix(l, "on "):
		return strings.HasSuffix(l, "wrote:")
	case strings.HasPrefix(l, "am "):
		return strings.HasSuffix(l, ":") && strings.Contains(l, "schrieb")
	case strings.HasPrefix(l, "le "):
		return strings.HasSuffix(l, "a écrit :") || strings.HasSuffix(l, "a écrit:") || strings.HasSuffix(l, "a écrit\u00a0:")
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
