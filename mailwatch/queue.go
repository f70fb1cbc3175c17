package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// MarkSentGroup implements outbox.GroupMarker with the store's
// MarkSentMany.
func (q queue) MarkSentGroup(ctx context.Context, marks []outbox.SentMark) ([]error, error) {
	sm := make([]store.SentMark, len(marks))
	for i, m := range marks {
		sm[i] = store.SentMark{ID: m.ID, At: m.At}
	}
	return q.st.MarkSentMany(ctx, sm)
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
// claim is set (replicas), so two replicas never send the same mail. It
// keeps each claimed mail's token and finishes the mail only under it
// (store.WithClaim), so a replica that froze with a claimed batch and woke
// after another replica claimed the mail again cannot mark it; and it
// answers the sender's CheckClaim before each delivery.
type claimQueue struct {
	queue
	claim func(ctx context.Context, now time.Time, limit int) ([]store.Mail, error)
	// check asks the store whether the token still holds the mail.
	check func(ctx context.Context, id int64, token string) error
	// ttl is the claim's length; a batch is given ttl/2 by the monotonic
	// clock mono (time.Now when nil), so it ends well before the claim
	// could lapse, even if this process stood still in between.
	ttl  time.Duration
	mono func() time.Time

	mu     sync.Mutex
	tokens map[int64]string // mail id → claim token, of the batch last claimed
	at     time.Time        // when it was claimed, by mono
}

func (q *claimQueue) DueMail(ctx context.Context, now time.Time, limit int) ([]outbox.QueuedMail, error) {
	if q.claim == nil {
		return q.queue.DueMail(ctx, now, limit)
	}
	at := q.now()
	rows, err := q.claim(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	tokens := make(map[int64]string, len(rows))
	for _, r := range rows {
		tokens[r.ID] = r.ClaimToken
	}
	q.mu.Lock()
	q.tokens, q.at = tokens, at
	q.mu.Unlock()
	return toQueued(rows), nil
}

func (q *claimQueue) now() time.Time {
	if q.mono != nil {
		return q.mono()
	}
	return time.Now()
}

// claimed returns ctx carrying id's claim token, if it has one.
func (q *claimQueue) claimed(ctx context.Context, id int64) context.Context {
	q.mu.Lock()
	token := q.tokens[id]
	q.mu.Unlock()
	if token == "" {
		return ctx
	}
	return store.WithClaim(ctx, token)
}

// CheckClaim implements outbox.ClaimChecker: the batch's time is not up
// and the store still has the mail under this replica's claim.
func (q *claimQueue) CheckClaim(ctx context.Context, id int64) error {
	if q.claim == nil {
		return nil
	}
	q.mu.Lock()
	token, at := q.tokens[id], q.at
	q.mu.Unlock()
	if token == "" {
		return fmt.Errorf("mail %d: %w (not claimed here)", id, outbox.ErrClaimLost)
	}
	if q.ttl > 0 {
		if d := q.now().Sub(at); d >= q.ttl/2 {
			return fmt.Errorf("mail %d: %w (claimed %s ago, the claim lasts %s)", id, outbox.ErrClaimLost, d.Round(time.Second), q.ttl)
		}
	}
	if q.check == nil {
		return nil
	}
	if err := q.check(ctx, id, token); err != nil {
		if errors.Is(err, store.ErrFenced) || errors.Is(err, store.ErrNotPending) || errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %w", outbox.ErrClaimLost, err)
		}
		return err
	}
	return nil
}

func (q *claimQueue) MarkSent(ctx context.Context, id int64, at time.Time) error {
	return lost(q.queue.MarkSent(q.claimed(ctx, id), id, at))
}

// MarkSentGroup records marks under their claim tokens: one group per
// token, in order (a batch is claimed under one token).
func (q *claimQueue) MarkSentGroup(ctx context.Context, marks []outbox.SentMark) ([]error, error) {
	q.mu.Lock()
	tokens := make([]string, len(marks))
	for i, m := range marks {
		tokens[i] = q.tokens[m.ID]
	}
	q.mu.Unlock()
	errs := make([]error, 0, len(marks))
	for start := 0; start < len(marks); {
		end := start + 1
		for end < len(marks) && tokens[end] == tokens[start] {
			end++
		}
		gctx := ctx
		if tokens[start] != "" {
			gctx = store.WithClaim(ctx, tokens[start])
		}
		got, err := q.queue.MarkSentGroup(gctx, marks[start:end])
		if err != nil {
			return nil, err
		}
		for _, e := range got {
			errs = append(errs, lost(e))
		}
		start = end
	}
	return errs, nil
}

func (q *claimQueue) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return lost(q.queue.MarkRetry(q.claimed(ctx, id), id, next, lastErr))
}

func (q *claimQueue) MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return lost(q.queue.MarkFailed(q.claimed(ctx, id), id, at, lastErr))
}

func (q *claimQueue) MarkHeld(ctx context.Context, id int64, next time.Time, reason string, at time.Time) error {
	return lost(q.queue.MarkHeld(q.claimed(ctx, id), id, next, reason, at))
}

func (q *claimQueue) MarkDropped(ctx context.Context, id int64, at time.Time, reason string) error {
	return lost(q.queue.MarkDropped(q.claimed(ctx, id), id, at, reason))
}

// lost marks a mark refused for a lost claim as outbox.ErrClaimLost.
func lost(err error) error {
	if errors.Is(err, store.ErrFenced) {
		return fmt.Errorf("%w: %w", outbox.ErrClaimLost, err)
	}
	return err
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
