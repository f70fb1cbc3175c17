package outbox

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// claimingQueue is a fakeQueue whose claims can be lost: lose says, for
// the n-th CheckClaim of a mail (1: before MAIL FROM, 2: before the end of
// DATA), whether the claim is gone by then.
type claimingQueue struct {
	*fakeQueue
	mu     sync.Mutex
	checks map[int64]int
	lose   func(id int64, n int) bool
}

func (q *claimingQueue) CheckClaim(_ context.Context, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.checks[id]++
	if q.lose(id, q.checks[id]) {
		return fmt.Errorf("mail %d: %w", id, ErrClaimLost)
	}
	return nil
}

// TestSenderChecksItsClaim: a sender whose claim passed to another replica
// sends nothing more: not the mail whose claim is gone before MAIL FROM,
// not one whose claim went while its DATA was on the wire (the connection
// drops without the final dot), and nothing after it in the batch; none of
// them is marked.
func TestSenderChecksItsClaim(t *testing.T) {
	cases := []struct {
		name     string
		loseAt   int // which check of the second mail fails
		wantSent int
	}{
		{"before MAIL FROM", 1, 1},
		{"before the end of DATA", 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			var ids []int64
			for i := range 3 {
				ids = append(ids, f.enqueue(t, i, ""))
			}
			cq := &claimingQueue{fakeQueue: f.q, checks: map[int64]int{},
				lose: func(id int64, n int) bool { return id == ids[1] && n == tc.loseAt }}
			s := NewSender(cq, f.config(), nil, WithClock(f.clock.Now), WithBackoff(testBackoff))
			n, err := s.Drain(t.Context())
			if err != nil {
				t.Fatalf("Drain: %v", err)
			}
			if n.Sent != tc.wantSent || n.Lost != 1 || n.Retried+n.Failed != 0 {
				t.Errorf("drained %+v, want %d sent and 1 lost", n, tc.wantSent)
			}
			if got := len(f.sink.Messages()); got != tc.wantSent {
				t.Errorf("the server got %d messages, want %d", got, tc.wantSent)
			}
			if r := f.q.get(ids[0]); r.State != "sent" {
				t.Errorf("the first mail is %s, want sent", r.State)
			}
			for _, id := range ids[1:] {
				if r := f.q.get(id); r.State != "pending" || r.Attempts != 0 {
					t.Errorf("mail %d is %s after %d attempts, want pending and untouched", id, r.State, r.Attempts)
				}
			}
			if cq.checks[ids[0]] != 2 {
				t.Errorf("the first mail's claim was checked %d times, want 2 (MAIL FROM, end of DATA)", cq.checks[ids[0]])
			}
			if cq.checks[ids[2]] != 0 {
				t.Error("the batch went on after a lost claim")
			}
		})
	}
}

// lostMarks refuses every MarkSent as a lost claim would.
type lostMarks struct{ *fakeQueue }

func (q lostMarks) MarkSent(context.Context, int64, time.Time) error {
	return fmt.Errorf("mark sent: %w", ErrClaimLost)
}

// TestSenderLostClaimOnMarkEndsBatch: a mark refused because the claim
// passed on ends the batch, and is no store error.
func TestSenderLostClaimOnMarkEndsBatch(t *testing.T) {
	f := newFixture(t)
	for i := range 2 {
		f.enqueue(t, i, "")
	}
	// WithMarkAhead(1): the first mark's refusal is known before the
	// second mail could leave (TestSenderMarkAheadBound covers more).
	s := NewSender(lostMarks{f.q}, f.config(), nil, WithClock(f.clock.Now), WithBackoff(testBackoff), WithMarkAhead(1))
	n, err := s.Drain(t.Context())
	if err != nil {
		t.Fatalf("Drain: %v, want no error", err)
	}
	if n.Lost != 1 || len(f.sink.Messages()) != 1 {
		t.Errorf("drained %+v with %d messages sent, want the batch to end after the first", n, len(f.sink.Messages()))
	}
}
