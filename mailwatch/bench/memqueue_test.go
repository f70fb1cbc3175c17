package bench_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
)

// memQueue is an outbox queue in memory: sending through it with
// outbox.Sender isolates ackd's SMTP side (a connection per batch,
// STARTTLS, RSET between messages) from the store's fsyncs.
type memQueue struct {
	mu      sync.Mutex
	pending []outbox.QueuedMail
	sent    int
}

func (q *memQueue) DueMail(_ context.Context, _ time.Time, limit int) ([]outbox.QueuedMail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]outbox.QueuedMail(nil), q.pending[:min(limit, len(q.pending))]...), nil
}

func (q *memQueue) NextMailAttempt(context.Context) (time.Time, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return time.Now(), len(q.pending) > 0, nil
}

func (q *memQueue) remove(id int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, m := range q.pending {
		if m.ID == id {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			return
		}
	}
}

func (q *memQueue) MarkSent(_ context.Context, id int64, _ time.Time) error {
	q.remove(id)
	q.mu.Lock()
	q.sent++
	q.mu.Unlock()
	return nil
}

func (q *memQueue) MarkRetry(_ context.Context, id int64, _ time.Time, lastErr string) error {
	return fmt.Errorf("mail %d deferred: %s", id, lastErr)
}

func (q *memQueue) MarkFailed(_ context.Context, id int64, _ time.Time, lastErr string) error {
	return fmt.Errorf("mail %d failed: %s", id, lastErr)
}

func (q *memQueue) MarkHeld(_ context.Context, id int64, _ time.Time, reason string, _ time.Time) error {
	return fmt.Errorf("mail %d held: %s", id, reason)
}

func (q *memQueue) MarkDropped(_ context.Context, id int64, _ time.Time, reason string) error {
	return fmt.Errorf("mail %d dropped: %s", id, reason)
}

// sendWithSender drains mails through ackd's own outbox.Sender with a
// memQueue, in batches of the Sender's default size, and returns when all
// were accepted.
func sendWithSender(ctx context.Context, s *mailstack.Stack, mails []store.Mail) error {
	q := &memQueue{}
	for _, m := range mails {
		q.pending = append(q.pending, outbox.QueuedMail{ID: m.ID, Kind: m.Kind, MessageID: m.MessageID,
			EnvelopeFrom: m.EnvelopeFrom, Recipients: m.Recipients, Raw: m.Raw, CreatedAt: time.Now()})
	}
	host, port, err := net.SplitHostPort(s.SMTPAddr)
	if err != nil {
		return fmt.Errorf("smtp address: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("smtp port %q: %w", port, err)
	}
	snd := outbox.NewSender(q, outbox.SMTPConfig{Host: host, Port: p, TLS: outbox.TLSStartTLS, RootCAs: s.CAPool()}, nil)
	for {
		if _, _, _, err := snd.DrainOnce(ctx); err != nil {
			return fmt.Errorf("outbox sender: %w", err)
		}
		q.mu.Lock()
		left := len(q.pending)
		q.mu.Unlock()
		if left == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
