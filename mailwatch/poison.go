package mailwatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// ErrContent marks a failure caused by the message itself: handling the
// same bytes again fails the same way, so retrying only holds up the
// mailbox. Wrap such an error with Permanent; test with IsPermanent.
var ErrContent = errors.New("the message itself cannot be handled")

// RefuseUnprocessable: handling the message failed because of its
// content (an outbox.ComposeError, a template that failed on its data).
// The code lives in rules with all the others.
const RefuseUnprocessable = rules.RefuseUnprocessable

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrContent} }

// Permanent marks err as caused by the message's content (errors.Is(…,
// ErrContent) holds for the result). A nil err stays nil.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrContent) {
		return err
	}
	return permanentError{err}
}

// IsPermanent reports whether err was caused by the message and not by
// the store, the network or the clock: marked with Permanent, or an error
// of the pure steps that turn a message into mail (outbox.ComposeError,
// templates.Error), which fail the same way on every retry. Everything
// else is transient and retried.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var ce *outbox.ComposeError
	var te *templates.Error
	return errors.Is(err, ErrContent) || errors.As(err, &ce) || errors.As(err, &te)
}

// skipUnprocessable records a message whose handling failed permanently as
// skipped with the error as its reason, so the mailbox moves on past it. A
// failure to record it is returned as it is (transient: retried).
func (p *Processor) skipUnprocessable(ctx context.Context, deptName string, f Fetched, cause error) (Outcome, error) {
	s := store.Skipped{Dept: deptName, Mailbox: f.Mailbox, UID: f.UID, Refusal: string(RefuseUnprocessable),
		Reason: "could not be handled: " + cause.Error(), At: f.InternalDate}
	rt := p.runtime()
	limits := rt.Config.Limits
	if m, err := parse.Parse(f.Raw, parse.Options{MaxBytes: limits.MaxMessageBytes, MaxTextBytes: limits.MaxTextBytes}); err == nil {
		s.MessageKey = parse.Key(m, f.Raw)
		s.MessageID, s.From, s.Subject = m.MessageID, m.From.Address, m.Subject
	} else {
		s.MessageKey = parse.SyntheticID(f.Raw)
	}
	err := p.store.RecordSkipped(ctx, s)
	if errors.Is(err, store.ErrDuplicate) {
		return Outcome{Key: s.MessageKey, Action: "duplicate"}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("record unprocessable message: %w", err)
	}
	p.log.Error("message could not be handled; recorded as skipped, the mailbox moves on",
		"dept", deptName, "mailbox", f.Mailbox, "uid", f.UID, "key", s.MessageKey, "err", cause)
	return Outcome{Key: s.MessageKey, Action: "skipped", Decision: rules.Decision{Refusal: RefuseUnprocessable, Reason: s.Reason}}, nil
}
