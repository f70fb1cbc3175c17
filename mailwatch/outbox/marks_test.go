package outbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/smtpsink"
)

// groupQueue is a fakeQueue that records sent mail in groups
// (GroupMarker). Its first commit waits until release is closed, as a
// store stalled on a slow fsync would; the test reads what was committed.
type groupQueue struct {
	*fakeQueue
	release chan struct{}
	entered chan struct{} // closed when the first commit starts

	mu       sync.Mutex
	groups   [][]int64
	recorded int
	refuse   map[int64]error
}

func newGroupQueue(q *fakeQueue) *groupQueue {
	return &groupQueue{fakeQueue: q, release: make(chan struct{}), entered: make(chan struct{}), refuse: map[int64]error{}}
}

func (q *groupQueue) MarkSentGroup(ctx context.Context, marks []SentMark) ([]error, error) {
	q.mu.Lock()
	first := len(q.groups) == 0
	ids := make([]int64, len(marks))
	for i, m := range marks {
		ids[i] = m.ID
	}
	q.groups = append(q.groups, ids)
	q.mu.Unlock()
	if first {
		close(q.entered)
		select {
		case <-q.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	errs := make([]error, len(marks))
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, m := range marks {
		if e := q.refuse[m.ID]; e != nil {
			errs[i] = e
			continue
		}
		errs[i] = q.fakeQueue.MarkSent(ctx, m.ID, m.At)
		q.recorded++
	}
	return errs, nil
}

func (q *groupQueue) committed() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.recorded
}

// TestSenderMarkAheadBound: the sender goes on sending while the store
// records "sent" (here: while the first commit stalls), but never has more
// than mark-ahead mails at the server that the store does not record as
// sent, which is all a crash at that moment could send twice. The marks
// come in groups, in the order the server accepted the mails, and Drain
// returns only when all are recorded. The old sender recorded each mail
// before the next left: one message while the first commit stalled.
func TestSenderMarkAheadBound(t *testing.T) {
	const total, ahead = 12, 4
	var gq *groupQueue
	var mu sync.Mutex
	var worst, arrivals int // the most mails at the server not recorded as sent, seen at each arrival
	f := newFixture(t, smtpsink.WithOnMessage(func(smtpsink.Received) {
		mu.Lock()
		defer mu.Unlock()
		arrivals++ // this mail is at the server; the sender has not seen the reply yet
		if gq != nil {
			worst = max(worst, arrivals-gq.committed())
		}
	}))
	var ids []int64
	for i := range total {
		ids = append(ids, f.enqueue(t, i, ""))
	}
	mu.Lock()
	gq = newGroupQueue(f.q)
	mu.Unlock()
	s := NewSender(gq, f.config(), nil, WithClock(f.clock.Now), WithBackoff(testBackoff), WithMarkAhead(ahead))

	type result struct {
		n   Drained
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.Drain(t.Context())
		done <- result{n, err}
	}()
	<-gq.entered
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := f.sink.WaitFor(ctx, ahead); err != nil {
		t.Fatalf("while the first commit stalls, the server got %d messages, want %d: %v", len(f.sink.Messages()), ahead, err)
	}
	// Give a sender that ignores the bound the time to overrun it.
	time.Sleep(50 * time.Millisecond)
	if got := len(f.sink.Messages()); got != ahead {
		t.Fatalf("while the first commit stalls, the server got %d messages, want exactly %d (the mark-ahead)", got, ahead)
	}
	select {
	case r := <-done:
		t.Fatalf("Drain returned %+v, %v before its marks were recorded", r.n, r.err)
	default:
	}
	close(gq.release)
	r := <-done
	if r.err != nil || r.n.Sent != total {
		t.Fatalf("Drain = %+v, %v; want %d sent", r.n, r.err, total)
	}
	for _, id := range ids {
		if m := f.q.get(id); m.State != "sent" {
			t.Errorf("mail %d is %s after Drain, want sent", id, m.State)
		}
	}
	mu.Lock()
	if worst > ahead {
		t.Errorf("at one point %d mails were at the server and not recorded, want at most %d", worst, ahead)
	}
	mu.Unlock()
	var order []int64
	for _, g := range gq.groups {
		order = append(order, g...)
	}
	if !slices.Equal(order, ids) {
		t.Errorf("marks in order %v, want %v", order, ids)
	}
	if len(gq.groups) >= total {
		t.Errorf("%d commits for %d mails, want groups", len(gq.groups), total)
	}
}

// TestSenderMarkGroupRefusals: a mark the store refuses in a group ends
// the batch (a lost claim counted as Lost, anything else as a store
// error) while the rest of the group is recorded.
func TestSenderMarkGroupRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		refusal  error
		wantLost int
		wantErr  bool
	}{
		{"lost claim", fmt.Errorf("mark sent: %w", ErrClaimLost), 1, false},
		{"not pending", fmt.Errorf("mail is sent"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var ids []int64
			for i := range 3 {
				ids = append(ids, f.enqueue(t, i, ""))
			}
			gq := newGroupQueue(f.q)
			close(gq.release)
			gq.refuse[ids[0]] = tc.refusal
			s := NewSender(gq, f.config(), nil, WithClock(f.clock.Now), WithBackoff(testBackoff), WithMarkAhead(1))
			n, err := s.Drain(t.Context())
			if (err != nil) != tc.wantErr || n.Lost != tc.wantLost {
				t.Fatalf("Drain = %+v, %v; want lost %d, error %v", n, err, tc.wantLost, tc.wantErr)
			}
			if got := len(f.sink.Messages()); got != 1 {
				t.Errorf("the server got %d messages, want 1 (the batch ends at the refused mark)", got)
			}
			if m := f.q.get(ids[1]); m.State != "pending" || m.Attempts != 0 {
				t.Errorf("the next mail is %s after %d attempts, want pending and untouched", m.State, m.Attempts)
			}
		})
	}
}
