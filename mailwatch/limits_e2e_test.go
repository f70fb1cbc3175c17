package mailwatch_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// TestE2ELimitsBurst is finding 2 of issue 11 on the real Dovecot +
// Postfix stack: a burst of requests over per_sender_per_hour. Today's
// main recorded the first five of each requester and skipped the rest;
// now every request is tracked, exactly the cap of receipts reaches each
// requester's mailbox, the rest wait in the outbox, held, and an hour
// later (the sender's clock moved on) they arrive too.
func TestE2ELimitsBurst(t *testing.T) {
	s := mailstack.Require(t)
	const (
		perRequester = 10 // requests each
		capPerHour   = 5  // per_sender_per_hour
	)
	dept, staff, lead := s.NewAddress(t, "dept"), s.NewAddress(t, "staff"), s.NewAddress(t, "lead")
	people := []string{s.NewAddress(t, "jane"), s.NewAddress(t, "max")}
	dir := t.TempDir()
	yaml := threadConfig(s, dir, dept, staff, lead, secretFile(t), "{commitment: 3d}")
	yaml = strings.Replace(yaml, "limits: {per_sender_per_hour: 1000, global_per_minute: 1000}",
		fmt.Sprintf("limits: {per_sender_per_hour: %d, global_per_minute: 1000}", capPerHour), 1)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	if cfg.Limits.PerSenderPerHour != capPerHour {
		t.Fatalf("per_sender_per_hour %d, the test config was not changed", cfg.Limits.PerSenderPerHour)
	}
	d := &deployment{t: t, b: &stackBackend{s: s}, dept: dept, cfg: cfg, dbPath: cfg.Store.DSN}
	d.start()

	n := perRequester * len(people)
	for i := range perRequester {
		for _, p := range people {
			d.b.deliver(t, p, dept, request(p, dept, fmt.Sprintf("printer %d", i), "", "It jams."))
		}
	}
	// Wait until every request is recorded and the sender has settled:
	// all receipts either sent or held.
	ctx := context.Background()
	var open []store.Request
	var held []store.Mail
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if open, err = d.store.OpenRequests(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if held, err = d.store.HeldMail(ctx, ""); err != nil {
			t.Fatal(err)
		}
		pending, err := d.store.PendingMail(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) == n && pending == len(held) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d of %d requests recorded, %d mails pending, %d held", len(open), n, pending, len(held))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if sk, err := d.store.RecentSkipped(ctx, 10); err != nil || len(sk) != 0 {
		t.Errorf("skipped: %+v, %v; want none", sk, err)
	}
	if want := n - capPerHour*len(people); len(held) != want {
		t.Errorf("%d receipts held, want %d", len(held), want)
	}
	for _, m := range held {
		if m.Kind != "receipt" || !strings.HasPrefix(m.HeldReason, fmt.Sprintf("per_sender_per_hour (%d) reached for ", capPerHour)) {
			t.Errorf("held %+v", m)
		}
	}
	sent := 0
	for _, p := range people {
		msgs, err := s.WaitForMessages(ctx, p, "INBOX", capPerHour)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		sent += len(msgs)
	}
	// Nothing more trickles in while the hour lasts.
	time.Sleep(2 * time.Second)
	for _, p := range people {
		if got := d.b.count(t, p); got != capPerHour {
			t.Errorf("%s has %d receipts, want the cap %d", p, got, capPerHour)
		}
	}
	t.Logf("burst of %d requests over per_sender_per_hour %d: %d of %d tracked, %d receipts sent, %d held", n, capPerHour, len(open), n, sent, len(held))

	// An hour later. The daemon's sender reads the wall clock, so a sender
	// of the same store whose clock is an hour ahead stands in for it.
	d.stop()
	st, err := store.Open(ctx, "sqlite", d.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host, port, _ := net.SplitHostPort(s.SMTPAddr)
	p, _ := strconv.Atoi(port)
	smtp := outbox.SMTPConfig{Host: host, Port: p, TLS: outbox.TLSStartTLS, RootCAs: s.CAPool(), Timeout: 10 * time.Second}
	rt, err := mailwatch.NewRuntime(cfg, templates.Default())
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(61 * time.Minute) }
	sender := outbox.NewSender(mailwatch.OutboxQueue(st), smtp, nil, outbox.WithClock(later),
		outbox.WithGate(mailwatch.NewLimitGate(st, func() *mailwatch.Runtime { return rt })))
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	released := 0
	for {
		got, err := sender.Drain(dctx)
		if err != nil {
			t.Fatal(err)
		}
		released += got.Sent
		if got.Dropped+got.Failed+got.Retried > 0 {
			t.Fatalf("releasing the held receipts: %+v", got)
		}
		if got == (outbox.Drained{}) {
			break
		}
	}
	if released != len(held) {
		t.Errorf("%d held receipts sent an hour later, want %d", released, len(held))
	}
	for _, p := range people {
		if _, err := s.WaitForMessages(ctx, p, "INBOX", perRequester); err != nil {
			t.Errorf("%s after the hour: %v", p, err)
		}
	}
	if left, err := st.HeldMail(ctx, ""); err != nil || len(left) != 0 {
		t.Errorf("still held: %d, %v", len(left), err)
	}
	t.Logf("an hour later: %d held receipts sent, every requester has all %d", released, perRequester)
}
