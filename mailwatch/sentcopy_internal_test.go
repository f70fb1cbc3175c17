package mailwatch

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/outbox"
)

// fakeQueue records what the sender marks.
type fakeQueue struct {
	rows   []outbox.QueuedMail
	mu     sync.Mutex
	marked []string
}

func (q *fakeQueue) DueMail(context.Context, time.Time, int) ([]outbox.QueuedMail, error) {
	return q.rows, nil
}
func (q *fakeQueue) NextMailAttempt(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (q *fakeQueue) mark(s string) error {
	q.mu.Lock()
	q.marked = append(q.marked, s)
	q.mu.Unlock()
	return nil
}
func (q *fakeQueue) MarkSent(context.Context, int64, time.Time) error { return q.mark("sent") }
func (q *fakeQueue) MarkRetry(context.Context, int64, time.Time, string) error {
	return q.mark("retry")
}
func (q *fakeQueue) MarkFailed(context.Context, int64, time.Time, string) error {
	return q.mark("failed")
}
func (q *fakeQueue) MarkHeld(context.Context, int64, time.Time, string, time.Time) error {
	return q.mark("held")
}
func (q *fakeQueue) MarkDropped(context.Context, int64, time.Time, string) error {
	return q.mark("dropped")
}

// syncBuffer is a log sink safe for the appender goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSentCopyUnreachable: with the IMAP server gone, marking a receipt
// sent still succeeds at once, the copy is tried a few times and reported
// lost, and shutdown is not held up.
func TestSentCopyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every dial is refused

	var logBuf syncBuffer
	s := newSentCopies(slog.New(slog.NewTextHandler(&logBuf, nil)))
	s.add("it", MailboxConfig{Addr: addr, TLS: "none", Username: "it-help@example.test", Password: "pw-9c0ffee"}, "Sent")
	s.appenders["it"].backoff = Backoff{Min: time.Millisecond, Max: time.Millisecond}
	inner := &fakeQueue{rows: []outbox.QueuedMail{
		{ID: 1, Dept: "it", Kind: "receipt", Raw: []byte("receipt 1")},
		{ID: 2, Dept: "it", Kind: "escalation", Raw: []byte("escalation")},
		{ID: 3, Dept: "other", Kind: "receipt", Raw: []byte("other dept")},
		{ID: 4, Dept: "it", Kind: "receipt", Raw: []byte("receipt 4")},
	}}
	q := s.wrap(inner)
	stop := s.start(context.Background())

	ctx := context.Background()
	if _, err := q.DueMail(ctx, time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	if len(s.pending) != 2 || s.pending[1].dept != "it" || s.pending[4].dept != "it" {
		t.Errorf("pending copies %v, want rows 1 and 4 (receipts of the department that copies)", s.pending)
	}
	s.mu.Unlock()
	for _, id := range []int64{1, 2, 3} {
		if err := q.MarkSent(ctx, id, time.Now()); err != nil {
			t.Fatalf("MarkSent(%d): %v", id, err)
		}
	}
	if err := q.MarkRetry(ctx, 4, time.Now(), "451"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	if len(s.pending) != 0 {
		t.Errorf("copies still pending after every row was marked: %v", s.pending)
	}
	s.mu.Unlock()
	stop()

	if got := strings.Join(inner.marked, ","); got != "sent,sent,sent,retry" {
		t.Errorf("inner queue marked %s, want sent,sent,sent,retry", got)
	}
	logs := logBuf.String()
	if n := strings.Count(logs, "Sent copy failed; retrying"); n != copyAttempts-1 {
		t.Errorf("%d retries logged, want %d:\n%s", n, copyAttempts-1, logs)
	}
	if n := strings.Count(logs, "Sent copy lost"); n != 1 {
		t.Errorf("%d lost copies logged, want 1 (the receipt of row 1 only):\n%s", n, logs)
	}
	if strings.Contains(logs, "pw-9c0ffee") {
		t.Errorf("the log shows the password")
	}
	// After stop, a late MarkSent must neither panic nor block.
	if _, err := q.DueMail(ctx, time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	if err := q.MarkSent(ctx, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
}
