package outbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptGate answers Admit from a function and records what it was asked.
type scriptGate struct {
	mu     sync.Mutex
	asked  []int64
	answer func(m QueuedMail, now time.Time) (Admission, error)
}

func (g *scriptGate) Admit(_ context.Context, m QueuedMail, now time.Time) (Admission, error) {
	g.mu.Lock()
	g.asked = append(g.asked, m.ID)
	g.mu.Unlock()
	return g.answer(m, now)
}

func drained(t *testing.T, s *Sender) Drained {
	t.Helper()
	n, err := s.Drain(t.Context())
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return n
}

// A held mail stays pending, untried, until the moment the gate named;
// then it goes out.
func TestSenderGateHolds(t *testing.T) {
	f := newFixture(t)
	until := t0.Add(time.Hour)
	g := &scriptGate{answer: func(m QueuedMail, now time.Time) (Admission, error) {
		if now.Before(until) {
			return Admission{Verdict: Hold, Until: until, Reason: "per_sender_per_hour: 10 mails to joerg@example.test in the last hour"}, nil
		}
		return Admission{}, nil
	}}
	s := f.sender(f.config(), WithGate(g))
	id := f.enqueue(t, 1, "")
	other := f.enqueue(t, 2, "")
	if n := drained(t, s); n != (Drained{Held: 2}) {
		t.Fatalf("first drain = %+v, want both held", n)
	}
	row := f.q.get(id)
	if row.State != "pending" || row.Attempts != 0 || !row.NextAttempt.Equal(until) || !row.HeldSince.Equal(t0) ||
		!strings.HasPrefix(row.HeldReason, "per_sender_per_hour") {
		t.Fatalf("held row = %+v", row)
	}
	if len(f.sink.Messages()) != 0 || f.sink.Connections() != 0 {
		t.Fatalf("a held mail reached the server (%d messages, %d connections)", len(f.sink.Messages()), f.sink.Connections())
	}
	if next, ok, _ := f.q.NextMailAttempt(t.Context()); !ok || !next.Equal(until) {
		t.Errorf("next attempt %v, want the end of the hold", next)
	}
	if !strings.Contains(f.logs.String(), "mail held by a sending limit") {
		t.Errorf("no log line says why the mail waits:\n%s", f.logs.String())
	}
	f.clock.Advance(59 * time.Minute)
	if n := drained(t, s); n != (Drained{}) {
		t.Fatalf("drain before the window allows = %+v", n)
	}
	f.clock.Advance(time.Minute)
	if n := drained(t, s); n != (Drained{Sent: 2}) {
		t.Fatalf("drain when the window allows = %+v", n)
	}
	if f.q.get(id).State != "sent" || f.q.get(other).State != "sent" {
		t.Errorf("rows after the hold: %v, %v", f.q.get(id), f.q.get(other))
	}
}

// The gate is asked before each mail, after the mail before it was marked
// sent, so a cap reached in the middle of a batch holds the rest of it.
func TestSenderGateAskedPerMail(t *testing.T) {
	f := newFixture(t)
	var s *Sender
	g := &scriptGate{}
	g.answer = func(m QueuedMail, now time.Time) (Admission, error) {
		sent := 0
		for id := int64(1); id <= f.q.next; id++ {
			if f.q.get(id).State == "sent" {
				sent++
			}
		}
		if sent >= 3 {
			return Admission{Verdict: Hold, Until: now.Add(time.Minute), Reason: "global_per_minute: 3 mails in the last minute"}, nil
		}
		return Admission{}, nil
	}
	s = f.sender(f.config(), WithGate(g))
	for i := range 5 {
		f.enqueue(t, i, "")
	}
	if n := drained(t, s); n != (Drained{Sent: 3, Held: 2}) {
		t.Fatalf("drain = %+v, want 3 sent and 2 held", n)
	}
	if len(g.asked) != 5 {
		t.Errorf("gate asked %d times, want once per mail", len(g.asked))
	}
}

// A mail the gate finds no longer worth sending is closed unsent; a hold
// that would outlast the give-up age drops the mail at once; a gate error
// leaves the mail as it was.
func TestSenderGateDrops(t *testing.T) {
	for _, tc := range []struct {
		name       string
		admission  Admission
		err        error
		wantState  string
		wantReason string
		wantErr    bool
	}{
		{"no longer useful", Admission{Verdict: Drop, Reason: "no longer useful: the request was answered"}, nil,
			"dropped", "no longer useful: the request was answered", false},
		{"held past the give-up age", Admission{Verdict: Hold, Until: t0.Add(49 * time.Hour), Reason: "escalations_per_request_per_day"}, nil,
			"dropped", "held for more than 48h0m0s (escalations_per_request_per_day)", false},
		{"gate error", Admission{}, errors.New("store unreachable"), "pending", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			g := &scriptGate{answer: func(QueuedMail, time.Time) (Admission, error) { return tc.admission, tc.err }}
			s := f.sender(f.config(), WithGate(g), WithMaxAge(48*time.Hour))
			id := f.enqueue(t, 1, "")
			n, err := s.Drain(t.Context())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Drain = %+v, %v", n, err)
			}
			row := f.q.get(id)
			if row.State != tc.wantState || row.LastError != tc.wantReason || row.Attempts != 0 {
				t.Errorf("row = %+v, want %s %q", row, tc.wantState, tc.wantReason)
			}
			if tc.wantState == "dropped" && n != (Drained{Dropped: 1}) {
				t.Errorf("Drain = %+v, want one dropped", n)
			}
			if len(f.sink.Messages()) != 0 {
				t.Errorf("the server got the mail")
			}
		})
	}
}

// A gate naming a moment already past still moves the mail forward, so
// Run does not take it again and again in the same instant.
func TestSenderGateHoldInThePast(t *testing.T) {
	f := newFixture(t)
	g := &scriptGate{answer: func(_ QueuedMail, now time.Time) (Admission, error) {
		return Admission{Verdict: Hold, Until: now.Add(-time.Minute), Reason: "x"}, nil
	}}
	s := f.sender(f.config(), WithGate(g))
	id := f.enqueue(t, 1, "")
	drained(t, s)
	if row := f.q.get(id); !row.NextAttempt.After(t0) {
		t.Errorf("next attempt %v, want after %v", row.NextAttempt, t0)
	}
	if n := drained(t, s); n != (Drained{}) {
		t.Errorf("the mail was taken again at once: %+v", n)
	}
}
