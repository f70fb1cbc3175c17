package rules

import (
	"net/textproto"
	"strings"
	"time"
)

// Address is one mailbox: an optional display name and the addr-spec.
type Address struct {
	Name    string
	Address string // lower-cased domain part is not assumed; compare with EqualAddress
}

// String formats the address for logs, never for headers.
func (a Address) String() string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}

// EqualAddress compares two addr-specs the way mail systems do in practice:
// case-insensitively (RFC 5321 allows case-sensitive local parts, but no
// real mailbox relies on it and staff write addresses every which way).
func EqualAddress(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// Message is what ackd knows of one incoming mail after parsing: decoded
// headers and a plain-text body. It is built by mailwatch and judged by
// Decide; rules never reads raw bytes.
type Message struct {
	// MessageID is the Message-ID without angle brackets; empty when the
	// message has none (mailwatch then keys it by a synthetic ID).
	MessageID  string
	InReplyTo  []string // without angle brackets
	References []string // without angle brackets, oldest first

	From    Address
	Sender  *Address
	ReplyTo []Address
	To      []Address
	Cc      []Address

	// ReturnPath is the Return-Path address without brackets; HasReturnPath
	// says whether the header was present at all ("<>" gives "" and true).
	ReturnPath    string
	HasReturnPath bool

	Subject string    // RFC 2047-decoded
	Date    time.Time // the sender's Date header; zero when absent or broken

	// Header holds every header field, decoded to UTF-8 where possible,
	// keyed by canonical MIME header key (textproto.CanonicalMIMEHeaderKey).
	Header map[string][]string

	// ContentType is the top-level media type, lower case ("multipart/report").
	ContentType string
	// ReportType is the report-type parameter of a multipart/report.
	ReportType string
	// HasDeliveryStatus is true when any part is message/delivery-status,
	// message/disposition-notification or message/feedback-report.
	HasDeliveryStatus bool
	// HasAttachedMessage is true when any part is message/rfc822,
	// message/global, text/rfc822-headers or message/global-headers: a
	// returned, held or forwarded original.
	HasAttachedMessage bool

	// Text is the plain-text body: the text/plain part, or the text/html
	// part converted to text, capped in size.
	Text string
	// TextFromHTML says Text was converted from HTML.
	TextFromHTML bool
	// Truncated says Text was cut at the size cap.
	Truncated bool
	// Size is the size of the raw message in bytes.
	Size int
}

// Get returns the first value of the named header field, or "".
func (m *Message) Get(name string) string {
	v := m.Header[textproto.CanonicalMIMEHeaderKey(name)]
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Values returns every value of the named header field.
func (m *Message) Values(name string) []string {
	return m.Header[textproto.CanonicalMIMEHeaderKey(name)]
}

// Has says whether the named header field is present at all.
func (m *Message) Has(name string) bool {
	_, ok := m.Header[textproto.CanonicalMIMEHeaderKey(name)]
	return ok
}
