// Package addrspec holds the one check of a bare mail address (an RFC 5322
// addr-spec, "local@domain") that decides whether ackd can write it into
// a header it sends. The composer (mailwatch/outbox) refuses what Check
// refuses, and rules.Decide, the #assign command and the config loader ask
// the same question first, so a message whose address the composer would
// refuse is turned away with a reason instead of failing later.
//
// It is a leaf: standard library only, imported by rules (pure) and by
// mailwatch/outbox, neither of which may import the other.
package addrspec

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// ErrEmpty is the error for an empty address.
var ErrEmpty = errors.New("empty address")

// Check returns addr as an addr-spec ackd can put in a To, Cc or From
// header, trimmed of surrounding space, or an error saying why it cannot.
//
// Quoted local parts are refused even where RFC 5322 allows them
// (`"a,b"@example.test`): they carry the characters that split or end an
// address list (comma, angle brackets, quotes, spaces), and no person's
// mailbox needs one. Controls (CR, LF, NUL) are refused so no value can
// end a header line.
func Check(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "", ErrEmpty
	}
	if i := strings.IndexAny(a, "\r\n\x00<>\" \t,"); i >= 0 {
		return "", fmt.Errorf("invalid address %q: %q is not allowed in an address", addr, a[i])
	}
	parsed, err := mail.ParseAddress("<" + a + ">")
	if err != nil {
		return "", fmt.Errorf("invalid address %q: %w", addr, err)
	}
	return parsed.Address, nil
}
