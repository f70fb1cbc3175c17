package mailwatch_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// backend is where a scenario's mail lives: go-imap's in-memory server with
// an in-process SMTP sink, or the real Dovecot + Postfix stack. The same
// scenarios run on both.
type backend interface {
	// addresses returns a fresh department and requester address pair.
	addresses(t *testing.T) (dept string, requesters []string)
	// configYAML fills the imap and smtp parts of the config.
	imapSMTP(t *testing.T, dept string) (imap, smtp string)
	// deliver puts raw into the department's INBOX as a new message.
	deliver(t *testing.T, from, dept string, raw []byte)
	// receipts waits for n receipts to requester and returns them all.
	receipts(t *testing.T, requester string, n int) []receivedMail
	// count returns how many receipts requester has now.
	count(t *testing.T, requester string) int
}

type receivedMail struct {
	raw          []byte
	envelopeFrom string // "" for the null reverse-path; "?" when unknown
}

func (r receivedMail) header(t *testing.T) gomail.Header {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(r.raw))
	if err != nil {
		t.Fatalf("parse received mail: %v", err)
	}
	return mr.Header
}

// ---- in-process backend

type memBackend struct {
	imap *imapmem.Server
	sink *smtpsink.Server
	mu   sync.Mutex
	got  map[string][]receivedMail
	cond chan struct{}
}

func newMemBackend(t *testing.T) *memBackend {
	b := &memBackend{got: map[string][]receivedMail{}, cond: make(chan struct{})}
	srv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b.imap = srv
	sink, err := smtpsink.Start(context.Background(), smtpsink.WithOnMessage(func(r smtpsink.Received) {
		b.mu.Lock()
		for _, to := range r.To {
			b.got[strings.ToLower(to)] = append(b.got[strings.ToLower(to)], receivedMail{raw: r.Data, envelopeFrom: r.From})
		}
		close(b.cond)
		b.cond = make(chan struct{})
		b.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	b.sink = sink
	return b
}

func (b *memBackend) addresses(t *testing.T) (string, []string) {
	dept := "it-help@example.test"
	if err := b.imap.AddUser(dept, "secret", "Sent"); err != nil {
		t.Fatal(err)
	}
	return dept, []string{"jane.doe@example.test", "max.mustermann@example.test", "li.wei@example.test", "alice.staff@example.test"}
}

func (b *memBackend) imapSMTP(t *testing.T, dept string) (string, string) {
	host, port, _ := net.SplitHostPort(b.imap.Addr())
	imap := fmt.Sprintf("{host: %s, port: %s, tls: none, username: %q, password_file: %s, idle: true, poll_interval: 1s}", host, port, dept, secretFile(t))
	smtp := fmt.Sprintf("{host: %s, port: %d, tls: none}", b.sink.Host(), b.sink.Port())
	return imap, smtp
}

func (b *memBackend) deliver(t *testing.T, from, dept string, raw []byte) {
	if _, err := b.imap.Append(dept, "INBOX", raw, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func (b *memBackend) receipts(t *testing.T, requester string, n int) []receivedMail {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		b.mu.Lock()
		got := append([]receivedMail(nil), b.got[strings.ToLower(requester)]...)
		wake := b.cond
		b.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("%s has %d receipts after 15s, want %d", requester, len(got), n)
		}
	}
}

func (b *memBackend) count(t *testing.T, requester string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got[strings.ToLower(requester)])
}

// ---- real Dovecot + Postfix backend

type stackBackend struct{ s *mailstack.Stack }

func (b *stackBackend) addresses(t *testing.T) (string, []string) {
	return b.s.NewAddress(t, "dept"), []string{b.s.NewAddress(t, "jane"), b.s.NewAddress(t, "max"), b.s.NewAddress(t, "li"), b.s.NewAddress(t, "staff")}
}

func (b *stackBackend) imapSMTP(t *testing.T, dept string) (string, string) {
	ih, ip, _ := net.SplitHostPort(b.s.IMAPAddr)
	sh, sp, _ := net.SplitHostPort(b.s.SMTPAddr)
	imap := fmt.Sprintf("{host: %s, port: %s, tls: starttls, ca_file: %s, username: %q, password_file: %s, idle: true, poll_interval: 5m}", ih, ip, b.s.CAFile, dept, secretFile(t))
	smtp := fmt.Sprintf("{host: %s, port: %s, tls: starttls, ca_file: %s}", sh, sp, b.s.CAFile)
	return imap, smtp
}

func (b *stackBackend) deliver(t *testing.T, from, dept string, raw []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.s.Send(ctx, from, dept, raw); err != nil {
		t.Fatal(err)
	}
}

func (b *stackBackend) receipts(t *testing.T, requester string, n int) []receivedMail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := b.s.WaitForMessages(ctx, requester, "INBOX", n)
	if err != nil {
		t.Fatalf("waiting for %d receipts to %s: %v", n, requester, err)
	}
	out := make([]receivedMail, len(msgs))
	for i, m := range msgs {
		out[i] = receivedMail{raw: m.Raw, envelopeFrom: "?"}
		if h, err := m.Header(); err == nil {
			if rp := h.Get("Return-Path"); rp != "" {
				out[i].envelopeFrom = strings.Trim(rp, "<> ")
			}
		}
	}
	return out
}

func (b *stackBackend) count(t *testing.T, requester string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := b.s.Mailbox(ctx, requester, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// ---- the scenarios

func secretFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "imap-password")
	if err := os.WriteFile(p, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type deployment struct {
	t          *testing.T
	b          backend
	dept       string
	requesters []string
	cfg        *config.Config
	dbPath     string
	cancel     context.CancelFunc
	done       chan error
	store      store.Store
}

func newDeployment(t *testing.T, b backend) *deployment {
	dept, reqs := b.addresses(t)
	imap, smtp := b.imapSMTP(t, dept)
	dir := t.TempDir()
	domain := dept[strings.IndexByte(dept, '@')+1:]
	yaml := fmt.Sprintf(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: %s}
smtp: %s
http: {listen: ""}
departments:
  - name: IT Help Desk
    address: %s
    imap: %s
    staff: [%s]
    leads: [lead@%s]
    allowed_senders: ["*@%s"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      access: {commitment: 4h, escalate: [{at: 50%%, to: staff}]}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {subject: [password, locked out]}
        category: access
`, filepath.Join(dir, "ackd.db"), smtp, dept, imap, reqs[3], domain, domain)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return &deployment{t: t, b: b, dept: dept, requesters: reqs, cfg: cfg, dbPath: cfg.Store.DSN}
}

// start runs ackd on the deployment's store until stop.
func (d *deployment) start() {
	t := d.t
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", d.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	d.store = st
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dm, err := mailwatch.NewDaemon(d.cfg, templates.Default(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan error, 1)
	go func() { d.done <- dm.Run(ctx) }()
	t.Cleanup(d.stop)
}

func (d *deployment) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("daemon Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		d.t.Errorf("daemon did not stop within 10s")
	}
	d.store.Close()
	d.cancel = nil
}

var msgSeq int

func request(from, to, subject, extraHeaders, body string) []byte {
	msgSeq++
	id := fmt.Sprintf("req-%d-%d@client.example.test", time.Now().UnixNano(), msgSeq)
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + id + ">\r\nDate: " +
		time.Now().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" + extraHeaders + "\r\n" + body + "\r\n")
}

func messageID(raw []byte) string {
	for _, line := range strings.Split(string(raw), "\r\n") {
		if strings.HasPrefix(line, "Message-ID: ") {
			return strings.Trim(strings.TrimPrefix(line, "Message-ID: "), "<>")
		}
	}
	return ""
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"inprocess": func(t *testing.T) backend { return newMemBackend(t) },
		"dovecot":   func(t *testing.T) backend { return &stackBackend{s: mailstack.Require(t)} },
	}
}

func TestScenarioReceipts(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			d := newDeployment(t, mk(t))
			jane, max, li := d.requesters[0], d.requesters[1], d.requesters[2]
			d.start()

			req1 := request(`"Doe, Jane" <`+jane+`>`, d.dept, "Locked out of my account", "", "Hi, I cannot log in since this morning.\r\nThanks, Jane")
			d.b.deliver(t, jane, d.dept, req1)
			// Robots that must get nothing: an out-of-office reply, a
			// bounce and a list message, all from allowed addresses.
			d.b.deliver(t, li, d.dept, request(li, d.dept, "Out of office: Re: lunch", "Auto-Submitted: auto-replied\r\n", "I am away."))
			d.b.deliver(t, li, d.dept, request(li, d.dept, "Weekly newsletter", "List-Id: <news.example.test>\r\n", "News."))
			d.b.deliver(t, li, d.dept, request("MAILER-DAEMON@"+domainOf(d.dept), d.dept, "Undelivered Mail Returned to Sender", "", "This is the mail system."))
			d.b.deliver(t, max, d.dept, request("Max Mustermann <"+max+">", d.dept, "Drucker im 3. OG druckt nicht", "", "Der Drucker zeigt Papierstau."))

			got := d.b.receipts(t, jane, 1)
			if len(got) != 1 {
				t.Fatalf("jane has %d receipts, want 1", len(got))
			}
			h := got[0].header(t)
			subj, _ := h.Subject()
			checks := map[string][2]string{
				"Auto-Submitted":           {h.Get("Auto-Submitted"), "auto-replied"},
				"X-Auto-Response-Suppress": {h.Get("X-Auto-Response-Suppress"), "All"},
				"In-Reply-To":              {strings.Trim(h.Get("In-Reply-To"), "<>"), messageID(req1)},
			}
			for name, c := range checks {
				if c[0] != c[1] {
					t.Errorf("receipt %s = %q, want %q", name, c[0], c[1])
				}
			}
			// Postfix does not promise delivery order, so Jane's request
			// may be REQ-1 or REQ-2.
			if !strings.Contains(subj, "Locked out of my account") || !regexp.MustCompile(`\[REQ-[12]\]`).MatchString(subj) {
				t.Errorf("receipt subject %q does not restate the request with its [REQ-n] tag", subj)
			}
			if !strings.Contains(h.Get("References"), messageID(req1)) {
				t.Errorf("References %q lacks the request", h.Get("References"))
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
				t.Errorf("Content-Type %q, want multipart/alternative", ct)
			}
			if got[0].envelopeFrom != "" && got[0].envelopeFrom != "?" {
				t.Errorf("receipt envelope sender %q, want the null path <>", got[0].envelopeFrom)
			}
			if !bytes.Contains(got[0].raw, []byte("Jane Doe")) {
				t.Errorf("receipt does not greet Jane Doe by name")
			}
			d.b.receipts(t, max, 1)

			// The requester replies to the receipt: still one receipt.
			reply := request(jane, d.dept, "Re: "+subj, "In-Reply-To: <"+strings.Trim(h.Get("Message-Id"), "<>")+">\r\n", "Any news?")
			d.b.deliver(t, jane, d.dept, reply)

			// Restart: nothing is sent again, and a request that arrives
			// while ackd is down is acknowledged after it starts.
			d.stop()
			late := request(max, d.dept, "VPN drops every hour", "", "Since Monday.")
			d.b.deliver(t, max, d.dept, late)
			d.start()
			d.b.receipts(t, max, 2)
			// Receipts leave in the order they were recorded, so once
			// max's second one is here anything for jane would be too.
			if n := d.b.count(t, jane); n != 1 {
				t.Errorf("jane has %d receipts after her follow-up and a restart, want exactly 1", n)
			}
			if n := d.b.count(t, li); n != 0 {
				t.Errorf("robots got %d receipts, want 0", n)
			}

			ctx := context.Background()
			skipped, err := d.store.RecentSkipped(ctx, 20)
			if err != nil {
				t.Fatal(err)
			}
			reasons := map[string]bool{}
			for _, s := range skipped {
				reasons[s.Refusal] = true
			}
			for _, want := range []string{"auto-submitted", "list"} {
				if !reasons[want] {
					t.Errorf("no skipped message with refusal %q; got %v", want, reasons)
				}
			}
			open, err := d.store.OpenRequests(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 3 {
				t.Errorf("%d open requests, want 3 (jane, max, max's VPN)", len(open))
			}
			// Jane's "Any news?" before any answer is a reminder: counted,
			// and the staff were told at once.
			for _, r := range open {
				if rules.EqualAddress(r.Requester, jane) && (r.Reminders != 1 || r.EscalationLevel != 1) {
					t.Errorf("jane's request: %d reminders, escalation level %d; want 1 and 1", r.Reminders, r.EscalationLevel)
				}
			}
			if n := d.b.count(t, d.requesters[3]); n != 1 {
				t.Errorf("staff got %d escalations after jane's reminder, want 1", n)
			}
		})
	}
}

func domainOf(addr string) string { return addr[strings.IndexByte(addr, '@')+1:] }
