package outbox

import (
	"context"
	"time"
)

// QueuedMail is one outbox row. Its fields mirror store.Mail one for one,
// in the same order and with the same types, so the adapter is a plain
// conversion: outbox.QueuedMail(m).
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
}
