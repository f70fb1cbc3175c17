package mailstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

func testMessage(from, to, subject string) []byte {
	id := fmt.Sprintf("<%d.%s>", time.Now().UnixNano(), strings.Replace(to, "@", ".mailstack@", 1))
	return []byte("From: " + from + "\r\n" +
		"To: " + to + "\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: " + id + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello, my laptop will not start.\r\n")
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMailstackFromEnv(t *testing.T) {
	full := map[string]string{
		EnvDir: "/d", EnvCtl: "/c", EnvCA: "/nonexistent/ca.pem",
		EnvIMAPAddr: "a", EnvIMAPSAddr: "b", EnvSMTPAddr: "c", EnvSMTPSAddr: "d",
	}
	tests := []struct {
		name    string
		drop    []string
		wantErr string
	}{
		{"nothing set", []string{EnvDir, EnvCtl, EnvCA, EnvIMAPAddr, EnvIMAPSAddr, EnvSMTPAddr, EnvSMTPSAddr}, "environment lacks ACKD_MAILSTACK, ACKD_MAILSTACK_CTL"},
		{"one missing", []string{EnvSMTPSAddr}, "environment lacks ACKD_SMTPS_ADDR"},
		{"CA unreadable", nil, "read mail stack CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string {
				if slices.Contains(tt.drop, k) {
					return ""
				}
				return full[k]
			}
			_, err := FromEnv(env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("FromEnv: got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMailstackNewAddress(t *testing.T) {
	var s Stack
	re := regexp.MustCompile(`^dept-[0-9a-f]{8}@example\.test$`)
	seen := map[string]bool{}
	for range 100 {
		a := s.NewAddress(t, "Dept")
		if !re.MatchString(a) {
			t.Fatalf("NewAddress = %q, want dept-<8 hex>@example.test", a)
		}
		if seen[a] {
			t.Fatalf("NewAddress returned %q twice", a)
		}
		seen[a] = true
	}
}

// TestMailstackDelivery sends through Postfix and finds the message in the
// recipient's INBOX with the Delivered-To header that ackd's loop protection
// reads, and logs how long the one hop took.
func TestMailstackDelivery(t *testing.T) {
	s := Require(t)
	ctx := testContext(t)
	from, to := s.NewAddress(t, "alice"), s.NewAddress(t, "dept")
	raw := testMessage(from, to, "Delivery smoke test")

	accepted, err := s.SendAccepted(ctx, from, to, raw)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.WaitForMessages(ctx, to, "INBOX", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SMTP accepted → in INBOX within %v (polling every %v)", time.Since(accepted).Round(time.Millisecond), pollInterval)
	if len(msgs) != 1 {
		t.Fatalf("INBOX of %s holds %d messages, want 1", to, len(msgs))
	}
	m := msgs[0]
	h, err := m.Header()
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("Delivered-To"); got != to {
		t.Errorf("Delivered-To = %q, want %q", got, to)
	}
	if got := h.Get("Return-Path"); got != "<"+from+">" {
		t.Errorf("Return-Path = %q, want <%s>", got, from)
	}
	if !bytes.HasSuffix(m.Raw, raw) {
		t.Errorf("stored message does not end with the message sent:\n%s", m.Raw)
	}
	if m.UID == 0 || m.InternalDate.IsZero() {
		t.Errorf("UID %d, INTERNALDATE %v: want both set", m.UID, m.InternalDate)
	}
	if d := m.InternalDate.Sub(accepted); d < -2*time.Second || d > 10*time.Second {
		t.Errorf("INTERNALDATE %v is not near the acceptance time %v", m.InternalDate, accepted)
	}
	if slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("message is \\Seen after fetching with BODY.PEEK")
	}

	again, err := s.Mailbox(ctx, to, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || slices.Contains(again[0].Flags, imap.FlagSeen) {
		t.Errorf("second read: %d messages, flags %v; want 1 message, not \\Seen", len(again), again[0].Flags)
	}

	// Postfix's own delay= is the hop alone, without our IMAP login and
	// polling. The line is written after LMTP answered, so after the
	// message is visible over IMAP (and through postlogd, later still):
	// it is waited for, as CI once read the log a moment too early.
	sentRE := regexp.MustCompile(`to=<` + regexp.QuoteMeta(to) + `>,.* delay=([0-9.]+),.* status=sent`)
	var sent [][]byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		log, err := s.PostfixLog()
		if err != nil {
			t.Fatal(err)
		}
		if sent = sentRE.FindSubmatch(log); sent != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postfix log has no status=sent for %s after 10s", to)
		}
	}
	t.Logf("Postfix: delivered over LMTP with delay=%ss", sent[1])
}

// TestMailstackNullSender checks that the null reverse path that receipts
// use (RFC 3834 §3.3) gets through and is recorded as such.
func TestMailstackNullSender(t *testing.T) {
	s := Require(t)
	ctx := testContext(t)
	to := s.NewAddress(t, "requester")
	if err := s.Send(ctx, "", to, testMessage("dept@example.test", to, "Receipt")); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.WaitForMessages(ctx, to, "INBOX", 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := msgs[0].Header()
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("Return-Path"); got != "<>" {
		t.Errorf("Return-Path = %q, want <>", got)
	}
}

func TestMailstackRefusesOutsideDomain(t *testing.T) {
	s := Require(t)
	err := s.Send(testContext(t), "alice@example.test", "someone@example.com", testMessage("alice@example.test", "someone@example.com", "x"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("sending outside example.test: got %v, want a permanent SMTP refusal", err)
	}
}

func TestMailstackIMAPLogin(t *testing.T) {
	s := Require(t)
	// nil RootCAs: the system's, which lack the test CA. The refusals also
	// prove that the "with CA" cases really speak TLS.
	systemRoots := &tls.Config{ServerName: "127.0.0.1"}
	tests := []struct {
		name      string
		mode      IMAPMode
		tls       *tls.Config
		wantRefus bool
	}{
		{"plain", Plain, nil, false},
		{"starttls with CA", StartTLS, nil, false},
		{"implicit TLS with CA", ImplicitTLS, nil, false},
		{"starttls without CA", StartTLS, systemRoots, true},
		{"implicit TLS without CA", ImplicitTLS, systemRoots, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			user := s.NewAddress(t, "dept")
			sess, err := s.Login(ctx, user, tt.mode, tt.tls)
			if tt.wantRefus {
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					if err == nil {
						sess.Close()
					}
					t.Fatalf("Login: got %v, want an unknown-authority refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			if err := sess.Noop().Wait(); err != nil {
				t.Errorf("NOOP after login: %v", err)
			}
			for _, c := range []imap.Cap{imap.CapIdle, imap.CapUIDPlus, imap.CapCondStore, imap.CapQResync, imap.CapSpecialUse, imap.CapMove} {
				if !sess.Caps().Has(c) {
					t.Errorf("Dovecot does not announce %s", c)
				}
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		ctx := testContext(t)
		sess, err := s.Login(ctx, s.NewAddress(t, "dept"), Plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if err := sess.Login("other@example.test", "wrong").Wait(); err == nil {
			t.Errorf("LOGIN with a wrong password succeeded")
		}
	})
}

func TestMailstackSMTPTLS(t *testing.T) {
	s := Require(t)
	tests := []struct {
		name string
		dial func(*tls.Config) (*smtp.Client, error)
	}{
		{"starttls", func(c *tls.Config) (*smtp.Client, error) { return smtp.DialStartTLS(s.SMTPAddr, c) }},
		{"implicit TLS", func(c *tls.Config) (*smtp.Client, error) { return smtp.DialTLS(s.SMTPSAddr, c) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.dial(s.TLSConfig())
			if err != nil {
				t.Fatalf("with the stack's CA: %v", err)
			}
			if _, ok := c.TLSConnectionState(); !ok {
				t.Errorf("connection is not TLS")
			}
			if err := c.Quit(); err != nil {
				t.Errorf("QUIT: %v", err)
			}
			c, err = tt.dial(&tls.Config{ServerName: "127.0.0.1"})
			if err == nil {
				// go-smtp's STARTTLS shakes hands lazily, on the next command.
				err = c.Noop()
				c.Close()
			}
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Errorf("without the stack's CA: got %v, want an unknown-authority refusal", err)
			}
		})
	}
}

func TestMailstackSentFolder(t *testing.T) {
	s := Require(t)
	ctx := testContext(t)
	sess, err := s.Login(ctx, s.NewAddress(t, "dept"), Plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	boxes, err := sess.List("", "*", &imap.ListOptions{ReturnSpecialUse: true, ReturnSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Mailbox)
		if b.Mailbox == "Sent" {
			if !slices.Contains(b.Attrs, imap.MailboxAttrSent) {
				t.Errorf("Sent lacks \\Sent: %v", b.Attrs)
			}
			if !slices.Contains(b.Attrs, imap.MailboxAttrSubscribed) {
				t.Errorf("Sent is not subscribed: %v", b.Attrs)
			}
			return
		}
	}
	t.Errorf("no Sent mailbox in %v", names)
}

func TestMailstackRecreateMailbox(t *testing.T) {
	s := Require(t)
	for _, mailbox := range []string{"Sent", "Archive", "INBOX"} {
		t.Run(mailbox, func(t *testing.T) {
			ctx := testContext(t)
			user := s.NewAddress(t, "dept")
			if mailbox == "Archive" {
				sess, err := s.Login(ctx, user, Plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := sess.Create(mailbox, nil).Wait(); err != nil {
					t.Fatal(err)
				}
				sess.Close()
			}
			raw := testMessage(user, "someone@example.test", "Saved reply")
			for range 2 {
				if err := s.Append(ctx, user, mailbox, raw); err != nil {
					t.Fatal(err)
				}
			}
			before, err := s.UIDValidity(ctx, user, mailbox)
			if err != nil {
				t.Fatal(err)
			}
			if msgs, err := s.Mailbox(ctx, user, mailbox); err != nil || len(msgs) != 2 {
				t.Fatalf("after two APPENDs: %d messages, %v", len(msgs), err)
			}

			if err := s.RecreateMailbox(ctx, user, mailbox); err != nil {
				t.Fatal(err)
			}
			after, err := s.UIDValidity(ctx, user, mailbox)
			if err != nil {
				t.Fatal(err)
			}
			if after == before {
				t.Errorf("UIDVALIDITY stayed %d", before)
			}
			msgs, err := s.Mailbox(ctx, user, mailbox)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 0 {
				t.Errorf("recreated %s holds %d messages, want 0", mailbox, len(msgs))
			}
			if err := s.Append(ctx, user, mailbox, raw); err != nil {
				t.Fatalf("append after recreate: %v", err)
			}
		})
	}
}

// TestMailstackControlNeedsExclusive keeps a shared Stack from stopping
// servers under other tests.
func TestMailstackControlNeedsExclusive(t *testing.T) {
	s := Require(t)
	err := s.StopDovecot(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "RequireExclusive") {
		t.Fatalf("StopDovecot on a shared Stack: got %v, want a refusal naming RequireExclusive", err)
	}
}

// TestMailstackDovecotOutage stops Dovecot, sends, and checks Postfix keeps
// the message and delivers it once Dovecot is back: the fault tests of the
// daemon rely on exactly this.
func TestMailstackDovecotOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts servers; skipped with -short")
	}
	s := RequireExclusive(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	t.Cleanup(func() {
		// Leave the stack running for the next test whatever happened.
		if err := s.StartDovecot(context.Background()); err != nil {
			t.Errorf("restart Dovecot after the test: %v", err)
		}
	})
	from, to := s.NewAddress(t, "alice"), s.NewAddress(t, "dept")
	if err := s.StopDovecot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, from, to, testMessage(from, to, "Sent while Dovecot is down")); err != nil {
		t.Fatalf("Postfix refused mail while Dovecot is down: %v", err)
	}
	if err := s.StartDovecot(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := s.WaitForMessages(ctx, to, "INBOX", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("queued message delivered %v after Dovecot came back", time.Since(start).Round(time.Millisecond))
	if len(msgs) != 1 {
		t.Errorf("INBOX holds %d messages, want 1", len(msgs))
	}
}
