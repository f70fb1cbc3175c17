package parse

import (
	"bytes"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

const utf8BOM = "\xEF\xBB\xBF"

// normalise strips what is not part of the RFC 5322 message (a UTF-8 BOM, an
// mbox "From " separator line, blank lines before the header) and rewrites
// lone CR and lone LF as CRLF, so that go-message sees canonical line ends.
// The result is at most twice the size of raw.
func normalise(raw []byte) []byte {
	b := bytes.TrimPrefix(raw, []byte(utf8BOM))
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			b = b[i:]
			b = bytes.TrimPrefix(b, []byte("\r"))
			b = bytes.TrimPrefix(b, []byte("\n"))
		} else {
			b = nil
		}
		b = bytes.TrimPrefix(b, []byte(utf8BOM))
	}
	b = bytes.TrimLeft(b, "\r\n")

	lone := loneLineEnds(b)
	if lone == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+lone)
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			out = append(out, b...)
			break
		}
		out = append(out, b[:i]...)
		out = append(out, '\r', '\n')
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
	}
	return out
}

// loneLineEnds counts the CRs and LFs of b that are not part of a CRLF.
func loneLineEnds(b []byte) int {
	n := 0
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			return n
		}
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			b = b[i+2:]
			continue
		}
		n++
		b = b[i+1:]
	}
}

// splitHeader reads the header block of a normalised message field by field.
// Unlike textproto.ReadHeader it does not give up at the first malformed
// line: a stray continuation before any field, mbox ">From " lines and a
// junk line followed by a field are skipped, and any other line that is not
// a field ends the header even without the blank separator line (the body
// then starts there). 8-bit field bytes are
// kept as UTF-8 when valid, else read as Latin-1 (Windows-1252, its usual
// superset in practice). ok is false when not a single field was found.
func splitHeader(b []byte) (h textproto.Header, body []byte, ok bool) {
	var fields [][]byte
	var cur []byte // the field being assembled, with its folded lines
	flush := func() {
		if cur != nil {
			fields = append(fields, fieldToUTF8(cur))
			cur = nil
		}
	}
	done := func(body []byte) (textproto.Header, []byte, bool) {
		flush()
		// go-message keeps fields newest first (as ReadHeader leaves
		// them), so add them in reverse for Get to return the topmost.
		for i := len(fields) - 1; i >= 0; i-- {
			h.AddRaw(fields[i])
		}
		return h, body, len(fields) > 0
	}
	for len(b) > 0 {
		line, rest := cutLine(b)
		switch {
		case len(line) == 0: // the blank separator line
			return done(rest)
		case line[0] == ' ' || line[0] == '\t':
			if cur != nil {
				cur = append(cur, "\r\n"...)
				cur = append(cur, line...)
			}
		case isFieldLine(line):
			flush()
			cur = append(make([]byte, 0, len(line)+2), line...)
		case bytes.HasPrefix(line, []byte("From ")) || bytes.HasPrefix(line, []byte(">From ")):
			// mbox separator residue inside the header: not a field, not the body.
		default:
			// A junk line between fields ("quite Delivered-To: …" in the
			// corpus) is skipped when a field follows it; otherwise the
			// body starts here, without the blank separator line.
			if next, _ := cutLine(rest); isFieldLine(next) {
				break
			}
			return done(b)
		}
		b = rest
	}
	return done(nil)
}

// cutLine splits b at the first CRLF (the line excludes it).
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		return b[:i], b[i+2:]
	}
	return b, nil
}

// isFieldLine reports whether line starts with a field name and a colon.
// Whitespace between name and colon occurs in the wild and is accepted.
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// fieldToUTF8 returns the raw field (with its CRLF) as valid UTF-8.
func fieldToUTF8(f []byte) []byte {
	f = append(f, "\r\n"...)
	if utf8.Valid(f) {
		return f
	}
	return []byte(latin1(f))
}

// latin1 decodes b as Windows-1252, the charset mislabelled or unlabelled
// 8-bit mail is most often written in; it never fails.
func latin1(b []byte) string {
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	return string(out)
}

// toUTF8 keeps valid UTF-8 and reads anything else as Latin-1.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return latin1(b)
}
