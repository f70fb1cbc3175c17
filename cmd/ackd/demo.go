package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ackd/ackd"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// demoMail is a message the demo drops into the department's mailbox.
type demoMail struct {
	from, subject, headers, body string
}

func demoMessages(dept string) []demoMail {
	return []demoMail{
		{`"Doe, Jane" <jane.doe@example.test>`, "Locked out after the password change", "",
			"Hello,\n\nsince I changed my password this morning I cannot log in to my laptop any more.\nCould you please help?\n\nThanks,\nJane"},
		{"Max Mustermann <max.mustermann@example.test>", "VPN-Verbindung bricht ständig ab", "",
			"Hallo,\n\nseit gestern bricht die VPN-Verbindung alle paar Minuten ab.\n\nGruß\nMax"},
		{"Sophie Martin <sophie.martin@example.test>", "New hire starting Monday: accounts and equipment", "",
			"Hi team,\n\nour new designer, Ana, starts on Monday. She needs an email account, access to the design drive and a workstation.\n\nBest,\nSophie"},
		{"Li Wei <li.wei@example.test>", "Licence for Adobe Acrobat Pro", "",
			"Hello,\n\nI need to edit PDFs for the tender documents. Could I get an Acrobat Pro licence?\n\nThank you,\nLi"},
		{"tom.baker@example.test", "Projector in meeting room 3", "",
			"The projector in room 3 shows no picture from HDMI. Tom"},
		// Must be ignored: an out-of-office reply (RFC 3834 Auto-Submitted).
		{"Olivia Smith <olivia.smith@example.test>", "Automatic reply: Team lunch on Friday", "Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
			"I am out of the office until Monday and will reply when I am back."},
	}
}

func (m demoMail) raw(dept string, n int, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: IT Help Desk <%s>\r\nSubject: %s\r\n", m.from, dept, mimeWord(m.subject))
	fmt.Fprintf(&b, "Message-ID: <demo-%d-%d@client.example.test>\r\nDate: %s\r\n", now.UnixNano(), n, now.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	b.WriteString(m.headers)
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(m.body, "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// mimeWord encodes a non-ASCII subject as RFC 2047 requires.
func mimeWord(s string) string { return mime.QEncoding.Encode("utf-8", s) }

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr)
	once := fs.Bool("once", false, "exit after the status table instead of running until Ctrl-C")
	verbose := fs.Bool("v", false, "show the daemon's log")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runDemo(ctx, *once, *verbose, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "ackd demo:", err)
		return 1
	}
	return 0
}

func runDemo(ctx context.Context, once, verbose bool, stdout, stderr io.Writer) error {
	cfg, err := config.Parse("config.yaml", ackd.ExampleConfig)
	if err != nil {
		return fmt.Errorf("the embedded example config.yaml: %w", err)
	}
	dir, err := os.MkdirTemp("", "ackd-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := filepath.Join(dir, "imap-password")
	if err := os.WriteFile(secret, []byte("demo\n"), 0o600); err != nil {
		return err
	}

	imapSrv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		return err
	}
	defer imapSrv.Close()

	var (
		out      sync.Mutex
		receipts = make(chan struct{}, 64)
	)
	sink, err := smtpsink.Start(ctx, smtpsink.WithOnMessage(func(r smtpsink.Received) {
		printReceipt(&out, stdout, r)
		receipts <- struct{}{}
	}))
	if err != nil {
		return err
	}
	defer sink.Close()

	// Point the example at the in-process servers; everything else (rules,
	// categories, calendar, templates) is the example as shipped.
	cfg.Store = config.StoreConfig{Driver: "sqlite", DSN: filepath.Join(dir, "ackd.db")}
	cfg.SMTP = config.SMTPConfig{Host: sink.Host(), Port: sink.Port(), TLS: config.TLSNone, Timeout: 10 * time.Second}
	host, portStr, _ := net.SplitHostPort(imapSrv.Addr())
	port, _ := strconv.Atoi(portStr)
	for _, d := range cfg.Departments {
		if err := imapSrv.AddUser(d.IMAP.Username, "demo", d.IMAP.SentMailbox); err != nil {
			return err
		}
		d.IMAP.Host, d.IMAP.Port, d.IMAP.TLS = host, port, config.TLSNone
		d.IMAP.Password = config.Secret{File: secret}
		d.IMAP.CAFile, d.IMAP.AppendSent = "", false
		// The demo's mail may land before the watcher's first look, when
		// it would be history.
		d.Backfill = time.Hour
	}
	dept := cfg.Departments[0]

	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return err
	}
	defer st.Close()
	logOut := io.Discard
	if verbose {
		logOut = stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	outcomes := make(chan struct{}, 64)
	d, err := mailwatch.NewDaemon(cfg, templates.Default(), st, log, mailwatch.OnOutcome(func(dept string, o mailwatch.Outcome) {
		if o.Action != "receipt" {
			out.Lock()
			fmt.Fprintf(stdout, "· not acknowledged (%s): %s\n\n", o.Action, o.Decision.Reason)
			out.Unlock()
		}
		outcomes <- struct{}{}
	}))
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "ackd demo: %s <%s>, IMAP %s, SMTP %s\n", dept.Name, dept.Address, imapSrv.Addr(), sink.Addr())
	fmt.Fprintf(stdout, "Calendar: %s, %s; now it is %s there.\n\n", dept.Calendar.Location(), "working days and hours from config.yaml",
		time.Now().In(dept.Calendar.Location()).Format("Monday 2 January 2006, 15:04 MST"))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()

	msgs := demoMessages(dept.Address)
	now := time.Now()
	wantReceipts := 0
	for i, m := range msgs {
		if _, err := imapSrv.Append(dept.IMAP.Username, dept.IMAP.Mailbox, m.raw(dept.Address, i, now), now); err != nil {
			return err
		}
		if m.headers == "" {
			wantReceipts++
		}
	}
	timeout := time.After(30 * time.Second)
	for seen, sent := 0, 0; seen < len(msgs) || sent < wantReceipts; {
		select {
		case <-outcomes:
			seen++
		case <-receipts:
			sent++
		case <-timeout:
			return fmt.Errorf("timed out: %d of %d messages handled, %d of %d receipts sent", seen, len(msgs), sent, wantReceipts)
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		}
	}
	out.Lock()
	fmt.Fprintln(stdout, "== ackd status")
	err = printStatus(ctx, stdout, cfg, st, time.Now(), 5)
	out.Unlock()
	if err != nil {
		return err
	}
	if !once {
		fmt.Fprintf(stdout, "\nackd keeps watching. Append mail to %s's INBOX over IMAP at %s (user %s, password demo) to see more; Ctrl-C ends the demo.\n",
			dept.Address, imapSrv.Addr(), dept.IMAP.Username)
		<-ctx.Done()
	}
	cancel()
	return <-done
}

func printReceipt(mu *sync.Mutex, w io.Writer, r smtpsink.Received) {
	mu.Lock()
	defer mu.Unlock()
	m, err := parse.Parse(r.Data, parse.Options{})
	if err != nil {
		fmt.Fprintf(w, "→ mail to %s (unreadable: %v)\n\n", strings.Join(r.To, ", "), err)
		return
	}
	from := "<>"
	if r.From != "" {
		from = r.From
	}
	fmt.Fprintf(w, "→ receipt to %s (MAIL FROM:%s, Auto-Submitted: %s)\n", strings.Join(r.To, ", "), from, m.Get("Auto-Submitted"))
	fmt.Fprintf(w, "  Subject: %s\n", m.Subject)
	for _, line := range strings.Split(strings.TrimRight(m.Text, "\n"), "\n") {
		fmt.Fprintf(w, "  │ %s\n", line)
	}
	fmt.Fprintln(w)
}
