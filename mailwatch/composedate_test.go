package mailwatch

import (
	"bytes"
	"net/mail"
	"testing"
	"time"
)

// TestMailIsDatedWhenComposed (issue 14, item 1): the mail ackd writes is
// dated by the injected clock when it is composed: not the request's
// arrival time (a receipt for a message that waited an hour in a
// backfill), not the machine's time.Now (an escalation fired by a fake
// clock, or a late one after downtime).
func TestMailIsDatedWhenComposed(t *testing.T) {
	w := newWorld(t)
	w.now = at("2026-12-01 11:00") // an hour after the message arrived
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	w.tick(at("2026-12-01 12:30")) // the 50% step, fired late
	ms := w.queued()
	if len(ms) != 2 {
		t.Fatalf("queued %d mails, want the receipt and the escalation", len(ms))
	}
	for i, want := range []time.Time{at("2026-12-01 11:00"), at("2026-12-01 12:30")} {
		m, err := mail.ReadMessage(bytes.NewReader(ms[i].Raw))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Header.Date()
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) {
			t.Errorf("%s dated %v, want %v (the clock when it was composed)", ms[i].Kind, got.In(berlin), want.In(berlin))
		}
	}
}
