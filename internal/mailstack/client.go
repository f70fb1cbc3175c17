package mailstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// Msg is a message as Dovecot stored it.
type Msg struct {
	UID          imap.UID
	InternalDate time.Time
	Flags        []imap.Flag
	// Raw is the whole message (BODY.PEEK[]), as delivered, with the
	// Return-Path, Delivered-To and Received headers the servers added.
	Raw []byte
}

// Header parses the message's header.
func (m Msg) Header() (mail.Header, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return nil, fmt.Errorf("parse message uid %d: %w", m.UID, err)
	}
	return msg.Header, nil
}

// Send submits raw to Postfix at SMTPAddr without TLS or AUTH. An empty
// from sends the null reverse path (MAIL FROM:<>).
func (s *Stack) Send(ctx context.Context, from, to string, raw []byte) error {
	_, err := s.SendAccepted(ctx, from, to, raw)
	return err
}

// SendAccepted is Send, and also returns when Postfix accepted the message
// (its reply to the end of DATA): the start of a delivery-time measurement.
func (s *Stack) SendAccepted(ctx context.Context, from, to string, raw []byte) (time.Time, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	conn, err := dial(ctx, s.SMTPAddr)
	if err != nil {
		return time.Time{}, fmt.Errorf("send to %s: %w", to, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	accepted, err := sendOn(c, from, to, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("send to %s: %w", to, errors.Join(err, ctx.Err()))
	}
	return accepted, nil
}

func sendOn(c *smtp.Client, from, to string, raw []byte) (time.Time, error) {
	if err := c.Hello("localhost"); err != nil {
		return time.Time{}, err
	}
	if err := c.Mail(from, nil); err != nil {
		return time.Time{}, err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return time.Time{}, err
	}
	w, err := c.Data()
	if err != nil {
		return time.Time{}, err
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return time.Time{}, err
	}
	if err := w.Close(); err != nil {
		return time.Time{}, err
	}
	accepted := time.Now()
	return accepted, c.Quit()
}

func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return conn, nil
}

// IMAPMode says how Login reaches Dovecot.
type IMAPMode int

// The ways to reach Dovecot's IMAP.
const (
	// Plain is IMAPAddr without TLS.
	Plain IMAPMode = iota
	// StartTLS is IMAPAddr upgraded with STARTTLS.
	StartTLS
	// ImplicitTLS is IMAPSAddr.
	ImplicitTLS
)

// Session is a logged-in IMAP client. Close it; it is also closed when the
// context given to Login ends, which is how its blocking calls are
// cancelled (imapclient takes no context).
type Session struct {
	*imapclient.Client
	stop func() bool
}

// Close logs out and closes the connection.
func (s *Session) Close() error {
	s.stop()
	err := s.Logout().Wait()
	return errors.Join(err, s.Client.Close())
}

// Login opens an IMAP session for user with Password. tlsConfig is used for
// StartTLS and ImplicitTLS; nil means the stack's CA (TLSConfig).
func (s *Stack) Login(ctx context.Context, user string, mode IMAPMode, tlsConfig *tls.Config) (*Session, error) {
	if tlsConfig == nil {
		tlsConfig = s.TLSConfig()
	}
	addr := s.IMAPAddr
	if mode == ImplicitTLS {
		addr = s.IMAPSAddr
	}
	conn, err := dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("imap login %s: %w", user, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*Session, error) {
		stop()
		conn.Close()
		return nil, fmt.Errorf("imap login %s: %w", user, errors.Join(err, ctx.Err()))
	}
	var c *imapclient.Client
	switch mode {
	case Plain:
		c = imapclient.New(conn, nil)
	case StartTLS:
		c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: tlsConfig})
	case ImplicitTLS:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		c = imapclient.New(tc, nil)
	default:
		return fail(fmt.Errorf("unknown mode %d", mode))
	}
	if err != nil {
		return fail(err)
	}
	if err := c.Login(user, Password).Wait(); err != nil {
		c.Close()
		return fail(err)
	}
	return &Session{Client: c, stop: stop}, nil
}

// Mailbox returns every message in user's mailbox, oldest first, without
// setting \Seen.
func (s *Stack) Mailbox(ctx context.Context, user, mailbox string) ([]Msg, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	sess, err := s.Login(ctx, user, Plain, nil)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	return fetchAll(ctx, sess, mailbox)
}

func fetchAll(ctx context.Context, sess *Session, mailbox string) ([]Msg, error) {
	sel, err := sess.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("examine %s: %w", mailbox, errors.Join(err, ctx.Err()))
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := sess.Fetch(allMessages(), &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		BodySection:  []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", mailbox, errors.Join(err, ctx.Err()))
	}
	msgs := make([]Msg, 0, len(bufs))
	for _, b := range bufs {
		msgs = append(msgs, Msg{
			UID:          b.UID,
			InternalDate: b.InternalDate,
			Flags:        b.Flags,
			Raw:          b.FindBodySection(section),
		})
	}
	return msgs, nil
}

// pollInterval is how often WaitForMessages asks Dovecot; delivery takes
// tens of milliseconds, so this is also the resolution of the measurement.
const pollInterval = 10 * time.Millisecond

// WaitForMessages waits until user's mailbox holds at least n messages and
// returns them all. It gives up when ctx ends (after 30 s if ctx has no
// deadline), saying how many it saw.
func (s *Stack) WaitForMessages(ctx context.Context, user, mailbox string, n int) ([]Msg, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	sess, err := s.Login(ctx, user, Plain, nil)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	seen := -1
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		st, err := sess.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		switch {
		case err != nil && !isNonexistent(err):
			return nil, fmt.Errorf("wait for %d messages in %s of %s: %w", n, mailbox, user, errors.Join(err, ctx.Err()))
		case err == nil && st.NumMessages != nil:
			seen = int(*st.NumMessages)
		}
		if seen >= n {
			return fetchAll(ctx, sess, mailbox)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %d messages in %s of %s: saw %d: %w", n, mailbox, user, max(seen, 0), ctx.Err())
		case <-tick.C:
		}
	}
}

// isNonexistent reports an IMAP NO [NONEXISTENT]: a mailbox that will exist
// once something is delivered to it.
func isNonexistent(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeNonExistent
}

// Append stores raw in user's mailbox as a client would (staff saving a
// reply to Sent, for instance).
func (s *Stack) Append(ctx context.Context, user, mailbox string, raw []byte) error {
	return s.AppendAt(ctx, user, mailbox, raw, time.Time{})
}

// AppendAt is Append with the message's INTERNALDATE set to date (zero:
// the server's now), as when old mail is moved into a mailbox.
func (s *Stack) AppendAt(ctx context.Context, user, mailbox string, raw []byte, date time.Time) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	sess, err := s.Login(ctx, user, Plain, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	var opts *imap.AppendOptions
	if !date.IsZero() {
		opts = &imap.AppendOptions{Time: date}
	}
	cmd := sess.Client.Append(mailbox, int64(len(raw)), opts)
	_, werr := cmd.Write(raw)
	cerr := cmd.Close()
	if _, err := cmd.Wait(); err != nil || werr != nil || cerr != nil {
		return fmt.Errorf("append to %s of %s: %w", mailbox, user, errors.Join(err, werr, cerr, ctx.Err()))
	}
	return nil
}

// UIDValidity returns the UIDVALIDITY of user's mailbox.
func (s *Stack) UIDValidity(ctx context.Context, user, mailbox string) (uint32, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	sess, err := s.Login(ctx, user, Plain, nil)
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	return uidValidity(ctx, sess, mailbox)
}

func uidValidity(ctx context.Context, sess *Session, mailbox string) (uint32, error) {
	st, err := sess.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("status %s: %w", mailbox, errors.Join(err, ctx.Err()))
	}
	return st.UIDValidity, nil
}

// RecreateMailbox empties user's mailbox and gives it a new UIDVALIDITY, as
// a server restore or a mailbox rebuild would: clients must forget its UIDs.
// Other mailboxes are deleted and created again; INBOX cannot be deleted
// (RFC 9051 §6.3.4), so it is emptied and its UIDVALIDITY raised with
// doveadm.
func (s *Stack) RecreateMailbox(ctx context.Context, user, mailbox string) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	sess, err := s.Login(ctx, user, Plain, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	old, err := uidValidity(ctx, sess, mailbox)
	if err != nil {
		return fmt.Errorf("recreate %s of %s: %w", mailbox, user, err)
	}
	if !strings.EqualFold(mailbox, "INBOX") {
		if err := sess.Delete(mailbox).Wait(); err != nil {
			return fmt.Errorf("recreate %s of %s: delete: %w", mailbox, user, errors.Join(err, ctx.Err()))
		}
		err := sess.Create(mailbox, nil).Wait()
		var ie *imap.Error
		// Dovecot may already have made an auto = create/subscribe mailbox (Sent) again.
		if err != nil && !(errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists) {
			return fmt.Errorf("recreate %s of %s: create: %w", mailbox, user, errors.Join(err, ctx.Err()))
		}
	} else {
		if err := emptyMailbox(ctx, sess, mailbox); err != nil {
			return fmt.Errorf("recreate %s of %s: %w", mailbox, user, err)
		}
		next := max(old+1, uint32(time.Now().Unix()))
		if _, err := s.run(ctx, "doveadm", "mailbox", "update", "-u", user,
			"--uid-validity", strconv.FormatUint(uint64(next), 10), mailbox); err != nil {
			return fmt.Errorf("recreate %s of %s: %w", mailbox, user, err)
		}
	}
	now, err := uidValidity(ctx, sess, mailbox)
	if err != nil {
		return fmt.Errorf("recreate %s of %s: %w", mailbox, user, err)
	}
	if now == old {
		return fmt.Errorf("recreate %s of %s: UIDVALIDITY stayed %d", mailbox, user, old)
	}
	return nil
}

func emptyMailbox(ctx context.Context, sess *Session, mailbox string) error {
	sel, err := sess.Select(mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("select: %w", errors.Join(err, ctx.Err()))
	}
	if sel.NumMessages > 0 {
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := sess.Store(allMessages(), store, nil).Close(); err != nil {
			return fmt.Errorf("flag deleted: %w", errors.Join(err, ctx.Err()))
		}
		if err := sess.Expunge().Close(); err != nil {
			return fmt.Errorf("expunge: %w", errors.Join(err, ctx.Err()))
		}
	}
	if err := sess.Unselect().Wait(); err != nil {
		return fmt.Errorf("unselect: %w", errors.Join(err, ctx.Err()))
	}
	return nil
}

// allMessages is 1:*.
func allMessages() imap.SeqSet { return imap.SeqSet{{Start: 1, Stop: 0}} }
