package web_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"
	"github.com/ackd/ackd/templates"
)

// TestHeldMailShown: receipts a sending limit holds show on the status
// page as "receipt held" with the reason, in ackd_outbox_held by kind,
// and a held receipt closed unsent in ackd_outbox_dropped_total.
func TestHeldMailShown(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	clock := now
	tick := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	st, err := store.OpenOptions(ctx, "sqlite", filepath.Join(t.TempDir(), "ackd.db"), store.Options{Now: tick})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := fixtureConfigParsed(t)
	cfg.Limits.PerSenderPerHour = 1
	src := web.Sources{Store: st, Config: func() *config.Config { return cfg }, Now: tick}
	metrics := web.NewMetrics(src)
	observed := metrics.Observe(st)
	srv := httptest.NewServer(web.New(src, metrics, web.BasicAuth{}, nil).Handler())
	t.Cleanup(srv.Close)

	var reqs []store.Request
	for i, subject := range []string{"printer jams", "scanner", "monitor"} {
		r, err := observed.RecordRequest(ctx, store.NewRequest{
			Dept: "it-help@example.test", MessageKey: subject, MessageID: "<" + subject + "@client>", Mailbox: "INBOX", UID: uint32(i + 1),
			Requester: "jane@example.test", Subject: subject, Category: "default", ReceivedAt: now, DueAt: now.Add(72 * time.Hour),
		}, func(ref string) ([]store.NewMail, error) {
			return []store.NewMail{{Kind: "receipt", MessageID: "<receipt-" + ref + "@ackd>", Recipients: []string{"jane@example.test"},
				Raw: []byte("Subject: [" + ref + "] received\r\n\r\nThanks.\r\n")}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	sink, err := smtpsink.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	rt, err := mailwatch.NewRuntime(cfg, templates.Default())
	if err != nil {
		t.Fatal(err)
	}
	sender := outbox.NewSender(mailwatch.OutboxQueue(observed), outbox.SMTPConfig{Host: sink.Host(), Port: sink.Port(), TLS: outbox.TLSNone},
		nil, outbox.WithClock(tick), outbox.WithGate(mailwatch.NewLimitGate(observed, func() *mailwatch.Runtime { return rt })))
	if n, err := sender.Drain(ctx); err != nil || n.Sent != 1 || n.Held != 2 {
		t.Fatalf("drain: %+v, %v; want 1 sent, 2 held", n, err)
	}

	fams := scrape(t, srv.URL)
	expect(t, fams, 2, "ackd_outbox_held", "dept", "IT Help Desk", "kind", "receipt")
	expect(t, fams, 0, "ackd_outbox_held", "dept", "Payroll", "kind", "receipt")
	expect(t, fams, 3, "ackd_requests_received_total", "dept", "IT Help Desk", "category", "default")
	code, _, body := get(t, srv.URL+"/", nil)
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	if n := strings.Count(body, ">receipt held</span>"); n != 2 {
		t.Errorf("status page shows %d held receipts, want 2:\n%s", n, body)
	}
	if !strings.Contains(body, `title="per_sender_per_hour (1) reached for jane@example.test"`) ||
		!strings.Contains(body, "2 receipts held by a sending limit") {
		t.Errorf("status page does not say why:\n%s", body)
	}

	// REQ-2 is resolved meanwhile: its receipt is dropped, REQ-3's sent.
	if _, err := observed.Apply(ctx, store.Change{RequestID: reqs[1].ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.ResolvedAt = store.StateResolved, now.Add(10*time.Minute)
		return nil, nil
	}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = now.Add(time.Hour)
	mu.Unlock()
	if n, err := sender.Drain(ctx); err != nil || n.Sent != 1 || n.Dropped != 1 {
		t.Fatalf("drain an hour later: %+v, %v; want 1 sent, 1 dropped", n, err)
	}
	fams = scrape(t, srv.URL)
	expect(t, fams, 0, "ackd_outbox_held", "dept", "IT Help Desk", "kind", "receipt")
	expect(t, fams, 1, "ackd_outbox_dropped_total", "dept", "IT Help Desk", "kind", "receipt")
	expect(t, fams, 2, "ackd_receipts_sent_total", "dept", "IT Help Desk")
	if _, _, body := get(t, srv.URL+"/", nil); strings.Contains(body, "receipt held") {
		t.Errorf("status page still shows a held receipt")
	}
}
