package mailwatch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
)

// TestPoisonMailE2E (issue 11 #6) on the real Dovecot + Postfix stack:
// poison messages first, then normal requests, in one mailbox. Before,
// `From: "a,b"@…` passed Decide, its receipt failed to compose, the
// session ended and the same message was fetched again for ever: every
// request behind it waited. Now it is recorded as skipped (bad-address)
// and the requests behind it get their receipts.
func TestPoisonMailE2E(t *testing.T) {
	s := mailstack.Require(t)
	d := newDeployment(t, &stackBackend{s: s})
	d.start()
	jane, max, li := d.requesters[0], d.requesters[1], d.requesters[2]
	domain := jane[strings.IndexByte(jane, '@')+1:]
	local := func(addr string) string { return addr[:strings.IndexByte(addr, '@')] }

	poison := [][]byte{
		request(`"a,b"@`+domain, d.dept, "printer jammed", "", "The printer on floor 2 is jammed."),
		request(`"x y" <"a,b"@`+domain+">", d.dept, "scanner broken", "", "The scanner is broken."),
	}
	for _, raw := range poison {
		d.b.deliver(t, li, d.dept, raw)
	}
	// A From with comments inside the brackets (RFC 5322 allows them),
	// which the composer used to refuse too: it is max, and max gets the
	// receipt.
	d.b.deliver(t, max, d.dept, request("Max <"+local(max)+"(desk 4)@"+domain+">", d.dept, "monitor flickers", "", "My monitor flickers."))
	d.b.deliver(t, jane, d.dept, request("Jane <"+jane+">", d.dept, "new laptop", "", "I need a new laptop."))
	d.b.deliver(t, li, d.dept, request("Li <"+li+">", d.dept, "VPN slow", "", "The VPN is slow today."))

	stopped := 0
	for _, who := range []string{max, jane, li} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := s.WaitForMessages(ctx, who, "INBOX", 1)
		cancel()
		if err != nil {
			stopped = 1
			t.Errorf("no receipt for %s behind the poison messages: %v", who, err)
		}
	}
	// Postfix does not keep the order of mail sent back to back: a poison
	// message may land after the receipts, so wait for its record too.
	var skipped []store.Skipped
	bad := 0
	for deadline := time.Now().Add(30 * time.Second); ; {
		var err error
		if skipped, err = d.store.RecentSkipped(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		bad = 0
		for _, sk := range skipped {
			if sk.Refusal == "bad-address" && strings.Contains(sk.Reason, "a,b@") {
				bad++
			}
		}
		if bad >= len(poison) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if bad != len(poison) {
		t.Errorf("%d poison messages recorded as bad-address; want %d: %+v", bad, len(poison), skipped)
	}
	if parked, err := d.store.ParkedMessages(context.Background(), ""); err != nil || len(parked) != 0 {
		t.Errorf("parked = %+v, %v; want none", parked, err)
	}
	open, err := d.store.OpenRequests(context.Background(), "")
	if err != nil || len(open) != 3 {
		t.Errorf("open requests = %d, %v; want 3", len(open), err)
	}
	t.Logf("poison messages sent %d, recorded skipped %d; requests behind them acknowledged %d of 3; poison messages that stopped a mailbox: %d",
		len(poison), bad, len(open), stopped)
}
