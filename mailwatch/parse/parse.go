// Package parse turns raw RFC 5322 bytes into a rules.Message.
//
// Real mail is often malformed, so the parser is tolerant: it normalises line
// endings, skips a BOM and an mbox "From " line, reads header fields one by
// one (a broken field never hides the others) and walks the MIME tree with
// go-message, keeping whatever it can decode. It fails only on input that has
// no header block at all (ErrNotMail) or that exceeds Options.MaxBytes
// (ErrTooLarge). Work and memory are bounded by the input size and the caps
// below.
package parse

import (
	"errors"
	"fmt"

	"github.com/ackd/ackd/rules"
)

// Defaults for Options fields left at zero.
const (
	defaultMaxBytes     = 25 << 20
	defaultMaxTextBytes = 64 << 10
)

// Limits that keep hostile MIME trees cheap.
const (
	maxDepth = 20
	maxParts = 200
)

var (
	// ErrTooLarge is returned (wrapped) for a message over Options.MaxBytes.
	ErrTooLarge = errors.New("message too large")
	// ErrNotMail is returned (wrapped) for input without a header block.
	ErrNotMail = errors.New("not a mail message")
)

// Options bound the work Parse does on one message.
type Options struct {
	MaxBytes     int64 // larger messages are refused with ErrTooLarge (wrapped); 0 = 25 MiB
	MaxTextBytes int   // cap for Message.Text (cut on a UTF-8 boundary, Truncated=true); 0 = 64 KiB
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = defaultMaxTextBytes
	}
	return o
}

// Parse decodes one raw message. Malformed mail still yields every header
// and as much body text as can be recovered; the only errors are ErrTooLarge
// and ErrNotMail, both wrapped.
func Parse(raw []byte, opts Options) (m *rules.Message, err error) {
	opts = opts.withDefaults()
	if int64(len(raw)) > opts.MaxBytes {
		return nil, fmt.Errorf("parse message: %d bytes over the %d-byte limit: %w", len(raw), opts.MaxBytes, ErrTooLarge)
	}
	// A bug in a decoding library must cost one message, not the daemon.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("parse message: internal error: %v", r)
		}
	}()

	norm := normalise(raw)
	hdr, body, ok := splitHeader(norm)
	if !ok {
		return nil, fmt.Errorf("parse message: no header block: %w", ErrNotMail)
	}

	m = &rules.Message{Size: len(raw)}
	fillHeader(m, hdr)

	w := newWalker(opts)
	w.top(hdr, body)
	m.ContentType = w.topType
	m.ReportType = w.reportType
	m.HasDeliveryStatus = w.hasDeliveryStatus
	m.HasAttachedMessage = w.hasAttached
	m.Text, m.TextFromHTML, m.Truncated = w.text()
	return m, nil
}
