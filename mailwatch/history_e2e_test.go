package mailwatch

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailstack"
)

// TestE2EHistoryIsNotAnswered points a fresh ackd at a department mailbox
// on the real Dovecot + Postfix stack that already holds years of mail:
// none of it is answered, and a request that arrives afterwards through
// Postfix gets exactly one receipt.
func TestE2EHistoryIsNotAnswered(t *testing.T) {
	s := mailstack.Require(t)
	ctx := context.Background()
	dept := s.NewAddress(t, "history")
	jane := s.NewAddress(t, "jane")

	now := time.Now()
	var historyIDs []string
	ages := []time.Duration{3 * 365 * 24 * time.Hour, 2 * 365 * 24 * time.Hour, 400 * 24 * time.Hour, 90 * 24 * time.Hour,
		30 * 24 * time.Hour, 10 * 24 * time.Hour, 5 * 24 * time.Hour, 2 * 24 * time.Hour, 3 * time.Hour, time.Hour}
	for i, age := range ages {
		id, raw := faultRequest(jane, dept, fmt.Sprintf("old request %d: printer broken", i))
		if err := s.AppendAt(ctx, dept, "INBOX", raw, now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		historyIDs = append(historyIDs, id)
	}

	ih, ip, _ := net.SplitHostPort(s.IMAPAddr)
	sh, sp, _ := net.SplitHostPort(s.SMTPAddr)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`store: {driver: sqlite, dsn: %s}
smtp: {host: %s, port: %s, tls: starttls, ca_file: %s, timeout: 10s}
http: {listen: ""}
departments:
  - name: IT Help Desk
    address: %s
    imap: {host: %s, port: %s, tls: starttls, ca_file: %s, username: %q, password_file: %s, idle: true, poll_interval: 2s}
    staff: [%s]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      default: {commitment: 3d, escalate: [{at: 50%%, to: staff}]}
    rules:
      - {name: printer, match: {subject: [printer]}, category: default}
`, filepath.Join(dir, "ackd.db"), sh, sp, s.CAFile, dept, ih, ip, s.CAFile, dept, passwordFile(t), s.NewAddress(t, "staff"))
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	r := &faultRig{t: t, cfg: cfg, dbPath: cfg.Store.DSN}
	r.start()
	eventually(t, 20*time.Second, "the INBOX checkpoint at the newest message", func() bool {
		st, err := r.st.SyncState(ctx, dept, "INBOX")
		return err == nil && st.LastUID == uint32(len(ages))
	})
	want := fmt.Sprintf("first start: starting after UID %d; %d older messages are history and get no mail", len(ages), len(ages))
	if !strings.Contains(r.log.String(), want) {
		t.Errorf("the log does not say %q", want)
	}

	newID, raw := faultRequest(jane, dept, "new request: printer broken again")
	if err := s.Send(ctx, jane, dept, raw); err != nil {
		t.Fatal(err)
	}
	waitReceipts(t, s, 60*time.Second, 1, jane)
	time.Sleep(2 * time.Second) // anything else ackd would send has had its chance
	got := receiptsByRequest(t, s, jane)
	forHistory := 0
	for _, id := range historyIDs {
		forHistory += got[id]
	}
	if forHistory != 0 || got[newID] != 1 || len(got) != 1 {
		t.Errorf("receipts by request %v: want exactly one, for the new request", got)
	}
	open, err := r.st.OpenRequests(ctx, dept)
	if err != nil || len(open) != 1 {
		t.Errorf("open requests: %d, %v; want the new one only", len(open), err)
	}
	t.Logf("history messages %d, receipts for history %d, receipts for the new request %d, requests answered %d",
		len(historyIDs), forHistory, got[newID], len(got))
}
