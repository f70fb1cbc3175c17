package parse

import (
	"mime"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	// Importing charset is go-message's documented way to decode non-UTF-8
	// charsets: it registers its Reader as message.CharsetReader, which
	// message.New (bodies) and mail.ParseAddressList (display names) use.
	// We also pass charset.Reader explicitly to our own word decoder.
	"github.com/emersion/go-message/charset"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/ackd/ackd/rules"
)

// fillHeader sets every header-derived field of m.
func fillHeader(m *rules.Message, h textproto.Header) {
	m.Header = make(map[string][]string, h.Len())
	for fs := h.Fields(); fs.Next(); {
		k := fs.Key()
		m.Header[k] = append(m.Header[k], decodeText(fs.Value()))
	}

	m.MessageID = messageID(h.Get("Message-Id"))
	m.InReplyTo = idList(h.Values("In-Reply-To"))
	m.References = idList(h.Values("References"))

	if from := addressList(firstOf(h.Values("From"))); len(from) > 0 {
		m.From = from[0]
	} else if v := h.Get("From"); v != "" {
		// Nothing that looks like an address: keep the text as the name.
		m.From = rules.Address{Name: cleanText(decodeText(stripComments(v)))}
	}
	if s := addressList(firstOf(h.Values("Sender"))); len(s) > 0 {
		m.Sender = &s[0]
	}
	m.ReplyTo = addressList(h.Values("Reply-To"))
	m.To = addressList(h.Values("To"))
	m.Cc = addressList(h.Values("Cc"))

	if rp := h.Values("Return-Path"); len(rp) > 0 {
		// The topmost Return-Path is the one the final MTA added.
		m.HasReturnPath = true
		m.ReturnPath = returnPath(rp[0])
	}

	m.Subject = decodeText(h.Get("Subject"))
	m.Date = parseDate(h.Get("Date"))
}

func firstOf(vs []string) []string {
	if len(vs) > 1 {
		return vs[:1]
	}
	return vs
}

// decodeText RFC 2047-decodes a header value. When an encoded word uses an
// unknown charset the raw value is kept (go-message's Header.Text does the
// same). Control characters, including CR and LF smuggled in encoded words,
// become spaces so that a decoded value can never split a header we write.
func decodeText(v string) string {
	if strings.Contains(v, "=?") {
		dec := mime.WordDecoder{CharsetReader: charset.Reader}
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
	}
	return cleanText(v)
}

// cleanText makes s valid UTF-8 without control characters (tab included,
// for the same header-safety reason).
func cleanText(s string) string {
	clean := utf8.ValidString(s)
	if clean {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == 0x7f {
				clean = false
				break
			}
		}
	}
	if clean {
		return strings.TrimSpace(s)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// addressList parses every value as an address list with go-message (which
// uses net/mail), falling back to a tolerant scan for lists it rejects.
func addressList(values []string) []rules.Address {
	var out []rules.Address
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		if list, err := gomail.ParseAddressList(v); err == nil {
			for _, a := range list {
				// net/mail leaves encoded words inside quotes alone, as
				// RFC 2047 says, but many mailers quote them anyway.
				out = append(out, rules.Address{Name: decodeText(a.Name), Address: cleanText(a.Address)})
			}
			continue
		}
		var got []rules.Address
		withAt := false
		for _, piece := range splitList(v) {
			if a, ok := lenientAddress(piece); ok {
				got = append(got, a)
				withAt = withAt || strings.Contains(a.Address, "@")
			}
		}
		for _, a := range got {
			// Beside real addresses, a piece without "@" is a fragment of
			// an unquoted name ("Lee, Ann <ann@…>"), not a mailbox.
			if !withAt || strings.Contains(a.Address, "@") {
				out = append(out, a)
			}
		}
	}
	return out
}

// splitList splits an address list at commas outside quotes, comments and
// angle brackets.
func splitList(v string) []string {
	var out []string
	depth, angle, quoted, start := 0, false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '<' && depth == 0:
			angle = true
		case c == '>' && depth == 0:
			angle = false
		case (c == ',' || c == ';') && depth == 0 && !angle:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// lenientAddress keeps what it can of one broken address: the text inside
// angle brackets, else a word with an "@", else a lone word such as
// MAILER-DAEMON; the display name is what precedes the brackets, or a comment.
func lenientAddress(piece string) (rules.Address, bool) {
	piece = strings.TrimSpace(piece)
	if a, err := gomail.ParseAddress(piece); err == nil {
		return rules.Address{Name: decodeText(a.Name), Address: cleanText(a.Address)}, true
	}
	// A group name ("undisclosed-recipients:") carries no mailbox.
	if i := strings.IndexByte(piece, ':'); i >= 0 && !strings.ContainsAny(piece[:i], "<\"@") {
		piece = strings.TrimSpace(piece[i+1:])
	}
	if piece == "" {
		return rules.Address{}, false
	}
	var name, addr string
	if lt := strings.IndexByte(piece, '<'); lt >= 0 {
		inner := piece[lt+1:]
		if gt := strings.IndexByte(inner, '>'); gt >= 0 {
			inner = inner[:gt]
		} else if end := strings.IndexAny(strings.TrimSpace(inner), " \t,;"); end >= 0 {
			inner = strings.TrimSpace(inner)[:end] // unclosed: up to the next separator
		}
		// RFC 5322 allows comments around the atoms of an addr-spec
		// ("pete(his account)@silly.test"); the address is what is left.
		addr = stripComments(inner)
		name = piece[:lt]
	} else {
		rest := stripComments(piece)
		name = commentText(piece)
		fields := strings.FieldsFunc(rest, func(r rune) bool {
			return unicode.IsSpace(r) || strings.ContainsRune(`"<>,;`, r)
		})
		for _, f := range fields {
			if strings.Contains(f, "@") {
				addr = f
				break
			}
		}
		if addr == "" && len(fields) == 1 {
			addr = fields[0]
		}
		if addr == "" {
			return rules.Address{}, false
		}
	}
	a := rules.Address{
		Name:    decodeText(strings.Trim(strings.TrimSpace(name), `"`)),
		Address: cleanText(strings.Trim(strings.Join(strings.Fields(addr), ""), `"'`)),
	}
	// "MAILER-DAEMON <>" has no address, but its name is worth keeping.
	return a, a.Address != "" || a.Name != ""
}

// stripComments removes RFC 5322 comments: "(...)", nested, outside quotes.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
			continue
		case c == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// commentText returns the text of the first top-level comment, the way old
// mailers wrote a display name: "MAILER-DAEMON (Mail Delivery System)".
func commentText(v string) string {
	i := strings.IndexByte(v, '(')
	if i < 0 {
		return ""
	}
	j := strings.LastIndexByte(v, ')')
	if j < i {
		return v[i+1:]
	}
	return v[i+1 : j]
}

// returnPath extracts the reverse path; "<>" gives "".
func returnPath(v string) string {
	v = strings.TrimSpace(stripComments(v))
	if lt := strings.IndexByte(v, '<'); lt >= 0 {
		v = v[lt+1:]
		if gt := strings.IndexByte(v, '>'); gt >= 0 {
			v = v[:gt]
		}
	}
	return cleanText(strings.Join(strings.Fields(v), ""))
}

// messageID returns the first msg-id of v without angle brackets. Brackets
// may be missing in the wild; then the first word is taken.
func messageID(v string) string {
	if ids := bracketed(v); len(ids) > 0 {
		return ids[0]
	}
	for _, f := range strings.Fields(stripComments(v)) {
		if f = strings.Trim(f, `<>"',;`); f != "" {
			return cleanID(f)
		}
	}
	return ""
}

// idList collects the msg-ids of In-Reply-To or References, oldest first,
// without duplicates. Without brackets only words with an "@" count, so that
// junk such as "your message of Monday" is dropped.
func idList(values []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, v := range values {
		if ids := bracketed(v); len(ids) > 0 {
			for _, id := range ids {
				add(id)
			}
			continue
		}
		for _, f := range strings.FieldsFunc(stripComments(v), func(r rune) bool {
			return unicode.IsSpace(r) || r == ','
		}) {
			if strings.Contains(f, "@") {
				add(cleanID(strings.Trim(f, `"';`)))
			}
		}
	}
	return out
}

// bracketed returns the non-empty texts between "<" and ">", whitespace
// (left by folding) removed.
func bracketed(v string) []string {
	var out []string
	for {
		lt := strings.IndexByte(v, '<')
		if lt < 0 {
			return out
		}
		v = v[lt+1:]
		gt := strings.IndexByte(v, '>')
		if gt < 0 {
			return out
		}
		id := cleanID(v[:gt])
		if id != "" {
			out = append(out, id)
		}
		v = v[gt+1:]
	}
}

// cleanID is cleanText for a msg-id: the spaces cleanText leaves where
// control characters were are removed too, so an ID stored as a thread key
// is one token and threads the same way every time it is seen.
func cleanID(s string) string {
	return strings.Join(strings.Fields(cleanText(s)), "")
}

// dateLayouts are the shapes broken Date headers take in the corpus and in
// the wild after comments and the weekday are removed.
func dateLayouts() []string {
	return []string{
		"2 Jan 2006 15:04:05 -0700",
		"2 Jan 2006 15:04:05 MST",
		"2 Jan 2006 15:04 -0700",
		"2 Jan 2006 15:04 MST",
		"2 Jan 06 15:04:05 -0700",
		"2 Jan 06 15:04:05 MST",
		"2 Jan 2006 15:04:05",
		"2 January 2006 15:04:05 -0700",
		"Jan 2 15:04:05 2006",
		"Jan 2 15:04:05 MST 2006",
		"Jan 2 2006 15:04:05 -0700",
		"2006-01-02 15:04:05 -0700",
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02 15:04:05",
		"2 Jan 2006 03:04:05 PM -0700",
		"2 Jan 2006 03:04:05 PM MST",
		"January 2 2006 3:04 PM",
		"January 2 2006 3:04:05 PM",
		"January 2 2006 15:04:05 -0700",
	}
}

// parseDate parses a Date header leniently; the zero time means absent or
// unreadable.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := netmail.ParseDate(v); err == nil {
		return t
	}
	s := strings.Join(strings.Fields(strings.ReplaceAll(stripComments(v), ",", " ")), " ")
	// A weekday, right or wrong, adds nothing.
	if f := strings.Fields(s); len(f) > 0 && len(f[0]) >= 3 && unicode.IsLetter(rune(f[0][0])) {
		if _, err := time.Parse("Mon", f[0][:3]); err == nil {
			s = strings.TrimSpace(s[len(f[0]):])
		}
	}
	for _, layout := range dateLayouts() {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	// A junk zone ("H0500"): the local time is still closer than nothing,
	// read as UTC.
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if t, err := time.Parse("2 Jan 2006 15:04:05", s[:i]); err == nil {
			return t
		}
	}
	return time.Time{}
}
