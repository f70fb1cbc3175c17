package templates

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ackd/ackd/internal/mailtext"
)

// maxSubjectRunes caps Rendered.Subject; RFC 5322 allows longer folded
// lines, but nobody reads past this and some gateways truncate anyway.
const maxSubjectRunes = 250

// maxTopicRunes caps the original subject inside our subjects so the tag
// and our own words still fit under maxSubjectRunes.
const maxTopicRunes = 160

// funcs are the template functions shared by text and HTML templates;
// dates and durations read in l's language.
func funcs(l locale) map[string]any {
	return map[string]any{
		"greeting":     greeting,
		"displayname":  DisplayName,
		"longdate":     l.longDate,
		"topic":        func(subject, ref string) string { return topicOr(subject, ref, l.noSubject) },
		"replysubject": func(subject, ref string) string { return replySubjectOr(subject, ref, l.noSubject) },
		"oneline":      OneLine,
		"quote":        quote,
		"clip":         clip,
		"commitment":   l.commitment,
	}
}

// OneLine makes s safe for a header: every control character (C0, DEL, C1
// including U+0085) and the Unicode line and paragraph separators become
// spaces, runs of white space collapse to one space, and the ends are
// trimmed. Invalid UTF-8 becomes U+FFFD.
func OneLine(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// clip is mailtext.Clip with the length first, for template pipelines:
// {{.Subject | clip 60}}.
func clip(n int, s string) string { return mailtext.Clip(s, n) }

// tagAtEnd finds a trailing reference tag such as " [REQ-12]".
var tagAtEnd = regexp.MustCompile(`\s*\[[A-Za-z]+-[0-9]+\]$`)

// capSubject applies maxSubjectRunes, keeping a trailing reference tag:
// the tag is what threads a reply back to its request.
func capSubject(s string) string {
	if utf8.RuneCountInString(s) <= maxSubjectRunes {
		return s
	}
	tag := tagAtEnd.FindString(s)
	if utf8.RuneCountInString(tag) >= maxSubjectRunes/2 {
		tag = ""
	}
	head := strings.TrimSuffix(s, tag)
	return clip(maxSubjectRunes-utf8.RuneCountInString(tag), head) + tag
}

// tagRE returns a case-insensitive matcher for "[ref]".
func tagRE(ref string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)\[\s*` + regexp.QuoteMeta(ref) + `\s*\]`)
}

// asciiRef says whether ref is plain ASCII, which findTag compares
// itself; anything else goes through tagRE (Unicode case folding).
func asciiRef(ref string) bool {
	for i := 0; i < len(ref); i++ {
		if ref[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// findTag returns where the first "[ref]" of s starts and ends, as tagRE
// matches it (any case, spaces inside the brackets), or -1, -1. Every
// mail ackd writes about a request looks for its tag, and compiling
// tagRE each time was a tenth of rendering a receipt.
func findTag(s, ref string) (int, int) {
	if !asciiRef(ref) {
		if loc := tagRE(ref).FindStringIndex(s); loc != nil {
			return loc[0], loc[1]
		}
		return -1, -1
	}
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }
	for from := 0; ; {
		k := strings.IndexByte(s[from:], '[')
		if k < 0 {
			return -1, -1
		}
		i := from + k
		j := i + 1
		for j < len(s) && space(s[j]) {
			j++
		}
		if len(s)-j >= len(ref) && strings.EqualFold(s[j:j+len(ref)], ref) {
			k := j + len(ref)
			for k < len(s) && space(s[k]) {
				k++
			}
			if k < len(s) && s[k] == ']' {
				return i, k + 1
			}
		}
		from = i + 1
	}
}

// replaceTags replaces every "[ref]" of s with " ".
func replaceTags(s, ref string) string {
	var b strings.Builder
	for {
		i, j := findTag(s, ref)
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = s[j:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s)
	return b.String()
}

// topic is the original subject as our subjects quote it: one line, no
// reply markers, without the request's own tag (our subjects put it in
// front), clipped, and "(no subject)" when nothing is left.
func topic(subject, ref string) string { return topicOr(subject, ref, noSubject) }

// noSubject is what stands for an empty subject in English; a template's
// language has its own words (locale.noSubject).
const noSubject = "(no subject)"

func topicOr(subject, ref, none string) string {
	s := mailtext.StripReplyPrefixes(OneLine(subject))
	if ref = OneLine(ref); ref != "" {
		s = OneLine(replaceTags(s, ref))
	}
	if s == "" {
		return none
	}
	return clip(maxTopicRunes, s)
}

// ReplySubject is the subject of a mail to the requester about request
// ref: "Re: <original> [REQ-n]" with a single "Re: " however many reply
// markers the original stacked, "(no subject)" for an empty one, and the
// tag only once: an original that already holds it keeps it in place.
func ReplySubject(subject, ref string) string { return replySubjectOr(subject, ref, noSubject) }

func replySubjectOr(subject, ref, none string) string {
	s := mailtext.StripReplyPrefixes(OneLine(subject))
	ref = OneLine(ref)
	if s == "" {
		s = none
	}
	s = clip(maxTopicRunes, s)
	if ref != "" {
		if i, _ := findTag(s, ref); i < 0 {
			s += " [" + ref + "]"
		}
	}
	return "Re: " + s
}

// DisplayName turns a From display name into the name a greeting uses: one
// line, without quotes or a trailing "(comment)", "Doe, Jane" turned into
// "Jane Doe". It returns "" when there is no usable name: empty, only an
// address, an undecoded encoded-word, no letters at all, implausibly long,
// or just the local part of address.
func DisplayName(p Person) string {
	n := OneLine(p.Name)
	n = strings.Trim(n, `"'“”‘’ `)
	// A trailing comment such as "(IT)" or "[Finance]" is not part of the name.
	for _, pair := range [][2]string{{"(", ")"}, {"[", "]"}} {
		if strings.HasSuffix(n, pair[1]) {
			if i := strings.LastIndex(n, pair[0]); i > 0 {
				n = strings.TrimSpace(n[:i])
			}
		}
	}
	n = strings.Trim(n, `"'“”‘’ `)
	if n == "" || utf8.RuneCountInString(n) > 64 ||
		strings.ContainsAny(n, "@<>\\\ufffd") || strings.Contains(n, "=?") {
		return ""
	}
	letters := 0
	for _, r := range n {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if letters == 0 {
		return ""
	}
	if parts := strings.Split(n, ","); len(parts) > 1 {
		if len(parts) != 2 {
			return ""
		}
		last, first := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		switch {
		case last == "" && first == "":
			return ""
		case last == "":
			n = first
		case first == "":
			n = last
		default:
			n = first + " " + last
		}
	}
	if local, _, ok := strings.Cut(p.Address, "@"); ok && !strings.Contains(n, " ") && strings.EqualFold(n, local) {
		return ""
	}
	return n
}

// greeting is the salutation line: "Dear Jane Doe," or "Hello,".
func greeting(p Person) string {
	if n := DisplayName(p); n != "" {
		return "Dear " + n + ","
	}
	return "Hello,"
}

// quote prefixes every line of s with "> " as mail clients quote, after
// trimming blank lines at both ends.
func quote(s string) string {
	s = strings.Trim(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), "\n")
	if strings.TrimSpace(s) == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n")
}

// commitmentPart is one number-and-unit piece of a commitment like "1d4h".
var commitmentPart = regexp.MustCompile(`([0-9]+)\s*([a-z]+)`)

// commitment writes a commitment from the config in words in l's
// language: "4h" is "4 working hours", "1d" "1 Arbeitstag". Anything it
// does not recognise is returned as written.
func (l locale) commitment(s string) string {
	s = strings.ToLower(OneLine(s))
	if s == "" {
		return ""
	}
	units := map[string]string{"d": "%d working days", "h": "%d working hours", "m": "%d minutes", "w": "%d working weeks"}
	var out []string
	rest := s
	for rest != "" {
		m := commitmentPart.FindStringSubmatchIndex(rest)
		if m == nil || strings.TrimSpace(rest[:m[0]]) != "" {
			return s
		}
		num, unit := rest[m[2]:m[3]], rest[m[4]:m[5]]
		u, ok := units[unit]
		if !ok {
			return s
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return s
		}
		out = append(out, l.duration(u, n))
		rest = strings.TrimSpace(rest[m[1]:])
	}
	return strings.Join(out, " ")
}
