package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// scrape fetches /metrics and parses it with Prometheus's text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics = %d:\n%s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of family name with exactly the
// given labels; ok is false when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

const dept = "it-help@example.test"

func mail(id, from, to, subject, extra, body string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + id + ">\r\nDate: " +
		time.Now().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" + extra + "\r\n" + body + "\r\n")
}

// TestMetricsFromDaemon drives a real daemon against in-process IMAP and
// SMTP servers and checks the counters and gauges /metrics reports.
func TestMetricsFromDaemon(t *testing.T) {
	imap, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imap.Close() })
	if err := imap.AddUser(dept, "secret"); err != nil {
		t.Fatal(err)
	}
	sink, err := smtpsink.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "imap.pw"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(imap.Addr())
	yaml := fmt.Sprintf(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: ackd.db}
smtp: {host: %s, port: %d, tls: none}
http: {listen: ""}
departments:
  - name: IT Help Desk
    address: %s
    imap: {host: %s, port: %s, tls: none, username: %q, password_file: imap.pw, idle: true, poll_interval: 1s}
    staff: [alice@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      access: {commitment: 4h, escalate: [{at: 50%%, to: staff}]}
      default: {commitment: 3d}
    rules:
      - {name: password, match: {subject: [password]}, category: access}
`, sink.Host(), sink.Port(), dept, host, port, dept)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := store.Open(context.Background(), "sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// Wired as cmd/ackd does: counters before the daemon, gauges after.
	counters := web.NewCounters(func() *config.Config { return cfg })
	outcomes := make(chan mailwatch.Outcome, 16)
	d, err := mailwatch.NewDaemon(cfg, templates.Default(), counters.Observe(st), slog.New(slog.DiscardHandler),
		mailwatch.OnOutcome(func(_ string, o mailwatch.Outcome) { outcomes <- o }))
	if err != nil {
		t.Fatal(err)
	}
	src := web.Sources{Store: st, Config: func() *config.Config { return d.Runtime().Config }, Counters: counters,
		Mailboxes: func() []web.MailboxStatus {
			var out []web.MailboxStatus
			for _, mb := range d.Mailboxes() {
				out = append(out, web.MailboxStatus(mb))
			}
			return out
		}}
	metrics := web.NewMetrics(src)
	srv := httptest.NewServer(web.New(src, metrics, web.BasicAuth{}, nil).Handler())
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon Run: %v", err)
		}
	}
	t.Cleanup(stop)

	wait := func(action string) {
		t.Helper()
		select {
		case o := <-outcomes:
			if o.Action != action {
				t.Fatalf("outcome %q (%+v), want %q", o.Action, o.Decision, action)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no %q outcome within 15s", action)
		}
	}
	deliver := func(raw []byte) {
		t.Helper()
		if _, err := imap.Append(dept, "INBOX", raw, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	deliver(mail("r1@client.test", "Jane <jane@example.test>", dept, "password expired", "", "Please reset it."))
	wait("receipt")
	deliver(mail("r2@client.test", "Max <max@example.test>", dept, "new monitor", "", "Mine flickers."))
	wait("receipt")
	deliver(mail("ooo@client.test", "Li <li@example.test>", dept, "Out of office", "Auto-Submitted: auto-replied\r\n", "Away."))
	wait("skipped")
	// Jane chases: a reminder, which escalates at once to staff (level 1).
	deliver(mail("r1b@client.test", "Jane <jane@example.test>", dept, "Re: password expired", "In-Reply-To: <r1@client.test>\r\n", "Any news?"))
	wait("reminder")
	// Alice answers Max: his request's first response.
	deliver(mail("a2@client.test", "Alice <alice@example.test>", "max@example.test, "+dept, "Re: new monitor", "In-Reply-To: <r2@client.test>\r\n", "On its way."))
	wait("answered")

	fams := scrape(t, srv.URL)
	expect(t, fams, 1, "ackd_imap_connected", "mailbox", "IT Help Desk")
	expect(t, fams, 1, "ackd_requests_received_total", "dept", "IT Help Desk", "category", "access")
	expect(t, fams, 1, "ackd_requests_received_total", "dept", "IT Help Desk", "category", "default")
	expect(t, fams, 1, "ackd_messages_skipped_total", "dept", "IT Help Desk", "reason", string(rules.RefuseAutoSubmitted))
	expect(t, fams, 1, "ackd_reminders_total", "dept", "IT Help Desk")
	expect(t, fams, 1, "ackd_escalations_total", "dept", "IT Help Desk", "level", "1")
	expect(t, fams, 1, "ackd_first_response_business_hours", "dept", "IT Help Desk", "category", "default")
	expect(t, fams, 1, "ackd_open_requests", "dept", "IT Help Desk", "state", string(store.StateAcknowledged))
	expect(t, fams, 1, "ackd_open_requests", "dept", "IT Help Desk", "state", string(store.StateAnswered))
	expect(t, fams, 0, "ackd_overdue_open_requests", "dept", "IT Help Desk")
	expect(t, fams, 1, "ackd_store_up")
	if f := fams["ackd_first_response_business_hours"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("ackd_first_response_business_hours is not a histogram: %v", f)
	}

	// Stopping waits for the delivery in flight to be recorded, so the
	// send counters are final.
	wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer wcancel()
	if _, err := sink.WaitFor(wctx, 3); err != nil {
		t.Fatalf("waiting for 2 receipts and 1 escalation: %v", err)
	}
	stop()
	fams = scrape(t, srv.URL)
	expect(t, fams, 2, "ackd_receipts_sent_total", "dept", "IT Help Desk")
	expect(t, fams, 2, "ackd_mail_sent_total", "dept", "IT Help Desk", "kind", "receipt")
	expect(t, fams, 1, "ackd_mail_sent_total", "dept", "IT Help Desk", "kind", "escalation")
	expect(t, fams, 0, "ackd_outbox_queue_depth")
	expect(t, fams, 0, "ackd_imap_connected", "mailbox", "IT Help Desk")
	if _, ok := value(fams, "ackd_outbox_failed_total", "dept", "IT Help Desk", "kind", "receipt"); ok {
		t.Error("a failed delivery was counted; none failed")
	}
}

// TestCountersBeforeGauges: the counters are built before the daemon, from
// the configuration alone, and count writes made before any gauge or
// registry exists (the daemon's start); the registry built afterwards
// shows them. cmd/ackd used to build both at once with a closure over a
// daemon variable not yet assigned, which a write during the daemon's
// construction would have dereferenced.
func TestCountersBeforeGauges(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "config.yaml"), []byte(`store: {driver: sqlite, dsn: ackd.db}
smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it, password_file: pw}
    staff: [alice@example.test]
    allowed_senders: ["*"]
    calendar: {timezone: UTC, hours: "09:00-17:00"}
    categories: {default: {commitment: 3d}}
    rules: [{name: all, match: {subject: [a]}, category: default}]
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), "sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	counters := web.NewCounters(func() *config.Config { return cfg })
	observed := counters.Observe(st)
	if _, err := observed.RecordRequest(t.Context(), store.NewRequest{Dept: "it-help@example.test", MessageKey: "<k@x>", Requester: "jane@example.test",
		Category: "default", ReceivedAt: time.Now()}, func(string) ([]store.NewMail, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	metrics := web.NewMetrics(web.Sources{Store: st, Config: func() *config.Config { return cfg }, Counters: counters})
	fams, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	expect(t, byName, 1, "ackd_requests_received_total", "dept", "IT Help Desk", "category", "default")
}
