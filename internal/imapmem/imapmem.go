// Package imapmem runs go-imap's in-memory IMAP server on loopback, for
// fast tests and for `ackd demo`.
package imapmem

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Server is a running in-memory IMAP server. Connections are plain text
// (tls: none), which ackd allows for loopback only.
type Server struct {
	mem     *imapmemserver.Server
	srv     *imapserver.Server
	ln      net.Listener
	mu      sync.Mutex
	users   map[string]*imapmemserver.User
	pass    map[string]string
	boxes   map[string][]string // mailboxes AddUser made, for special-use LIST
	special map[string][]imap.MailboxAttr
	closed  chan struct{}
	tls     bool
	munge   bool
	conns   map[*imapserver.Conn]struct{} // open sessions, for Bye
}

// Options tune the server.
type Options struct {
	// NoIdle advertises IMAP4rev1 only, without IDLE, to test polling.
	NoIdle bool
	// Debug receives the raw protocol.
	Debug io.Writer
	// SpecialUse marks mailboxes, by name, with RFC 6154 attributes (\Sent…)
	// on every LIST, and makes the server advertise SPECIAL-USE: go-imap's
	// memory server keeps no special-use of its own.
	SpecialUse map[string][]imap.MailboxAttr
	// InIdle, when set, is called in every IDLE right after the server
	// reported what changed before it, before it waits for more: mail a
	// test appends there lands exactly in the window where an IDLE that
	// flushes first and listens second would lose its wake-up.
	InIdle func()
	// NoPush makes IDLE silent: changes are reported at the next command
	// only, as by Cyrus IMAP without its idled daemon.
	NoPush bool
	// StartTLS, when set, offers STARTTLS with this configuration and
	// refuses LOGIN before it, advertising LOGINDISABLED, as Cyrus does
	// with its upstream default allowplaintext: no.
	StartTLS *tls.Config
	// Munge8Bit replaces each raw 8-bit byte in the header of delivered
	// mail with "X", as Cyrus IMAP does (munge8bit: yes).
	Munge8Bit bool
}

// Start listens on 127.0.0.1 on a free port.
func Start(opts Options) (*Server, error) {
	s := &Server{
		mem:     imapmemserver.New(),
		users:   map[string]*imapmemserver.User{},
		pass:    map[string]string{},
		boxes:   map[string][]string{},
		special: opts.SpecialUse,
		closed:  make(chan struct{}),
		tls:     opts.StartTLS != nil,
		munge:   opts.Munge8Bit,
		conns:   map[*imapserver.Conn]struct{}{},
	}
	caps := imap.CapSet{imap.CapIMAP4rev1: {}}
	if !opts.NoIdle {
		caps[imap.CapIMAP4rev2] = struct{}{}
		caps[imap.CapIdle] = struct{}{}
	}
	if len(opts.SpecialUse) > 0 {
		caps[imap.CapSpecialUse] = struct{}{}
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			// go-imap's memory session implements IMAP4rev2; the server
			// refuses a session that does not when it advertises it.
			sess, ok := s.mem.NewSession().(imapserver.SessionIMAP4rev2)
			if !ok {
				return nil, nil, fmt.Errorf("imapmem: memory session lacks IMAP4rev2")
			}
			s.mu.Lock()
			s.conns[conn] = struct{}{}
			s.mu.Unlock()
			idle := idleFlush{SessionIMAP4rev2: sess, inIdle: opts.InIdle, noPush: opts.NoPush, onClose: func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}}
			if len(s.special) > 0 {
				return &specialUse{idleFlush: idle, srv: s}, nil, nil
			}
			return idle, nil, nil
		},
		InsecureAuth: opts.StartTLS == nil,
		TLSConfig:    opts.StartTLS,
		Caps:         caps,
		Logger:       log.New(io.Discard, "", 0),
		DebugWriter:  opts.Debug,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for imap: %w", err)
	}
	s.ln = ln
	go func() {
		defer close(s.closed)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and drops every connection.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.closed
	return err
}

// Bye ends every open session with an untagged BYE carrying text, the
// way a server that shuts down does, and closes its connection.
func (s *Server) Bye(text string) {
	s.mu.Lock()
	conns := make([]*imapserver.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Bye(text)
	}
}

// AddUser creates a user with the given mailboxes (INBOX is always made).
func (s *Server) AddUser(username, password string, mailboxes ...string) error {
	u := imapmemserver.NewUser(username, password)
	for _, mb := range append([]string{"INBOX"}, mailboxes...) {
		if err := u.Create(mb, nil); err != nil {
			return fmt.Errorf("create mailbox %s for %s: %w", mb, username, err)
		}
	}
	s.mem.AddUser(u)
	s.mu.Lock()
	s.users[username], s.pass[username] = u, password
	s.boxes[username] = append([]string{"INBOX"}, mailboxes...)
	s.mu.Unlock()
	return nil
}

// Append delivers raw into a user's mailbox, as an MTA would, with the
// given INTERNALDATE (zero: now). It goes through a real IMAP session so
// watchers see it exactly as they would see new mail.
func (s *Server) Append(username, mailbox string, raw []byte, date time.Time) (uint32, error) {
	c, err := s.Login(username)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if s.munge {
		raw = munge8Bit(raw)
	}
	var opts *imap.AppendOptions
	if !date.IsZero() {
		opts = &imap.AppendOptions{Time: date}
	}
	cmd := c.Append(mailbox, int64(len(raw)), opts)
	if _, err := io.Copy(cmd, bytes.NewReader(raw)); err != nil {
		return 0, fmt.Errorf("append to %s: %w", mailbox, err)
	}
	if err := cmd.Close(); err != nil {
		return 0, fmt.Errorf("append to %s: %w", mailbox, err)
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", mailbox, err)
	}
	return uint32(data.UID), nil
}

// RecreateMailbox deletes and creates a mailbox, which gives it a new
// UIDVALIDITY and renumbers its messages from 1 — what a server restore does.
func (s *Server) RecreateMailbox(username, mailbox string) error {
	c, err := s.Login(username)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Delete(mailbox).Wait(); err != nil {
		return fmt.Errorf("delete %s: %w", mailbox, err)
	}
	if err := c.Create(mailbox, nil).Wait(); err != nil {
		return fmt.Errorf("create %s: %w", mailbox, err)
	}
	return nil
}

// Login opens a client session as username; the caller closes it.
func (s *Server) Login(username string) (*imapclient.Client, error) {
	s.mu.Lock()
	pw, ok := s.pass[username]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("imapmem: no user %q", username)
	}
	var c *imapclient.Client
	var err error
	if s.tls {
		// A test's own session: the throwaway certificate needs no check.
		c, err = imapclient.DialStartTLS(s.Addr(), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	} else {
		c, err = imapclient.DialInsecure(s.Addr(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("dial imapmem: %w", err)
	}
	if err := c.Login(username, pw).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", username, err)
	}
	return c, nil
}

// idleFlush makes IDLE report what changed since the last command, as
// Dovecot does, and keeps reporting until it ends. go-imap's server only
// reports changes signalled after its tracker began listening, inside
// Idle: flushing first and then calling it left a window in which a
// message appended was reported only at the client's next command, up to
// a poll interval later (docs/reliability.md, "A lost IDLE wake-up"). So
// IDLE here polls the session's queue instead of waiting for a signal:
// nothing queued can be missed, and a change is reported within
// idlePollEvery.
type idleFlush struct {
	imapserver.SessionIMAP4rev2
	inIdle  func()
	noPush  bool
	onClose func()
}

func (s idleFlush) Close() error {
	s.onClose()
	return s.SessionIMAP4rev2.Close()
}

// idlePollEvery is how often an idle session looks for changes.
const idlePollEvery = 10 * time.Millisecond

func (s idleFlush) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if err := s.SessionIMAP4rev2.Poll(w, true); err != nil {
		return err
	}
	if s.inIdle != nil {
		s.inIdle()
	}
	if s.noPush {
		<-stop
		return nil
	}
	t := time.NewTicker(idlePollEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
		if err := s.SessionIMAP4rev2.Poll(w, true); err != nil {
			return err
		}
	}
}

// specialUse answers LIST itself, for the mailboxes AddUser made, adding
// Options.SpecialUse attributes as a server with SPECIAL-USE would.
type specialUse struct {
	idleFlush
	srv  *Server
	user string
}

func (s *specialUse) Login(username, password string) error {
	if err := s.idleFlush.Login(username, password); err != nil {
		return err
	}
	s.user = username
	return nil
}

func (s *specialUse) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		return s.idleFlush.List(w, ref, patterns, options)
	}
	s.srv.mu.Lock()
	names := append([]string(nil), s.srv.boxes[s.user]...)
	s.srv.mu.Unlock()
	for _, name := range names {
		if !slices.ContainsFunc(patterns, func(p string) bool { return imapserver.MatchList(name, '/', ref, p) }) {
			continue
		}
		attrs := s.srv.special[name]
		if options != nil && options.SelectSpecialUse && len(attrs) == 0 {
			continue
		}
		if err := w.WriteList(&imap.ListData{Mailbox: name, Delim: '/', Attrs: attrs}); err != nil {
			return err
		}
	}
	return nil
}

// munge8Bit returns raw with every 8-bit byte of its header made "X".
func munge8Bit(raw []byte) []byte {
	out := bytes.Clone(raw)
	end := bytes.Index(out, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(out)
	}
	for i := range out[:end] {
		if out[i] >= 0x80 {
			out[i] = 'X'
		}
	}
	return out
}
