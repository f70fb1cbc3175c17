package parse

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/k3a/html2text"
)

// walker visits the MIME tree once, recording the media types that matter
// and the first usable text/plain and text/html bodies.
type walker struct {
	opts  Options
	parts int

	topType           string
	reportType        string
	hasDeliveryStatus bool
	hasAttached       bool

	plain, html       string
	plainCut, htmlCut bool
	havePlain         bool
	haveHTML          bool
}

func newWalker(opts Options) *walker { return &walker{opts: opts} }

// top walks the message body. A multipart body in which no part can be
// found (boundary missing or never present) is read as plain text, so that
// the words of a broken message are not lost.
func (w *walker) top(h textproto.Header, body []byte) {
	t, params := mediaType(h.Get("Content-Type"))
	w.topType = t
	if t == "multipart/report" {
		w.reportType = strings.ToLower(strings.TrimSpace(params["report-type"]))
	}
	n := w.entity(&h, t, params, bytes.NewReader(body), 0)
	if strings.HasPrefix(t, "multipart/") && n == 0 && !w.havePlain && !w.haveHTML {
		w.leaf(&h, "text/plain", params, bytes.NewReader(body))
	}
}

// entity visits one entity and returns how many sub-parts it had.
func (w *walker) entity(h *textproto.Header, t string, params map[string]string, body io.Reader, depth int) int {
	w.parts++
	if isDeliveryStatus(t) {
		w.hasDeliveryStatus = true
	}
	if isAttachedMessage(t) {
		w.hasAttached = true
	}
	if !strings.HasPrefix(t, "multipart/") {
		w.leaf(h, t, params, body)
		return 0
	}
	boundary := params["boundary"]
	if boundary == "" || depth >= maxDepth {
		return 0
	}
	mr := textproto.NewMultipartReader(body, boundary)
	n := 0
	for w.parts < maxParts {
		p, err := mr.NextPart()
		if err != nil {
			// io.EOF or a broken delimiter: keep the parts already seen.
			break
		}
		n++
		ct := p.Header.Get("Content-Type")
		pt, pp := mediaType(ct)
		if ct == "" && t == "multipart/digest" {
			pt = "message/rfc822" // RFC 2046 §5.1.5
		}
		w.entity(&p.Header, pt, pp, p, depth+1)
	}
	return n
}

// leaf reads a text/plain or text/html part that is not an attachment,
// unless a better candidate was already found. Other parts are left unread:
// the multipart reader skips them without buffering.
func (w *walker) leaf(h *textproto.Header, t string, params map[string]string, body io.Reader) {
	if w.havePlain || (t != "text/plain" && t != "text/html") || (t == "text/html" && w.haveHTML) {
		return
	}
	if isAttachment(h.Get("Content-Disposition")) {
		return
	}
	limit := 2*w.opts.MaxTextBytes + 16 // CRLF→LF and trimming only shrink it
	if t == "text/html" {
		limit = 8*w.opts.MaxTextBytes + 64<<10 // markup is most of an HTML part
	}
	data, cut := readCapped(decodeBody(h.Get("Content-Transfer-Encoding"), t, params["charset"], body), limit)
	s := toUTF8(data)
	if strings.TrimSpace(s) == "" {
		// An empty text/plain beside a full HTML part is common; keep looking.
		return
	}
	if t == "text/plain" {
		w.plain, w.plainCut, w.havePlain = s, cut, true
	} else {
		w.html, w.htmlCut, w.haveHTML = s, cut, true
	}
}

// decodeBody undoes the transfer encoding and converts the charset with
// go-message. Unknown encodings and charsets leave the bytes as they are
// (go-message still returns a readable entity); toUTF8 then keeps them
// readable. UTF-8 and ASCII labels are not converted here because mail
// labelled so is often Latin-1, which toUTF8 recognises and the UTF-8
// decoder would turn into U+FFFD.
func decodeBody(cte, t, cs string, body io.Reader) io.Reader {
	cte = strings.ToLower(strings.TrimSpace(cte))
	if cte == "x-uuencode" || cte == "uuencode" || cte == "x-uue" {
		// go-message knows no uuencode; it is rare enough to decode here.
		raw, _ := readCapped(body, 1<<24)
		body, cte = bytes.NewReader(uudecode(raw)), ""
	}
	var hdr message.Header
	ct := t
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	default:
		if f := mime.FormatMediaType(t, map[string]string{"charset": cs}); f != "" {
			ct = f
		}
	}
	hdr.Set("Content-Type", ct)
	if cte != "" {
		hdr.Set("Content-Transfer-Encoding", cte)
	}
	e, err := message.New(hdr, body)
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		return body
	}
	return e.Body
}

// readCapped reads at most limit bytes; cut says more was there. A read
// error (bad base64, a truncated part) keeps what was decoded before it.
// A rune split by the cap is dropped so that valid UTF-8 stays valid.
func readCapped(r io.Reader, limit int) (data []byte, cut bool) {
	data, _ = io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(data) > limit {
		data, cut = data[:limit], true
		data = dropPartialRune(data)
	}
	return data, cut
}

func dropPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// text returns the final Text, TextFromHTML and Truncated values.
func (w *walker) text() (string, bool, bool) {
	var s string
	var fromHTML, cut bool
	switch {
	case w.havePlain:
		s, cut = w.plain, w.plainCut
	case w.haveHTML:
		// k3a/html2text: a dependency-free, linear single-pass converter
		// (no DOM is built, so hostile HTML costs no extra memory).
		s = html2text.HTML2TextWithOptions(w.html, html2text.WithUnixLineBreaks(),
			html2text.WithLinksInnerText(), html2text.WithListSupport())
		fromHTML, cut = true, w.htmlCut
	default:
		return "", false, false
	}
	s = normaliseText(s)
	if len(s) > w.opts.MaxTextBytes {
		i := w.opts.MaxTextBytes
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = strings.TrimRightFunc(s[:i], isSpace), true
	}
	return s, fromHTML, cut
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }

// normaliseText turns every line ending into \n, drops NULs, makes the text
// valid UTF-8 and trims it.
func normaliseText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.TrimSpace(s)
}

// mediaType parses a Content-Type value leniently. The media type is lower
// case; an absent or unusable one is text/plain (RFC 2045 §5.2). When
// mime.ParseMediaType rejects the parameters (duplicates, bad quoting, a
// missing ";"), a tolerant scan still recovers them, the boundary above all.
func mediaType(v string) (string, map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "text/plain", nil
	}
	if t, params, err := mime.ParseMediaType(v); err == nil && validType(t) {
		return t, params
	}
	end := strings.IndexAny(v, "; \t")
	if end < 0 {
		end = len(v)
	}
	t := strings.ToLower(v[:end])
	if !validType(t) {
		t = "text/plain"
	}
	return t, scanParams(v[end:])
}

func validType(t string) bool {
	major, minor, ok := strings.Cut(t, "/")
	return ok && major != "" && minor != "" && !strings.ContainsAny(minor, "/\"(),<>@[]\\")
}

// scanParams reads name=value pairs from what follows the media type; the
// first of duplicate names wins.
func scanParams(rest string) map[string]string {
	params := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, "; \t")
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return params
		}
		name := ""
		if f := strings.Fields(rest[:eq]); len(f) > 0 {
			name = strings.ToLower(f[len(f)-1])
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			val, rest = b.String(), rest[min(i+1, len(rest)):]
		} else {
			end := strings.IndexAny(rest, "; \t")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if _, dup := params[name]; name != "" && !dup {
			params[name] = val
		}
	}
}

func isAttachment(disposition string) bool {
	d, _, _ := strings.Cut(disposition, ";")
	return strings.EqualFold(strings.TrimSpace(d), "attachment")
}

func isDeliveryStatus(t string) bool {
	switch t {
	case "message/delivery-status", "message/global-delivery-status",
		"message/disposition-notification", "message/global-disposition-notification",
		"message/feedback-report":
		return true
	}
	return false
}

// isAttachedMessage says t carries another message or its header.
func isAttachedMessage(t string) bool {
	switch t {
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
		return true
	}
	return false
}

// uudecode decodes the lines of a uuencoded body between "begin" and "end"
// (or all lines when there is no "begin"); malformed lines are skipped.
func uudecode(raw []byte) []byte {
	lines := bytes.Split(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"))
	for j, l := range lines {
		if bytes.HasPrefix(l, []byte("begin ")) {
			lines = lines[j+1:]
			break
		}
	}
	var out []byte
	for _, l := range lines {
		if bytes.Equal(bytes.TrimSpace(l), []byte("end")) {
			break
		}
		if len(l) == 0 {
			continue
		}
		n := int((l[0] - ' ') & 63)
		var dec []byte
		for i := 1; i < len(l) && len(dec) < n; i += 4 {
			var c [4]byte
			for k := range c {
				if i+k < len(l) {
					c[k] = (l[i+k] - ' ') & 63
				}
			}
			dec = append(dec, c[0]<<2|c[1]>>4, c[1]<<4|c[2]>>2, c[2]<<6|c[3])
		}
		if len(dec) > n {
			dec = dec[:n]
		}
		out = append(out, dec...)
	}
	return out
}
