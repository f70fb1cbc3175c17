// Package smtpsink is an in-process SMTP server for tests and the demo. It
// listens on 127.0.0.1 only, records every accepted message, and can be told
// to reject MAIL, RCPT or DATA (for a number of times or always) so that
// callers can exercise their retry paths against a real SMTP dialogue.
//
// It is built on go-smtp's server, the same one its own tests use, so the
// protocol handling (pipelining, dot-stuffing, STARTTLS, AUTH) is the real
// thing and the sink only supplies a recording Backend.
package smtpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message the sink accepted.
type Received struct {
	// From is the reverse-path without angle brackets. The empty string means
	// the null reverse-path: go-smtp yields "" only for "MAIL FROM:<>" and
	// rejects an empty path written any other way.
	From string
	// To holds the accepted recipients in RCPT order, without brackets.
	To []string
	// Data is the message exactly as transmitted, dot-unstuffed, CRLF line ends.
	Data []byte
	// At is when the final "." was received (wall clock).
	At time.Time
	// Conn numbers the TCP connection the message came over, from 1, so tests
	// can tell whether a batch shared one connection.
	Conn int
	// Helo is the name the client gave in EHLO/HELO.
	Helo string
	// TLS is true when the message travelled over TLS (implicit or STARTTLS).
	TLS bool
	// User is the authenticated user name, "" without AUTH.
	User string
}

// Stage names the SMTP command a Fault applies to.
type Stage string

// The stages at which a Fault can reject.
const (
	StageMail Stage = "MAIL"
	StageRcpt Stage = "RCPT"
	StageData Stage = "DATA"
)

// Fault makes the sink misbehave at one stage of the transaction.
type Fault struct {
	Stage Stage
	// Code is the reply code to reject with (4xx or 5xx). Zero means do not
	// reject: only Delay applies.
	Code int
	// Text is the human-readable reply text.
	Text string
	// Rcpt limits a StageRcpt fault to this recipient (case-insensitive);
	// empty matches any recipient.
	Rcpt string
	// Times is how many commands the fault applies to before it disarms;
	// zero means always.
	Times int
	// Delay is how long to wait before answering. It is cut short when the
	// server closes.
	Delay time.Duration
}

// Option configures Start.
type Option func(*config)

type config struct {
	tlsConfig   *tls.Config
	implicitTLS bool
	user, pass  string
	mechs       []string
	faults      []Fault
	onMessage   func(Received)
	transcript  io.Writer
	domain      string
}

// WithSTARTTLS offers STARTTLS with the given certificate configuration.
func WithSTARTTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tlsConfig, c.implicitTLS = cfg, false }
}

// WithImplicitTLS makes the listener speak TLS from the first byte
// (submissions over port 465 style).
func WithImplicitTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tlsConfig, c.implicitTLS = cfg, true }
}

// WithAuth requires AUTH with this user and password before MAIL. PLAIN and
// LOGIN are offered unless WithAuthMechanisms narrows them.
func WithAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithAuthMechanisms sets which SASL mechanisms are advertised ("PLAIN",
// "LOGIN"); it only matters together with WithAuth.
func WithAuthMechanisms(mechs ...string) Option {
	return func(c *config) { c.mechs = mechs }
}

// WithFault arms a fault from the start; see also (*Server).Inject.
func WithFault(f Fault) Option {
	return func(c *config) { c.faults = append(c.faults, f) }
}

// WithOnMessage calls fn synchronously for every accepted message, before
// the client gets its 250 reply. fn must not block for long.
func WithOnMessage(fn func(Received)) Option {
	return func(c *config) { c.onMessage = fn }
}

// WithTranscript copies the SMTP dialogue (both directions, after any TLS
// decryption) to w. Writes are serialised, but lines from concurrent
// connections may interleave.
func WithTranscript(w io.Writer) Option {
	return func(c *config) { c.transcript = &lockedWriter{w: w} }
}

// WithDomain sets the name the server greets with (default "sink.test").
func WithDomain(d string) Option {
	return func(c *config) { c.domain = d }
}

// Server is a running sink. Its methods are safe for concurrent use.
type Server struct {
	cfg  config
	srv  *smtp.Server
	ln   net.Listener
	addr *net.TCPAddr

	done      chan struct{}
	closeOnce sync.Once
	served    chan struct{}

	mu       sync.Mutex
	msgs     []Received
	faults   []*Fault
	changed  chan struct{} // closed and replaced whenever msgs grows
	conns    int
	open     map[*numberedConn]struct{} // accepted and not yet closed
	closed   bool
	sessions sync.WaitGroup // guarded by mu for Add, so Close's Wait is safe
}

// Start listens on 127.0.0.1 on a free port and serves until Close is
// called or ctx is done.
func Start(ctx context.Context, opts ...Option) (*Server, error) {
	cfg := config{domain: "sink.test", mechs: []string{sasl.Plain, sasl.Login}}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.implicitTLS && cfg.tlsConfig == nil {
		return nil, errors.New("start smtp sink: implicit TLS needs a TLS config")
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start smtp sink: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		addr:    ln.Addr().(*net.TCPAddr),
		done:    make(chan struct{}),
		served:  make(chan struct{}),
		changed: make(chan struct{}),
	}
	for _, f := range cfg.faults {
		s.Inject(f)
	}
	var l net.Listener = &countingListener{Listener: ln, s: s}
	if cfg.implicitTLS {
		l = tls.NewListener(l, cfg.tlsConfig)
	}
	s.ln = l

	srv := smtp.NewServer(backend{s: s})
	srv.Domain = cfg.domain
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 32 << 20
	srv.MaxRecipients = 100
	// Loopback only, so clear-text AUTH is no risk and lets tests cover AUTH
	// without TLS; real servers must not do this.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = discardLogger{}
	if !cfg.implicitTLS {
		srv.TLSConfig = cfg.tlsConfig
	}
	if cfg.transcript != nil {
		srv.Debug = cfg.transcript
	}
	s.srv = srv

	go func() {
		defer close(s.served)
		_ = srv.Serve(l)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr.String() }

// Host is the address the sink listens on, "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port is the TCP port the sink listens on.
func (s *Server) Port() int { return s.addr.Port }

// Messages returns a copy of every message accepted so far, in order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Connections is the number of TCP connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// WaitFor blocks until at least n messages were accepted and returns the
// first n, or returns ctx's error (with what arrived so far) when ctx ends
// first, or an error when the server is closed first.
func (s *Server) WaitFor(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := slices.Clone(s.msgs[:n])
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		have := slices.Clone(s.msgs)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return have, fmt.Errorf("wait for %d messages (have %d): %w", n, len(have), ctx.Err())
		case <-s.done:
			return have, fmt.Errorf("wait for %d messages (have %d): sink closed", n, len(have))
		}
	}
}

// Inject arms a fault. Faults are checked in the order they were armed; the
// first live one matching the stage (and recipient) applies.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults disarms every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Close stops the listener, drops open connections and waits for the
// sessions to end. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		_ = s.srv.Close()
		// Serve may not have registered the listener yet when Close races
		// with Start; closing it here ends Serve either way.
		_ = s.ln.Close()
		<-s.served
	})
	s.sessions.Wait()
}

// fault finds and consumes the fault that applies, if any.
func (s *Server) fault(stage Stage, rcpt string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Stage != stage {
			continue
		}
		if stage == StageRcpt && f.Rcpt != "" && !strings.EqualFold(f.Rcpt, rcpt) {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

// apply waits out the fault's delay and turns it into the reply error.
func (s *Server) apply(f *Fault) error {
	if f == nil {
		return nil
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "sink closing"}
		}
	}
	if f.Code == 0 {
		return nil
	}
	text := f.Text
	if text == "" {
		text = "injected failure"
	}
	return &smtp.SMTPError{Code: f.Code, EnhancedCode: smtp.EnhancedCode{f.Code / 100, 0, 0}, Message: text}
}

func (s *Server) record(r Received) {
	s.mu.Lock()
	s.msgs = append(s.msgs, r)
	close(s.changed)
	s.changed = make(chan struct{})
	hook := s.cfg.onMessage
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.conns++
	nc := &numberedConn{Conn: c, n: l.s.conns, s: l.s}
	if l.s.open == nil {
		l.s.open = map[*numberedConn]struct{}{}
	}
	l.s.open[nc] = struct{}{}
	l.s.mu.Unlock()
	return nc, nil
}

type numberedConn struct {
	net.Conn
	n int
	s *Server
}

func (c *numberedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.open, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// OpenConnections is the number of accepted connections not yet closed.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// DropConnections closes every open connection, as a server does that
// restarts or times idle clients out; the listener stays up. A non-empty
// reply, like "421 4.4.2 idle too long", is written raw first (on a
// connection that did STARTTLS the client then sees garbage, not a reply);
// empty closes without a word.
func (s *Server) DropConnections(reply string) {
	s.mu.Lock()
	conns := make([]*numberedConn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		if reply != "" {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte(reply + "\r\n"))
		}
		_ = c.Close()
	}
}

func connNumber(c net.Conn) int {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if nc, ok := c.(*numberedConn); ok {
		return nc.n
	}
	return 0
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	if b.s.closed {
		b.s.mu.Unlock()
		return nil, errors.New("sink closing")
	}
	b.s.sessions.Add(1)
	b.s.mu.Unlock()
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: connNumber(c.Conn()), helo: c.Hostname(), tls: isTLS}, nil
}

type session struct {
	s      *Server
	conn   int
	helo   string
	tls    bool
	user   string
	from   string
	to     []string
	logout sync.Once
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.user == "" {
		return nil
	}
	return ss.s.cfg.mechs
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.cfg.user == "" || !slices.Contains(ss.s.cfg.mechs, mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	check := func(user, pass string) error {
		if user != ss.s.cfg.user || pass != ss.s.cfg.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error {
	// go-smtp may call Logout from both the STARTTLS path and Close.
	ss.logout.Do(ss.s.sessions.Done)
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if err := ss.s.apply(ss.s.fault(StageMail, "")); err != nil {
		return err
	}
	ss.Reset()
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.s.apply(ss.s.fault(StageRcpt, to)); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	// Read first so a DATA fault still sees (and discards) the whole message,
	// as a real server rejecting at end of data would.
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.s.apply(ss.s.fault(StageData, "")); err != nil {
		return err
	}
	ss.s.record(Received{
		From: ss.from,
		To:   slices.Clone(ss.to),
		Data: data,
		At:   time.Now(),
		Conn: ss.conn,
		Helo: ss.helo,
		TLS:  ss.tls,
		User: ss.user,
	})
	return nil
}

// loginServer is the server side of the obsolete but still common LOGIN
// mechanism, which go-sasl only implements as a client.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // initial response carries the user name
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.step++
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, errors.New("unexpected LOGIN response")
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
