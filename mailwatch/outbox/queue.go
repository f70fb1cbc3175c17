package outbox

import (
	"context"
	"errors"
	"time"
)

// QueuedMail is one outbox row: the fields of store.Mail the sender and a
// Gate read (store.Mail also has FailedAt, DroppedAt and DropReason), with
// the same names and types. The daemon's queue adapter copies them field
// by field; outbox does not import the store.
type QueuedMail struct {
	ID, RequestID int64
	Dept, Kind    string
	MessageID     string
	// EnvelopeFrom is the SMTP reverse-path; "" sends the null path
	// "MAIL FROM:<>" (RFC 3834 §3.3), used for receipts.
	EnvelopeFrom string
	Recipients   []string
	Raw          []byte
	State        string
	Attempts     int // failed attempts so far; drives the backoff
	NextAttempt  time.Time
	CreatedAt    time.Time // the start of the give-up clock (MaxAge)
	SentAt       time.Time
	LastError    string
	// HeldReason is why a Gate holds (or last held) the mail, "" if none
	// ever did; HeldSince is its first hold.
	HeldReason string
	HeldSince  time.Time
}

// Queue is what the Sender needs from the store.
type Queue interface {
	// DueMail returns up to limit pending rows whose NextAttempt is not
	// after now, oldest due first.
	DueMail(ctx context.Context, now time.Time, limit int) ([]QueuedMail, error)
	// NextMailAttempt reports the earliest NextAttempt of a pending row;
	// false when there is none.
	NextMailAttempt(ctx context.Context) (time.Time, bool, error)
	// MarkSent records delivery.
	MarkSent(ctx context.Context, id int64, at time.Time) error
	// MarkRetry records a temporary failure, counts the attempt and
	// schedules the next one.
	MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error
	// MarkFailed records a permanent failure; the row is not tried again.
	MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error
	// MarkHeld keeps the row pending without counting an attempt: a Gate
	// holds it until next (its NextAttempt) for reason; at is now.
	MarkHeld(ctx context.Context, id int64, next time.Time, reason string, at time.Time) error
	// MarkDropped closes the row unsent: a Gate found it no longer worth
	// sending, for reason.
	MarkDropped(ctx context.Context, id int64, at time.Time, reason string) error
}

// ErrClaimLost: this sender no longer holds the claim on a mail (replicas:
// another replica claimed it, or the batch ran so long that the claim
// could lapse). The mail is not sent or marked here; its holder does that.
var ErrClaimLost = errors.New("claim on the mail lost")

// ClaimChecker is a Queue whose mails are claimed by one of several
// senders (replicas). The Sender asks CheckClaim just before MAIL FROM and
// again just before it ends DATA, and sends only while it returns nil: an
// error wrapping ErrClaimLost ends the batch (mid-DATA by dropping the
// connection, so the server discards the mail); any other error is a
// store error. Its Mark methods fail with ErrClaimLost in the same case.
type ClaimChecker interface {
	CheckClaim(ctx context.Context, id int64) error
}

// Verdict is a Gate's answer for one mail.
type Verdict int

// Verdicts.
const (
	// Send: the mail may leave now.
	Send Verdict = iota
	// Hold: a limit keeps the mail back until Admission.Until.
	Hold
	// Drop: the mail is no longer worth sending; close it unsent.
	Drop
)

// Admission is a Gate's decision about one mail, with the reason for Hold
// and Drop.
type Admission struct {
	Verdict Verdict
	Until   time.Time // Hold: when the mail may be tried again
	Reason  string
}

// A Gate decides, just before each delivery, whether a due mail leaves
// now: it enforces sending limits at send time, counted from what was
// actually sent. An error leaves the mail pending for the next pass.
type Gate interface {
	Admit(ctx context.Context, m QueuedMail, now time.Time) (Admission, error)
}
