package templates

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// textWidth is where prose in text parts wraps; 72 leaves room for a few
// levels of "> " quoting within the 78 columns RFC 5322 recommends.
const textWidth = 72

// cleanBody normalises a rendered body: LF line ends, no control
// characters but tab and newline (a NUL has no business in mail), valid
// UTF-8.
func cleanBody(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\r':
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// finishText shapes a rendered text part: clean, every line wrapped at
// textWidth, trailing blanks removed, no more than one blank line in a row
// (templates with conditionals leave gaps) and exactly one final newline.
// Templates therefore write each paragraph on one line.
func finishText(s string) string {
	lines := strings.Split(cleanBody(s), "\n")
	var out []string
	blank := true // drops leading blank lines
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "--" {
			l = "-- " // the signature delimiter keeps its space (RFC 3676 §4.3)
		}
		if l == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, wrapLine(l, textWidth)...)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// linePrefix matches indentation and quote markers that continuation
// lines repeat.
var linePrefix = regexp.MustCompile(`^[ \t]*(?:>[ \t]?)*`)

// bullet matches a list marker after the prefix; continuation lines are
// indented past it.
var bullet = regexp.MustCompile(`^(?:[-*•]|[0-9]{1,2}[.)])[ \t]+`)

// wrapLine breaks l at spaces into lines of at most width runes where the
// words allow; a word longer than a line (a URL) stays whole.
func wrapLine(l string, width int) []string {
	if utf8.RuneCountInString(l) <= width {
		return []string{l}
	}
	prefix := linePrefix.FindString(l)
	rest := l[len(prefix):]
	cont := prefix
	if m := bullet.FindString(rest); m != "" {
		cont = prefix + strings.Repeat(" ", utf8.RuneCountInString(m))
	}
	var out []string
	first := true
	for rest != "" {
		p := cont
		if first {
			p = prefix
		}
		avail := width - utf8.RuneCountInString(p)
		if avail < 20 {
			avail = 20 // deep quoting: keep some words per line
		}
		if utf8.RuneCountInString(rest) <= avail {
			out = append(out, p+rest)
			break
		}
		cut := breakAt(rest, avail)
		out = append(out, p+strings.TrimRightFunc(rest[:cut], unicode.IsSpace))
		rest = strings.TrimLeft(rest[cut:], " ")
		first = false
	}
	return out
}

// breakAt returns the byte offset of the last space in s within the first
// avail runes, or of the first space after that when there is none (a long
// word), or len(s) when s has no space at all. A space at the very start
// (indentation that survived the prefix) never counts.
func breakAt(s string, avail int) int {
	last, n := -1, 0
	for i, r := range s {
		if n > avail {
			break
		}
		if r == ' ' && i > 0 {
			last = i
		}
		n++
	}
	if last > 0 {
		return last
	}
	if i := strings.IndexByte(s[1:], ' '); i >= 0 {
		return i + 1
	}
	return len(s)
}
