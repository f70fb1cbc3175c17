package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMarkAhead is how many mails the server may have accepted that the
// store does not yet record as sent (WithMarkAhead): the most a crash can
// send twice.
const DefaultMarkAhead = 8

// SentMark is one delivery to record (GroupMarker).
type SentMark struct {
	ID int64
	At time.Time // the send time, as MarkSent's at
}

// GroupMarker is a Queue that records several deliveries in one store
// transaction. The Sender marks sent mail in groups through it.
type GroupMarker interface {
	// MarkSentGroup records marks in the order given, each as MarkSent
	// would, in one transaction. A mark MarkSent would refuse (the mail
	// is not pending, or its claim passed on: ErrClaimLost) does not stop
	// the others; its error is at its index in errs, nil where the mark
	// was recorded. err is a store error: then none was recorded.
	MarkSentGroup(ctx context.Context, marks []SentMark) (errs []error, err error)
}

// MarkSentGroup records marks through q: in one call when q is a
// GroupMarker, else with one MarkSent each (every failure then lands in
// errs). Queue wrappers use it to pass groups through.
func MarkSentGroup(ctx context.Context, q Queue, marks []SentMark) ([]error, error) {
	if g, ok := q.(GroupMarker); ok {
		errs, err := g.MarkSentGroup(ctx, marks)
		if err == nil && len(errs) != len(marks) {
			return nil, fmt.Errorf("mark %d mails sent: the queue answered for %d", len(marks), len(errs))
		}
		return errs, err
	}
	errs := make([]error, len(marks))
	for i, m := range marks {
		errs[i] = q.MarkSent(ctx, m.ID, m.At)
	}
	return errs, nil
}

// Unmarked is a mail the server accepted whose "sent" the store may not
// record yet.
type Unmarked struct {
	Mail QueuedMail
	At   time.Time // when the server accepted it
}

// An UnmarkedGate is a Gate that also counts the mails the Sender has sent
// but not yet recorded (it records sent in groups, off the SMTP path), so
// that a cap counted from the store stays exact within one sender. The
// Sender calls AdmitUnmarked instead of Admit while any are unrecorded; a
// mail may appear both there and in the store (recorded meanwhile), which
// counts it twice, never not at all. With a Gate that is not an
// UnmarkedGate the Sender waits for its marks before it asks.
type UnmarkedGate interface {
	Gate
	AdmitUnmarked(ctx context.Context, m QueuedMail, now time.Time, unmarked []Unmarked) (Admission, error)
}

// WithMarkAhead lets up to n mails be accepted by the server before the
// store records them as sent (default DefaultMarkAhead): the Sender hands
// each accepted mail to a goroutine that records them in groups, in order,
// one transaction per group, and goes on with the next mail meanwhile. It
// waits before the next mail's transaction while n are unrecorded, and
// before Drain returns until all are. So a crash sends at most n mails a
// second time (at least once, as before, with a wider window); 1 records
// each mail before the next leaves.
func WithMarkAhead(n int) Option { return func(s *Sender) { s.markAhead = max(n, 1) } }

// accepted is a mail the server took, waiting for its mark.
type accepted struct {
	m   QueuedMail
	res result
	at  time.Time
}

// marker records the sent mail of one Drain in groups, in the order the
// server accepted them, on a goroutine of its own.
type marker struct {
	s     *Sender
	ctx   context.Context // outlives Drain's: accepted mail must be recorded
	limit int

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []accepted // accepted, not yet taken by a commit
	busy    []accepted // in the commit running
	started bool
	closing bool
	done    chan struct{}
	// What the commits found: marks refused as a lost claim, and the
	// first other failure.
	lost int
	err  error
}

func newMarker(s *Sender, ctx context.Context) *marker {
	k := &marker{s: s, ctx: context.WithoutCancel(ctx), limit: s.markAhead, done: make(chan struct{})}
	k.cond = sync.NewCond(&k.mu)
	return k
}

// room waits until another mail may be accepted: fewer than limit are
// unrecorded. It reports false once a commit failed or found a lost
// claim; the batch ends there.
func (k *marker) room() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for k.err == nil && k.lost == 0 && len(k.queue)+len(k.busy) >= k.limit {
		k.cond.Wait()
	}
	return k.err == nil && k.lost == 0
}

// settle waits until every accepted mail is recorded (or refused), and
// reports whether the batch may go on, as room.
func (k *marker) settle() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.queue)+len(k.busy) > 0 {
		k.cond.Wait()
	}
	return k.err == nil && k.lost == 0
}

// add hands an accepted mail to the committing goroutine.
func (k *marker) add(a accepted) {
	k.mu.Lock()
	k.queue = append(k.queue, a)
	if !k.started {
		k.started = true
		go k.run()
	}
	k.cond.Broadcast()
	k.mu.Unlock()
}

// unmarked lists the accepted mails not yet recorded.
func (k *marker) unmarked() []Unmarked {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Unmarked, 0, len(k.busy)+len(k.queue))
	for _, list := range [][]accepted{k.busy, k.queue} {
		for _, a := range list {
			out = append(out, Unmarked{Mail: a.m, At: a.at})
		}
	}
	return out
}

// close waits until every accepted mail is recorded and the goroutine has
// ended; it returns the marks refused as a lost claim and the first store
// error.
func (k *marker) close() (lost int, err error) {
	k.mu.Lock()
	k.closing = true
	started := k.started
	k.cond.Broadcast()
	k.mu.Unlock()
	if started {
		<-k.done
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lost, k.err
}

func (k *marker) run() {
	defer close(k.done)
	for {
		k.mu.Lock()
		for len(k.queue) == 0 && !k.closing {
			k.cond.Wait()
		}
		if len(k.queue) == 0 {
			k.mu.Unlock()
			return
		}
		k.busy, k.queue = k.queue, nil
		group := k.busy
		k.mu.Unlock()

		lost, err := k.commit(group)

		k.mu.Lock()
		k.busy = nil
		k.lost += lost
		if k.err == nil {
			k.err = err
		}
		k.cond.Broadcast()
		k.mu.Unlock()
	}
}

// commit records one group and logs each mail's outcome.
func (k *marker) commit(group []accepted) (lost int, err error) {
	ctx, cancel := context.WithTimeout(k.ctx, 10*time.Second)
	defer cancel()
	marks := make([]SentMark, len(group))
	for i, a := range group {
		marks[i] = SentMark{ID: a.m.ID, At: a.at}
	}
	errs, err := MarkSentGroup(ctx, k.s.q, marks)
	if err != nil {
		for _, a := range group {
			k.s.mailLog(a.m).Error("mail sent but not marked sent; it may be sent twice", "error", err)
		}
		return 0, fmt.Errorf("mark %d mails sent: %w", len(group), err)
	}
	for i, a := range group {
		log := k.s.mailLog(a.m)
		switch e := errs[i]; {
		case e == nil && len(a.res.rejected) > 0:
			log.Warn("mail sent, some recipients refused", "refused", a.res.rejected, "error", a.res.err)
		case e == nil:
			log.Info("mail sent")
		case errors.Is(e, ErrClaimLost):
			log.Warn("mail sent but its claim passed on before it was marked", "error", e)
			lost++
		default:
			// The server has it; if this row stays pending it will be sent again.
			log.Error("mail sent but not marked sent; it may be sent twice", "error", e)
			if err == nil {
				err = fmt.Errorf("mark mail %d sent: %w", a.m.ID, e)
			}
		}
	}
	return lost, err
}
