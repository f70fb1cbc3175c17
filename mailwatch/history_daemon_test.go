package mailwatch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// historyWorld is one department's mailbox on the in-process IMAP server,
// an SMTP sink and a store that outlive daemon restarts.
type historyWorld struct {
	t    *testing.T
	srv  *imapmem.Server
	sink *smtpsink.Server
	dir  string
	log  *syncBuffer
	seq  int
}

const histDept = "it-help@example.test"

func newHistoryWorld(t *testing.T) *historyWorld {
	t.Helper()
	srv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser(histDept, "secret", "Sent"); err != nil {
		t.Fatal(err)
	}
	sink, err := smtpsink.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &historyWorld{t: t, srv: srv, sink: sink, dir: dir, log: &syncBuffer{}}
}

// config is the department named name, with extra top-level keys.
func (w *historyWorld) config(name, top string) *config.Config {
	w.t.Helper()
	host, port, _ := strings.Cut(w.srv.Addr(), ":")
	yaml := fmt.Sprintf(`%s
store: {driver: sqlite, dsn: ackd.db}
smtp: {host: %s, port: %d, tls: none}
http: {listen: ""}
departments:
  - name: %s
    address: %s
    imap: {host: %s, port: %s, tls: none, username: %s, password_file: pw, sent_mailbox: Sent, poll_interval: 1s}
    staff: [alice@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories: {default: {commitment: 3d}}
    rules: [{name: never, match: {subject: [zzzzzz]}, category: default}]
`, top, w.sink.Host(), w.sink.Port(), name, histDept, host, port, histDept)
	cfg, err := config.Parse(filepath.Join(w.dir, "config.yaml"), []byte(yaml))
	if err != nil {
		w.t.Fatalf("config: %v", err)
	}
	return cfg
}

// run starts a daemon on cfg and waits until every mailbox had its first
// look; the returned stop ends it and closes its store.
func (w *historyWorld) run(cfg *config.Config) (store.Store, func()) {
	w.t.Helper()
	st, err := store.Open(context.Background(), "sqlite", cfg.Store.DSN)
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := NewDaemon(cfg, templates.Default(), st, slog.New(slog.NewTextHandler(w.log, nil)))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				w.t.Errorf("daemon: %v", err)
			}
			st.Close()
		})
	}
	w.t.Cleanup(stop)
	eventuallyTrue(w.t, "every mailbox watched", func() bool {
		for _, mb := range d.Mailboxes() {
			if !mb.Connected {
				return false
			}
		}
		return len(d.Mailboxes()) == 2
	})
	return st, stop
}

// deliver appends a request from jane with the given INTERNALDATE (zero:
// now) and returns its subject.
func (w *historyWorld) deliver(mailbox string, date time.Time) string {
	w.t.Helper()
	w.seq++
	subject := fmt.Sprintf("history request %d", w.seq)
	raw := fmt.Sprintf("From: Jane <jane@example.test>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <hist-%d-%d@client.example.test>\r\n\r\nPlease help.\r\n",
		histDept, subject, w.seq, time.Now().UnixNano())
	if _, err := w.srv.Append(histDept, mailbox, []byte(raw), date); err != nil {
		w.t.Fatal(err)
	}
	return subject
}

// receipts waits until n mails went out, then a little longer to see
// that no more follow, and returns their subjects.
func (w *historyWorld) receipts(n int) []string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := w.sink.WaitFor(ctx, n); err != nil {
		w.t.Fatalf("waiting for %d mails: %v (got %d)", n, err, len(w.sink.Messages()))
	}
	time.Sleep(300 * time.Millisecond)
	var out []string
	for _, m := range w.sink.Messages() {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				out = append(out, s)
				break
			}
		}
	}
	if len(out) != n {
		w.t.Fatalf("%d mails went out, want %d: %q", len(out), n, out)
	}
	return out
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkpoint(t *testing.T, st store.Store, mailbox string) uint32 {
	t.Helper()
	s, err := st.SyncState(context.Background(), histDept, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	return s.LastUID
}

// TestFirstStartAnswersNoHistory: a mailbox full of old mail, ackd starts
// on an empty store: nothing old is answered, the checkpoints stand at the
// newest messages, and the next request gets exactly one receipt.
func TestFirstStartAnswersNoHistory(t *testing.T) {
	w := newHistoryWorld(t)
	now := time.Now()
	for _, age := range []time.Duration{2 * 365 * 24 * time.Hour, 400 * 24 * time.Hour, 10 * 24 * time.Hour, time.Hour} {
		w.deliver("INBOX", now.Add(-age))
	}
	w.deliver("Sent", now.Add(-time.Hour))
	st, _ := w.run(w.config("IT Help Desk", ""))
	if got := len(w.sink.Messages()); got != 0 {
		t.Fatalf("%d mails for history", got)
	}
	if in, sent := checkpoint(t, st, "INBOX"), checkpoint(t, st, "Sent"); in != 4 || sent != 1 {
		t.Errorf("checkpoints INBOX %d, Sent %d; want 4 and 1", in, sent)
	}
	if !strings.Contains(w.log.String(), "first start: starting after UID 4; 4 older messages are history and get no mail") {
		t.Errorf("the log does not say what the first start did:\n%s", w.log.String())
	}
	subject := w.deliver("INBOX", time.Time{})
	got := w.receipts(1)
	if !strings.Contains(got[0], "[REQ-1]") || !strings.Contains(got[0], subject) {
		t.Errorf("receipt %q; want REQ-1 for %q", got[0], subject)
	}
}

// TestBackfillOnFirstStart: backfill: 2d answers the last two days on the
// first start, and nothing more on the next.
func TestBackfillOnFirstStart(t *testing.T) {
	w := newHistoryWorld(t)
	now := time.Now()
	w.deliver("INBOX", now.AddDate(-2, 0, 0))
	recent1 := w.deliver("INBOX", now.Add(-36*time.Hour))
	w.deliver("INBOX", now.Add(-3*24*time.Hour))
	recent2 := w.deliver("INBOX", now.Add(-time.Hour))
	cfg := w.config("IT Help Desk", "backfill: 2d")
	_, stop := w.run(cfg)
	got := w.receipts(2)
	if !strings.Contains(got[0], recent1) || !strings.Contains(got[1], recent2) {
		t.Errorf("receipts %q; want the two messages of the last two days", got)
	}
	stop()
	w.run(cfg)
	w.receipts(2)
}

// TestOldMessageDeliveredNowIsTooOld: mail that shows up with an
// INTERNALDATE older than max_age (moved in from an archive) is recorded
// as too-old and gets no mail; the mail behind it is answered.
func TestOldMessageDeliveredNowIsTooOld(t *testing.T) {
	w := newHistoryWorld(t)
	st, _ := w.run(w.config("IT Help Desk", "max_age: 4d"))
	w.deliver("INBOX", time.Now().Add(-5*24*time.Hour))
	fresh := w.deliver("INBOX", time.Time{})
	got := w.receipts(1)
	if !strings.Contains(got[0], fresh) {
		t.Errorf("receipt %q; want it for %q", got[0], fresh)
	}
	skipped, err := st.RecentSkipped(context.Background(), 10)
	if err != nil || len(skipped) != 1 || skipped[0].Refusal != string(rules.RefuseTooOld) || !strings.Contains(skipped[0].Reason, "max_age (4d)") {
		t.Errorf("skipped = %+v, %v; want the old message as too-old", skipped, err)
	}
}

// TestRenamedDepartmentKeepsItsState: renaming a department in config and
// restarting keeps its requests, references and checkpoints; no history is
// answered.
func TestRenamedDepartmentKeepsItsState(t *testing.T) {
	w := newHistoryWorld(t)
	_, stop := w.run(w.config("IT Help Desk", ""))
	w.deliver("INBOX", time.Time{})
	w.receipts(1)
	stop()

	later := w.deliver("INBOX", time.Time{}) // while ackd is down
	st, _ := w.run(w.config("IT Service Desk", ""))
	got := w.receipts(2)
	if !strings.Contains(got[1], "[REQ-2]") || !strings.Contains(got[1], later) {
		t.Errorf("after the rename: %q; want REQ-2 for %q only", got[1:], later)
	}
	open, err := st.OpenRequests(context.Background(), histDept)
	if err != nil || len(open) != 2 {
		t.Errorf("open requests under %s: %d, %v; want REQ-1 and REQ-2", histDept, len(open), err)
	}
}

// TestStoreKeyedByNameIsAdopted: a store written when departments were
// keyed by display name keeps its checkpoint and references.
func TestStoreKeyedByNameIsAdopted(t *testing.T) {
	w := newHistoryWorld(t)
	old := w.deliver("INBOX", time.Time{})
	cfg := w.config("IT Help Desk", "")
	st, err := store.Open(context.Background(), "sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	validity := w.uidValidity()
	if err := st.SaveSyncState(ctx, "IT Help Desk", "INBOX", store.SyncState{UIDValidity: validity, LastUID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordRequest(ctx, store.NewRequest{Dept: "IT Help Desk", MessageKey: "old@x", MessageID: "old@x",
		Requester: "jane@example.test", Subject: old, Category: "default", ReceivedAt: time.Now(), DueAt: time.Now().Add(72 * time.Hour)},
		func(string) ([]store.NewMail, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()

	w.deliver("INBOX", time.Time{})
	st, _ = w.run(cfg)
	got := w.receipts(1)
	if !strings.Contains(got[0], "[REQ-2]") {
		t.Errorf("receipt %q; want REQ-2: the references go on", got[0])
	}
	if r, err := st.RequestByRef(ctx, histDept, "REQ-1"); err != nil || r.Subject != old {
		t.Errorf("REQ-1 under %s: %+v, %v", histDept, r, err)
	}
}

func (w *historyWorld) uidValidity() uint32 {
	w.t.Helper()
	c, err := w.srv.Login(histDept)
	if err != nil {
		w.t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		w.t.Fatal(err)
	}
	return sel.UIDValidity
}
