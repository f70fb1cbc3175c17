package outbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/ackd/ackd/internal/loopback"
)

// TLS modes for SMTPConfig.TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS, required (port 587)
	TLSNone     = "none"     // no TLS; loopback hosts only
)

// SMTPConfig says how to reach the submission server.
type SMTPConfig struct {
	Host string
	Port int    // 0: 465 for implicit TLS, 587 otherwise
	TLS  string // TLSImplicit, TLSStartTLS (the default when empty) or TLSNone
	// Username enables AUTH (PLAIN, else LOGIN); empty sends without AUTH.
	Username, Password string
	// RootCAs verifies the server certificate; nil uses the system pool.
	RootCAs            *x509.CertPool
	InsecureSkipVerify bool
	// Timeout bounds the connect and each SMTP command; 0 means 30s.
	Timeout time.Duration
	// HeloName is the EHLO name; empty means "localhost".
	HeloName string
	// Auth, when set, authenticates with SASL (OAuth2) instead of
	// Username/Password.
	Auth SASLAuth
}

// Validate reports a configuration the Sender will refuse to use.
func (c SMTPConfig) Validate() error {
	if strings.TrimSpace(c.Host) == "" {
		return errors.New("smtp: host is empty")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("smtp: port %d out of range", c.Port)
	}
	switch c.TLS {
	case "", TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !loopback.Host(c.Host) {
			return fmt.Errorf("smtp: tls none is allowed only for loopback hosts, not %q", c.Host)
		}
	default:
		return fmt.Errorf("smtp: tls %q is not implicit, starttls or none", c.TLS)
	}
	if strings.ContainsAny(c.HeloName, "\r\n \t") {
		return fmt.Errorf("smtp: invalid helo name %q", c.HeloName)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("smtp: negative timeout %s", c.Timeout)
	}
	return nil
}

// LogValue keeps the password out of logs.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("tls", c.TLS),
		slog.String("username", c.Username), slog.Bool("password_set", c.Password != ""),
	)
}

func (c SMTPConfig) withDefaults() SMTPConfig {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if c.Port == 0 {
		c.Port = 587
		if c.TLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.HeloName == "" {
		c.HeloName = "localhost"
	}
	return c
}

// Backoff returns how long to wait after a temporary failure, given how
// many attempts had already failed before this one (0 for the first).
type Backoff func(attempts int) time.Duration

// ExponentialBackoff doubles from base up to max and takes up to a fifth
// off at random, so that mail deferred together does not retry in lockstep.
func ExponentialBackoff(base, max time.Duration) Backoff {
	return func(attempts int) time.Duration {
		d := base
		for i := 0; i < attempts && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		if j := int64(d / 5); j > 0 {
			d -= time.Duration(rand.Int64N(j + 1))
		}
		return d
	}
}

// Option configures a Sender.
type Option func(*Sender)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Sender) { s.now = now } }

// WithBackoff replaces the default ExponentialBackoff(30s, 30m).
func WithBackoff(b Backoff) Option { return func(s *Sender) { s.backoff = b } }

// WithMaxAge sets how long after CreatedAt temporary failures are retried
// before the mail is marked failed (default 48h).
func WithMaxAge(d time.Duration) Option { return func(s *Sender) { s.maxAge = d } }

// WithGate makes every due mail pass g before it is delivered (the
// sending limits); without one every due mail is sent.
func WithGate(g Gate) Option { return func(s *Sender) { s.gate = g } }

// WithPollInterval sets how often Run looks for due mail when nothing is
// scheduled and nobody kicks it (default 1m), a safety net for mail queued
// by another process.
func WithPollInterval(d time.Duration) Option { return func(s *Sender) { s.poll = d } }

// WithKeepAlive keeps the connection open for d after a batch, so that
// mail due within d goes out over it without a new handshake (TLS, AUTH).
// A kept connection is checked with NOOP (RSET after an unfinished
// transaction) before it is used again, and replaced by a new one when
// that fails. 0, the default, closes it after each batch.
func WithKeepAlive(d time.Duration) Option { return func(s *Sender) { s.keepAlive = max(d, 0) } }

// Sender drains the outbox queue over SMTP.
type Sender struct {
	q       Queue
	cfg     SMTPConfig
	cfgErr  error
	log     *slog.Logger
	now     func() time.Time
	backoff Backoff
	maxAge  time.Duration
	batch   int
	poll    time.Duration
	gate    Gate
	kick    chan struct{}
	// timer is time.NewTimer's channel and stop, replaceable by tests so
	// Run's waits need no real sleeping.
	timer func(time.Duration) (<-chan time.Time, func() bool)

	// keepAlive and kept: the connection left open between batches (one
	// per Sender), taken by Drain and put back when it is done with it.
	keepAlive time.Duration
	keptMu    sync.Mutex
	kept      *keptConn

	markAhead int // see WithMarkAhead

	// health: the last connection failure, cleared by the next delivery
	// that reaches the server; /readyz reports it while mail waits.
	mu        sync.Mutex
	connFault error
}

// Fault returns the error of the last attempt to reach the SMTP server if
// no attempt has succeeded since, else nil.
func (s *Sender) Fault() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connFault
}

func (s *Sender) setFault(err error) {
	s.mu.Lock()
	s.connFault = err
	s.mu.Unlock()
}

// NewSender returns a Sender for q. An invalid cfg is not an error here:
// each delivery attempt then fails temporarily with the reason (and is
// logged), so queued mail survives until the configuration is fixed;
// callers should check cfg.Validate first.
func NewSender(q Queue, cfg SMTPConfig, log *slog.Logger, opts ...Option) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sender{
		q:       q,
		cfg:     cfg.withDefaults(),
		cfgErr:  cfg.Validate(),
		log:     log,
		now:     time.Now,
		backoff: ExponentialBackoff(30*time.Second, 30*time.Minute),
		maxAge:  48 * time.Hour,
		batch:   50,
		poll:    time.Minute,
		kick:    make(chan struct{}, 1),
		// markAhead: see WithMarkAhead.
		markAhead: DefaultMarkAhead,
		timer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Kick wakes Run to look for due mail now. It never blocks.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run drains due mail, then sleeps until the next scheduled attempt, a
// Kick, or the poll interval, and repeats. When ctx is done it finishes the
// message in flight (bounded by the SMTP timeout), records its outcome and
// returns nil. Store errors are logged and retried, never returned.
func (s *Sender) Run(ctx context.Context) error {
	defer s.CloseIdle()
	storeErrs := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := s.Drain(ctx)
		done := n.Sent + n.Failed + n.Retried + n.Held + n.Dropped
		wait := s.poll
		if err == nil && done == s.batch {
			storeErrs = 0
			continue // a full batch: more may be due right now
		}
		if err == nil {
			var next time.Time
			var ok bool
			next, ok, err = s.q.NextMailAttempt(ctx)
			if err == nil && ok {
				wait = min(wait, next.Sub(s.now()))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			storeErrs++
			wait = min(s.poll, time.Second<<min(storeErrs, 6))
			s.log.Error("outbox store error", "error", err, "retry_in", wait)
		} else {
			storeErrs = 0
		}
		if wait <= 0 {
			if done > 0 {
				continue
			}
			// Due mail that this pass did not touch: do not spin on it.
			wait = time.Second
		}
		if left, ok := s.expireKept(); ok {
			// Wake up to close the kept connection when it has idled long enough.
			wait = min(wait, left)
		}
		c, stop := s.timer(wait)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-s.kick:
			stop()
		case <-c:
		}
	}
}

// DrainOnce delivers up to one batch of due mail over one connection and
// records each outcome. It stops before the next message when ctx is done;
// untouched mail stays pending. err is a store error; SMTP failures are
// outcomes (retried or failed), not errors. Mail the gate held or dropped
// is in none of the counts; Drain counts it too.
func (s *Sender) DrainOnce(ctx context.Context) (sent, failed, retried int, err error) {
	n, err := s.Drain(ctx)
	return n.Sent, n.Failed, n.Retried, err
}

// Drained counts what one Drain did with each mail it took.
type Drained struct {
	Sent, Failed, Retried int
	// Held: a limit keeps the mail back; Dropped: closed unsent as no
	// longer worth sending.
	Held, Dropped int
	// Lost: the claim on the mail passed to another sender before it
	// could go (ClaimChecker); neither sent nor marked here. The batch
	// ends at the first.
	Lost int
}

// Drain is DrainOnce with every outcome counted.
//
// Mail the server accepted is recorded as sent in groups by a goroutine
// while the next mail goes out (WithMarkAhead); Drain returns when all of
// it is recorded.
func (s *Sender) Drain(ctx context.Context) (Drained, error) {
	var n Drained
	if ctx.Err() != nil {
		return n, nil
	}
	mails, err := s.q.DueMail(ctx, s.now(), s.batch)
	if err != nil {
		return n, fmt.Errorf("load due mail: %w", err)
	}
	if len(mails) == 0 {
		return n, nil
	}
	marks := newMarker(s, ctx)
	err = s.drain(ctx, mails, marks, &n)
	lost, markErr := marks.close()
	n.Lost += lost
	if err == nil {
		err = markErr
	}
	return n, err
}

// drain delivers mails in order, handing those the server accepted to
// marks.
func (s *Sender) drain(ctx context.Context, mails []QueuedMail, marks *marker, n *Drained) error {
	cc, _ := s.q.(ClaimChecker)
	var (
		c       *smtp.Client
		opened  time.Time // when c was connected (s.now)
		used    bool
		clean   bool  // the last transaction on c ended with DATA's reply
		connErr error // once connecting failed, the rest of the batch shares the error
	)
	defer func() {
		if c != nil {
			s.keep(c, opened, !used || clean)
		}
	}()
mails:
	for _, m := range mails {
		if ctx.Err() != nil {
			break
		}
		if !marks.room() {
			break // a mark failed; close reports it
		}
		if s.gate != nil {
			// Asked for each mail just before it would leave, so the
			// counts include the mail this batch already sent, recorded
			// or not.
			pass, err := s.admit(ctx, m, marks)
			switch {
			case err != nil && ctx.Err() != nil:
				break mails // nothing was decided; the mail stays pending
			case errors.Is(err, ErrClaimLost):
				s.log.Warn("claim on the mail lost; ending the batch", "id", m.ID, "error", err)
				n.Lost++
				break mails
			case err != nil:
				return err
			case pass == stateLost:
				break mails
			case pass == stateHeld:
				n.Held++
				continue
			case pass == stateDropped:
				n.Dropped++
				continue
			}
		}
		var res result
		if err := checkEnvelope(m); err != nil {
			res = result{state: stateFailed, err: err.Error()}
		} else {
			if c != nil && used && !clean {
				// A fresh transaction whatever the last one left behind. A
				// transaction that ended with the server's reply to DATA is
				// already over (RFC 5321 §4.1.1.4), so it needs no RSET.
				if err := s.command(c, c.Reset); err != nil {
					_ = c.Close()
					c = nil
				}
			}
			if c == nil && connErr == nil {
				// The last batch's connection if it still answers, else a new one.
				used = false
				c, opened = s.takeKept()
			}
			if c == nil && connErr == nil {
				opened = s.now()
				if c, connErr = s.connectAuth(ctx); connErr != nil {
					if ctx.Err() != nil {
						break // nothing was sent; the mail stays pending
					}
					s.log.Error("smtp connect failed", "server", s.cfg, "error", connErr)
					s.setFault(connErr)
				} else {
					s.setFault(nil)
				}
			}
			if connErr != nil {
				res = result{state: stateRetry, err: "connect: " + connErr.Error()}
			} else {
				var broken bool
				check := func() error { return nil }
				if cc != nil {
					check = func() error { return cc.CheckClaim(ctx, m.ID) }
				}
				res, broken = s.deliver(c, m, check)
				used = true
				clean = res.state == stateSent
				if broken {
					_ = c.Close()
					c = nil
				}
			}
		}
		if res.state == stateLost {
			// Another sender holds the mail now: leave it to it.
			s.log.Warn("claim on the mail lost; not sending it, ending the batch", "id", m.ID, "dept", m.Dept,
				"message_id", m.MessageID, "error", res.err)
			n.Lost++
			break
		}
		if res.state == stateSent {
			n.Sent++
			marks.add(accepted{m: m, res: res, at: s.now()})
			continue
		}
		st, markErr := s.record(ctx, m, res)
		switch st {
		case stateFailed:
			n.Failed++
		case stateRetry:
			n.Retried++
		}
		if errors.Is(markErr, ErrClaimLost) {
			n.Lost++
			break
		}
		if markErr != nil {
			return markErr
		}
	}
	return nil
}

// keptConn is a connection left open after a batch.
type keptConn struct {
	c      *smtp.Client
	clean  bool      // no transaction left open on it (else RSET before reuse)
	opened time.Time // when it was connected (s.now)
	since  time.Time // when it was put back (s.now)
}

// expires is when k may no longer be used: idle for the keep-alive, or
// maxLife after it was opened.
func (k *keptConn) expires(s *Sender) time.Time {
	return minTime(k.since.Add(s.keepAlive), k.opened.Add(s.maxLife()))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// maxLife bounds how long one connection is used, however busy it is.
// With OAuth2 it stays below oauth.DefaultEarly (the least time a token
// has left when it is handed out), so the session is never used past its
// token's expiry, which a server may hold against it; a new connection
// authenticates with a fresh token. Otherwise it only bounds the age of a
// session that never idles.
func (s *Sender) maxLife() time.Duration {
	if s.cfg.Auth != nil {
		return time.Minute
	}
	return 10 * time.Minute
}

// keep puts c back for the next batch, or closes it when connections are
// not kept or another Drain already put one back.
func (s *Sender) keep(c *smtp.Client, opened time.Time, clean bool) {
	if s.keepAlive > 0 {
		s.keptMu.Lock()
		if s.kept == nil {
			s.kept = &keptConn{c: c, clean: clean, opened: opened, since: s.now()}
			c = nil
		}
		s.keptMu.Unlock()
	}
	if c != nil {
		s.quit(c)
	}
}

// takeKept returns the kept connection and when it was opened if it has
// not idled past the keep-alive nor outlived maxLife, and still answers:
// NOOP, or RSET when a transaction was left open (either leaves it clean). A connection the server closed in the
// meantime (421 on shutdown or its idle timeout, EOF, reset) fails the
// check and is dropped; the caller connects anew, with no attempt counted
// against any mail since none was tried on it. nil when there is none.
func (s *Sender) takeKept() (*smtp.Client, time.Time) {
	s.keptMu.Lock()
	k := s.kept
	s.kept = nil
	s.keptMu.Unlock()
	if k == nil {
		return nil, time.Time{}
	}
	if !s.now().Before(k.expires(s)) {
		s.quit(k.c)
		return nil, time.Time{}
	}
	check, name := k.c.Noop, "NOOP"
	if !k.clean {
		check, name = k.c.Reset, "RSET"
	}
	if err := s.command(k.c, check); err != nil {
		s.log.Debug("kept SMTP connection no longer usable; reconnecting", "check", name, "error", err)
		_ = k.c.Close()
		return nil, time.Time{}
	}
	return k.c, k.opened
}

// expireKept closes the kept connection once it has idled for the
// keep-alive (or reached maxLife); while it may still be used it returns
// how long until then.
func (s *Sender) expireKept() (left time.Duration, ok bool) {
	s.keptMu.Lock()
	k := s.kept
	if k != nil {
		left = k.expires(s).Sub(s.now())
		if left <= 0 {
			s.kept = nil
		}
	}
	s.keptMu.Unlock()
	if k == nil {
		return 0, false
	}
	if left <= 0 {
		s.log.Debug("closing idle SMTP connection")
		s.quit(k.c)
		return 0, false
	}
	return left, true
}

// CloseIdle closes the kept connection, if any, with QUIT. Run calls it
// when it returns; callers of Drain with a keep-alive call it when done.
func (s *Sender) CloseIdle() {
	s.keptMu.Lock()
	k := s.kept
	s.kept = nil
	s.keptMu.Unlock()
	if k != nil {
		s.quit(k.c)
	}
}

// quit ends the session politely and closes the connection.
func (s *Sender) quit(c *smtp.Client) {
	_ = c.UpdateDeadline(s.cfg.Timeout)
	_ = c.Quit()
	_ = c.Close()
}

type state int

const (
	stateSent state = iota + 1
	stateRetry
	stateFailed
	stateHeld
	stateDropped
	stateLost // the claim passed to another sender; nothing to record
)

// admit asks the gate about m and records a hold or a drop. It returns
// stateSent when m may go. A mail held longer than the give-up age is
// dropped: by then it has lost its point, as a mail failing that long
// would be given up.
func (s *Sender) admit(ctx context.Context, m QueuedMail, marks *marker) (state, error) {
	var (
		a   Admission
		err error
	)
	if ug, ok := s.gate.(UnmarkedGate); ok {
		a, err = ug.AdmitUnmarked(ctx, m, s.now(), marks.unmarked())
	} else {
		if !marks.settle() {
			return stateLost, nil // a mark failed: the batch ends here
		}
		a, err = s.gate.Admit(ctx, m, s.now())
	}
	now := s.now()
	if err != nil {
		return 0, fmt.Errorf("check limits for mail %d: %w", m.ID, err)
	}
	if a.Verdict == Hold && s.maxAge > 0 && !m.CreatedAt.IsZero() && !a.Until.Before(m.CreatedAt.Add(s.maxAge)) {
		a = Admission{Verdict: Drop, Reason: fmt.Sprintf("held for more than %s (%s)", s.maxAge, a.Reason)}
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := s.log.With("id", m.ID, "kind", m.Kind, "dept", m.Dept, "message_id", m.MessageID)
	switch a.Verdict {
	case Hold:
		until := a.Until
		if !until.After(now) {
			// A gate must name a moment in the future, or the mail
			// would be held and taken again at once.
			until = now.Add(time.Second)
		}
		if m.HeldReason != a.Reason || m.HeldSince.IsZero() {
			log.Warn("mail held by a sending limit", "reason", a.Reason, "until", until)
		} else {
			log.Debug("mail still held by a sending limit", "reason", a.Reason, "until", until)
		}
		if err := s.q.MarkHeld(mctx, m.ID, until, a.Reason, now); err != nil {
			return 0, fmt.Errorf("mark mail %d held: %w", m.ID, err)
		}
		return stateHeld, nil
	case Drop:
		log.Info("held mail dropped, no longer worth sending", "reason", a.Reason)
		if err := s.q.MarkDropped(mctx, m.ID, now, a.Reason); err != nil {
			return 0, fmt.Errorf("mark mail %d dropped: %w", m.ID, err)
		}
		return stateDropped, nil
	}
	return stateSent, nil
}

type result struct {
	state    state
	err      string
	rejected []string // recipients refused permanently on a mail that went to others
}

// connect dials, greets, secures and authenticates. ctx aborts it (nothing
// has been sent yet, so aborting is safe).
func (s *Sender) connect(ctx context.Context) (*smtp.Client, error) {
	if s.cfgErr != nil {
		return nil, s.cfgErr
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	tlsCfg := &tls.Config{
		ServerName:         s.cfg.Host,
		RootCAs:            s.cfg.RootCAs,
		InsecureSkipVerify: s.cfg.InsecureSkipVerify, //nolint:gosec // the admin's explicit choice
		MinVersion:         tls.VersionTLS12,
	}
	dialer := &net.Dialer{Timeout: s.cfg.Timeout}
	var conn net.Conn
	var err error
	if s.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if err := conn.SetDeadline(time.Now().Add(s.cfg.Timeout)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	// go-mail's client takes no context: cut the handshake short by
	// expiring the deadline when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("read greeting from %s: %w", addr, err)
	}
	fail := func(op string, err error) (*smtp.Client, error) {
		_ = c.Close()
		return nil, fmt.Errorf("%s at %s: %w", op, addr, err)
	}
	if err := c.Hello(s.cfg.HeloName); err != nil {
		return fail("ehlo", err)
	}
	if s.cfg.TLS == TLSStartTLS {
		// Required, not opportunistic: a server that stops offering it is
		// either misconfigured or being tampered with.
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail("starttls", errors.New("server does not offer STARTTLS"))
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fail("starttls", err)
		}
	}
	if s.cfg.Auth != nil {
		if err := s.authSASL(ctx, c); err != nil {
			return fail("auth", err)
		}
	} else if s.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return fail("auth", errors.New("server offers no AUTH"))
		}
		var a smtp.Auth
		switch fields := strings.Fields(strings.ToUpper(mechs)); {
		case contains(fields, "PLAIN"):
			a = smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host, false)
		case contains(fields, "LOGIN"):
			a = smtp.LoginAuth(s.cfg.Username, s.cfg.Password, s.cfg.Host, false)
		default:
			return fail("auth", fmt.Errorf("no supported mechanism in %q", mechs))
		}
		if err := c.Auth(a); err != nil {
			return fail("auth", err)
		}
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// command runs one SMTP command under the per-command timeout.
func (s *Sender) command(c *smtp.Client, f func() error) error {
	if err := c.UpdateDeadline(s.cfg.Timeout); err != nil {
		return err
	}
	return f()
}

// deliver runs one mail transaction. broken says the connection is no
// longer usable.
//
// Several recipients with some refused: a temporary refusal of any
// recipient aborts the transaction and retries the whole mail later (nobody
// got it yet, so nobody gets it twice); permanent refusals alone do not stop
// delivery to the accepted recipients, the mail is marked sent and the
// refused addresses are logged, because retrying would resend to the ones
// who already have it and the refusals will not change.
//
// check (the claim, see ClaimChecker) runs before MAIL FROM and before the
// end of DATA; when it fails the mail is not sent (stateLost): mid-DATA
// the connection is dropped without the final dot, so the server discards
// what it got.
func (s *Sender) deliver(c *smtp.Client, m QueuedMail, check func() error) (res result, broken bool) {
	if err := check(); err != nil {
		if errors.Is(err, ErrClaimLost) {
			return result{state: stateLost, err: err.Error()}, false
		}
		// The store could not tell: do not send what may be another's.
		return result{state: stateLost, err: "check claim: " + err.Error()}, false
	}
	from := "<>"
	if m.EnvelopeFrom != "" {
		from = "<" + m.EnvelopeFrom + ">"
	}
	if err := s.command(c, func() error { return c.Mail(from) }); err != nil {
		return smtpResult("MAIL FROM", err)
	}
	var rejected, rejectedText []string
	accepted := 0
	for _, rcpt := range m.Recipients {
		err := s.command(c, func() error { return c.Rcpt("<" + rcpt + ">") })
		if err == nil {
			accepted++
			continue
		}
		r, broken := smtpResult("RCPT TO:<"+rcpt+">", err)
		if r.state == stateRetry {
			return r, broken
		}
		rejected = append(rejected, rcpt)
		rejectedText = append(rejectedText, r.err)
	}
	if accepted == 0 {
		return result{state: stateFailed, err: strings.Join(rejectedText, "; ")}, false
	}
	var w io.WriteCloser
	if err := s.command(c, func() (err error) { w, err = c.Data(); return err }); err != nil {
		return smtpResult("DATA", err)
	}
	if _, err := w.Write(m.Raw); err != nil {
		return result{state: stateRetry, err: "write message: " + err.Error()}, true
	}
	if err := check(); err != nil {
		// Without the final dot the server never delivers it.
		return result{state: stateLost, err: "before the end of DATA: " + err.Error()}, true
	}
	// The final reply can take long (content filters): give it a fresh timeout.
	if err := s.command(c, w.Close); err != nil {
		return smtpResult("end of DATA", err)
	}
	res = result{state: stateSent}
	if len(rejected) > 0 {
		res.rejected = rejected
		res.err = strings.Join(rejectedText, "; ")
	}
	return res, false
}

// smtpResult classifies a failed command: 5xx permanent, 4xx temporary,
// anything else (network, timeout, protocol) temporary with a broken
// connection, as is 421, the server's way of closing.
func smtpResult(op string, err error) (result, bool) {
	var te *textproto.Error
	if errors.As(err, &te) {
		text := fmt.Sprintf("%s: %d %s", op, te.Code, te.Msg)
		switch {
		case te.Code >= 500:
			return result{state: stateFailed, err: text}, false
		case te.Code == 421:
			return result{state: stateRetry, err: text}, true
		case te.Code >= 400:
			return result{state: stateRetry, err: text}, false
		}
		return result{state: stateRetry, err: text}, true
	}
	return result{state: stateRetry, err: op + ": " + err.Error()}, true
}

// checkEnvelope refuses what cannot be a valid SMTP path, before anything
// is sent: such a row would fail the same way forever.
func checkEnvelope(m QueuedMail) error {
	if m.EnvelopeFrom != "" && !validPath(m.EnvelopeFrom) {
		return fmt.Errorf("invalid envelope sender %q", m.EnvelopeFrom)
	}
	if len(m.Recipients) == 0 {
		return errors.New("no recipients")
	}
	for _, r := range m.Recipients {
		if !validPath(r) {
			return fmt.Errorf("invalid recipient %q", r)
		}
	}
	if len(m.Raw) == 0 {
		return errors.New("empty message")
	}
	return nil
}

func validPath(addr string) bool {
	if addr == "" || strings.ContainsAny(addr, "\r\n\x00<> \t") {
		return false
	}
	_, err := mail.ParseAddress("<" + addr + ">")
	return err == nil
}

// mailLog is the logger for what happens to m.
func (s *Sender) mailLog(m QueuedMail) *slog.Logger {
	return s.log.With("id", m.ID, "kind", m.Kind, "dept", m.Dept, "message_id", m.MessageID,
		"recipients", len(m.Recipients), "attempts", m.Attempts+1)
}

// record stores a failed attempt's outcome and logs it (sent mail is
// recorded by the marker). Marks use a context that outlives
// ctx: a message the server accepted must be recorded as sent even while
// shutting down, or it would go out twice.
func (s *Sender) record(ctx context.Context, m QueuedMail, res result) (state, error) {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.now()
	log := s.mailLog(m)

	if res.state == stateRetry && s.maxAge > 0 && !m.CreatedAt.IsZero() && now.Sub(m.CreatedAt) >= s.maxAge {
		res = result{state: stateFailed, err: fmt.Sprintf("gave up after %s: %s", s.maxAge, res.err)}
	}
	switch res.state {
	case stateRetry:
		next := now.Add(s.backoff(m.Attempts))
		log.Warn("mail deferred", "error", res.err, "next_attempt", next)
		if err := s.q.MarkRetry(mctx, m.ID, next, res.err); err != nil {
			return stateRetry, fmt.Errorf("mark mail %d for retry: %w", m.ID, err)
		}
	case stateFailed:
		log.Error("mail failed", "error", res.err)
		if err := s.q.MarkFailed(mctx, m.ID, now, res.err); err != nil {
			return stateFailed, fmt.Errorf("mark mail %d failed: %w", m.ID, err)
		}
	}
	return res.state, nil
}
