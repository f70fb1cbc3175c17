// Package mailstack connects end-to-end tests to the real Dovecot + Postfix
// stack that scripts/mailstack runs on loopback (scripts/test starts it and
// exports its addresses). Tests call Require, invent fresh addresses with
// NewAddress, send through Postfix and read what Dovecot stored.
package mailstack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Password logs in every user of Domain: the stack's Dovecot has a static
// passdb, so any address a test invents is a working account.
const Password = "secret"

// Domain is the only domain the stack delivers; Postfix refuses to send
// anywhere else.
const Domain = "example.test"

// The environment scripts/mailstack env exports.
const (
	EnvDir       = "ACKD_MAILSTACK"
	EnvCtl       = "ACKD_MAILSTACK_CTL"
	EnvCA        = "ACKD_MAILSTACK_CA"
	EnvIMAPAddr  = "ACKD_IMAP_ADDR"
	EnvIMAPSAddr = "ACKD_IMAPS_ADDR"
	EnvSMTPAddr  = "ACKD_SMTP_ADDR"
	EnvSMTPSAddr = "ACKD_SMTPS_ADDR"
	// EnvPush is the directory of per-user push targets (see PushTo); set
	// only by a stack whose Dovecot runs the push_notification script.
	EnvPush = "ACKD_MAILSTACK_PUSH"
)

// defaultWait bounds waits whose context has no deadline, so a test that
// forgot one still ends.
const defaultWait = 30 * time.Second

// Stack is a running mail stack on loopback.
type Stack struct {
	// Dir is the state directory (config, CA, mail, logs).
	Dir string
	// IMAPAddr serves IMAP with plain login and STARTTLS.
	IMAPAddr string
	// IMAPSAddr serves IMAP with implicit TLS.
	IMAPSAddr string
	// SMTPAddr is Postfix's smtpd (STARTTLS offered, no AUTH, relays only to Domain).
	SMTPAddr string
	// SMTPSAddr is Postfix's smtpd with implicit TLS.
	SMTPSAddr string
	// PushDir holds the per-user push targets; "" when this stack's
	// Dovecot pushes nothing (started before push was added).
	PushDir string
	// CAFile is the PEM file of the throwaway CA that signed the servers' certificate.
	CAFile string

	ctl       string
	pool      *x509.CertPool
	exclusive bool
}

// Require returns the running stack described by the environment. Without
// it the test is skipped, or fails when CI=true, because CI must run the
// end-to-end tests. The test holds a shared lock on the stack until it ends,
// so that a RequireExclusive test in another package never stops a server
// under it.
func Require(t testing.TB) *Stack {
	t.Helper()
	s := require(t)
	if err := lockStack(t, s.Dir, false); err != nil {
		t.Fatalf("mailstack: %v", err)
	}
	return s
}

// RequireExclusive is Require for fault tests: it waits until no other test
// (in any package) uses the stack and keeps it to itself until the test
// ends. Only such a Stack may stop, start or restart the servers. Call it
// after t.Parallel, never before: a paused parallel test holding the shared
// lock would make this wait until it gives up.
func RequireExclusive(t testing.TB) *Stack {
	t.Helper()
	s := require(t)
	if err := lockStack(t, s.Dir, true); err != nil {
		t.Fatalf("mailstack: %v", err)
	}
	s.exclusive = true
	return s
}

func require(t testing.TB) *Stack {
	t.Helper()
	s, err := FromEnv(os.Getenv)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mailstack: end-to-end tests must run in CI: %v", err)
		}
		t.Skipf("SKIP end-to-end: real mail stack not running; run scripts/test (root + apt) to start it: %v", err)
	}
	return s
}

// FromEnv builds a Stack from the variables scripts/mailstack env prints,
// read through getenv. It fails naming every missing variable, or when the CA
// cannot be read.
func FromEnv(getenv func(string) string) (*Stack, error) {
	var missing []string
	get := func(name string) string {
		v := getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	s := &Stack{
		Dir:       get(EnvDir),
		ctl:       get(EnvCtl),
		CAFile:    get(EnvCA),
		IMAPAddr:  get(EnvIMAPAddr),
		IMAPSAddr: get(EnvIMAPSAddr),
		SMTPAddr:  get(EnvSMTPAddr),
		SMTPSAddr: get(EnvSMTPSAddr),
		PushDir:   getenv(EnvPush),
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment lacks %s", strings.Join(missing, ", "))
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read mail stack CA: %w", err)
	}
	s.pool = x509.NewCertPool()
	if !s.pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read mail stack CA %s: no certificate in it", s.CAFile)
	}
	return s, nil
}

// CAPool returns a pool holding only the stack's CA, for clients that must
// verify the servers' certificate.
func (s *Stack) CAPool() *x509.CertPool {
	return s.pool.Clone()
}

// TLSConfig returns a client TLS config that trusts the stack's CA and
// checks the certificate against 127.0.0.1.
func (s *Stack) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CAPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// NewAddress returns a fresh address in Domain, prefix-<8 hex digits>, that
// no other test uses: its mailboxes start empty.
func (s *Stack) NewAddress(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("mailstack: new address: %v", err)
	}
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(b[:]) + "@" + Domain
}

// PostfixLog returns Postfix's log so far: an independent record of every
// message submitted (from=<…>) and its fate (status=sent, bounced, deferred).
func (s *Stack) PostfixLog() ([]byte, error) {
	b, err := os.ReadFile(s.Dir + "/postfix.log")
	if err != nil {
		return nil, fmt.Errorf("read postfix log: %w", err)
	}
	return b, nil
}

// Restart stops and starts both servers. Mail, queue and certificates are
// kept.
func (s *Stack) Restart(ctx context.Context) error { return s.control(ctx, "restart") }

// StopDovecot stops Dovecot (IMAP and LMTP) and waits until its ports are free.
// Postfix then queues incoming mail until StartDovecot.
func (s *Stack) StopDovecot(ctx context.Context) error { return s.control(ctx, "stop", "dovecot") }

// StartDovecot starts Dovecot again and waits until it listens.
func (s *Stack) StartDovecot(ctx context.Context) error { return s.control(ctx, "start", "dovecot") }

// StopPostfix stops Postfix and waits until its ports are free.
func (s *Stack) StopPostfix(ctx context.Context) error { return s.control(ctx, "stop", "postfix") }

// StartPostfix starts Postfix again and waits until it listens.
func (s *Stack) StartPostfix(ctx context.Context) error { return s.control(ctx, "start", "postfix") }

func (s *Stack) control(ctx context.Context, args ...string) error {
	op := "mailstack " + strings.Join(args, " ")
	if !s.exclusive {
		return fmt.Errorf("%s: needs a Stack from RequireExclusive, other tests share this one", op)
	}
	_, err := s.run(ctx, args...)
	return err
}

// run calls scripts/mailstack on this stack's state dir.
func (s *Stack) run(ctx context.Context, args ...string) ([]byte, error) {
	op := "mailstack " + strings.Join(args, " ")
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*defaultWait)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, s.ctl, args...)
	cmd.Env = append(os.Environ(), "ACKD_MAILSTACK_DIR="+s.Dir)
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", op, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return []byte(stdout.String()), nil
}

// withDeadline gives ctx a deadline when it has none.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultWait)
}

// PushTo makes Dovecot POST a push notification to url, with token as
// the bearer, whenever mail arrives in any mailbox of user (delivery or
// APPEND), until the test ends. It skips the test on a stack whose
// Dovecot predates push (restart it with scripts/mailstack).
func (s *Stack) PushTo(t testing.TB, user, url, token string) {
	t.Helper()
	if s.PushDir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mailstack: the stack's Dovecot has no push_notification script; restart it with scripts/mailstack restart dovecot")
		}
		t.Skip("SKIP: the mail stack's Dovecot predates push wake-ups; scripts/mailstack restart dovecot")
	}
	if strings.ContainsAny(user, "/\x00") || url == "" || strings.ContainsAny(url+token, "\r\n") {
		t.Fatalf("mailstack: push target %q -> %q: invalid", user, url)
	}
	path := filepath.Join(s.PushDir, user)
	// Dovecot's mail processes read it as the mail user.
	if err := os.WriteFile(path, []byte(url+"\n"+token+"\n"), 0o644); err != nil {
		t.Fatalf("mailstack: push target: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })
}
