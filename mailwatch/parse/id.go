package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	"github.com/ackd/ackd/rules"
)

// SyntheticID returns a stable key for a message that has no Message-ID: the
// same raw bytes give the same key, across restarts and UIDVALIDITY changes.
// It hashes the normalised message (no BOM or mbox line, CRLF line ends,
// trailing blank lines dropped), so that the copies a server stores with
// different line endings still get one key.
func SyntheticID(raw []byte) string {
	norm := bytes.TrimRight(normalise(raw), "\r\n")
	sum := sha256.Sum256(norm)
	return "sha256-" + hex.EncodeToString(sum[:]) + "@ackd.invalid"
}

// Key returns m.MessageID, or SyntheticID(raw) when it is empty.
func Key(m *rules.Message, raw []byte) string {
	if m != nil && m.MessageID != "" {
		return m.MessageID
	}
	return SyntheticID(raw)
}
