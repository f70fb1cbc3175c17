package mailwatch

import (
	"context"
	"time"

	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
)

// queue lets the outbox sender drain the store's outbox; outbox may not
// import store, so the row types are converted here.
type queue struct{ st store.Store }

// OutboxQueue is st's outbox as the sender drains it (one replica, no
// claims).
func OutboxQueue(st store.Store) outbox.Queue { return queue{st} }

func (q queue) DueMail(ctx context.Context, now time.Time, limit int) ([]outbox.QueuedMail, error) {
	rows, err := q.st.DueMail(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	return toQueued(rows), nil
}

func (q queue) NextMailAttempt(ctx context.Context) (time.Time, bool, error) {
	return q.st.NextMailAttempt(ctx)
}

func (q queue) MarkSent(ctx context.Context, id int64, at time.Time) error {
	return q.st.MarkSent(ctx, id, at)
}

func (q queue) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return q.st.MarkRetry(ctx, id, next, lastErr)
}

func (q queue) MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return q.st.MarkFailed(ctx, id, at, lastErr)
}

func (q queue) MarkHeld(ctx context.Context, id int64, next time.Time, reason string, at time.Time) error {
	return q.st.HoldMail(ctx, id, next, reason, at)
}

func (q queue) MarkDropped(ctx context.Context, id int64, at time.Time, reason string) error {
	return q.st.DropMail(ctx, id, at, reason)
}

// claimQueue is the sender's queue: DueMail claims the mail first when
// claim is set (replicas), so two replicas never send the same mail.
type claimQueue struct {
	queue
	claim func(ctx context.Context, now time.Time, limit int) ([]store.Mail, error)
}

func (q *claimQueue) DueMail(ctx context.Context, now time.Time, limit int) ([]outbox.QueuedMail, error) {
	if q.claim == nil {
		return q.queue.DueMail(ctx, now, limit)
	}
	rows, err := q.claim(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	return toQueued(rows), nil
}

func toQueued(rows []store.Mail) []outbox.QueuedMail {
	out := make([]outbox.QueuedMail, len(rows))
	for i, r := range rows {
		out[i] = outbox.QueuedMail{
			ID: r.ID, RequestID: r.RequestID, Dept: r.Dept, Kind: r.Kind, MessageID: r.MessageID,
			EnvelopeFrom: r.EnvelopeFrom, Recipients: r.Recipients, Raw: r.Raw, State: r.State,
			Attempts: r.Attempts, NextAttempt: r.NextAttempt, CreatedAt: r.CreatedAt, SentAt: r.SentAt, LastError: r.LastError,
			HeldReason: r.HeldReason, HeldSince: r.HeldSince,
		}
	}
	return out
}
