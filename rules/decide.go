package rules

// STUB: owned by the matcher helper; the signature is the contract.

import "time"

// Decide judges one message that arrived in the department's mailbox at
// `at` (IMAP INTERNALDATE): loop protection first, then the rules. It is
// pure: no I/O, no clock, no state.
func (d *Department) Decide(m *Message, at time.Time) Decision { return Decision{} }
