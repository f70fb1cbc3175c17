package mailwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ackd/ackd/mailwatch/outbox"
)

// Sent-folder copies (imap.append_sent). After SMTP accepted a mail to a
// requester, a copy is APPENDed, flagged \Seen, to the department's Sent
// mailbox so staff see what ackd sent. This is best effort by design: the
// copy is handed to a per-department goroutine only after the outbox row is
// marked sent, it is retried a few times, and a failure is logged, never
// returned, so a copy can neither block nor fail nor repeat a receipt. The
// copies wait in memory: a crash (or a shutdown that outlasts
// copyDrainTimeout) may lose a copy, never the receipt.
//
// Copies carry the receipt's X-Ackd-Loop header, which is how ackd must
// recognise its own mail in the Sent folder and never count it as a staff
// answer.

// copiedKind says which outbox mail is copied: what goes to requesters.
// Escalations and digests go to staff, who have them in their inbox.
func copiedKind(kind string) bool { return kind != "escalation" && kind != "digest" }

const (
	copyQueueLen     = 256              // copies waiting per department before new ones are dropped
	copyAttempts     = 4                // tries per copy
	copyDrainTimeout = 3 * time.Second  // how long shutdown waits for queued copies
	copyIdleClose    = 2 * time.Minute  // an unused session is closed before the server times it out
	copyOpTimeout    = 30 * time.Second // one connect-login-append round
)

// sentCopies wraps the outbox queue and owns one appender per department
// that has append_sent.
type sentCopies struct {
	appenders map[string]*sentAppender
	log       *slog.Logger

	mu      sync.Mutex
	pending map[int64]pendingCopy // rows handed to the sender, not yet marked
	stopped bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type pendingCopy struct {
	dept string
	raw  []byte
}

func newSentCopies(log *slog.Logger) *sentCopies {
	return &sentCopies{appenders: map[string]*sentAppender{}, pending: map[int64]pendingCopy{}, log: log}
}

// add makes dept's receipts be copied to mailbox, reached as mb says.
func (s *sentCopies) add(dept string, mb MailboxConfig, mailbox string) {
	mb.Mailbox = mailbox
	mb.DialTimeout = 10 * time.Second
	s.appenders[dept] = &sentAppender{
		mb:      mb,
		in:      make(chan []byte, copyQueueLen),
		log:     s.log.With("dept", dept, "mailbox", mailbox),
		backoff: Backoff{Min: time.Second, Max: 10 * time.Second},
	}
}

// wrap returns a queue that notices when a copied kind of mail of a
// department added to s was sent.
func (s *sentCopies) wrap(q outbox.Queue) outbox.Queue {
	return &copyingQueue{Queue: q, s: s}
}

// start runs the appenders; the returned stop must be called once the
// sender has returned: it lets queued copies go out for at most
// copyDrainTimeout, then abandons the rest.
func (s *sentCopies) start(ctx context.Context) (stop func()) {
	if len(s.appenders) == 0 {
		return func() {}
	}
	// The copies outlive ctx for the drain; stop cancels them.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, a := range s.appenders {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			a.run(cctx)
		}()
	}
	return func() {
		s.mu.Lock()
		if !s.stopped {
			s.stopped = true
			for _, a := range s.appenders {
				close(a.in)
			}
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			s.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(copyDrainTimeout):
			cancel()
			// A dial in progress does not see the cancellation; do not
			// hold up the shutdown for it.
			select {
			case <-done:
			case <-time.After(time.Second):
				s.log.Warn("abandoning Sent copies still in progress")
			}
		}
		cancel()
	}
}

// sent hands the copy of outbox row id, if one is pending, to its appender
// without waiting.
func (s *sentCopies) sent(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[id]
	delete(s.pending, id)
	if !ok || s.stopped {
		return
	}
	a := s.appenders[p.dept]
	select {
	case a.in <- p.raw:
	default:
		a.log.Warn("Sent copy dropped: too many copies waiting", "queued", len(a.in))
	}
}

func (s *sentCopies) forget(id int64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// copyingQueue remembers the raw bytes of the rows it hands out, so that
// MarkSent, which gets only the id, can copy them.
type copyingQueue struct {
	outbox.Queue
	s *sentCopies
}

func (q *copyingQueue) DueMail(ctx context.Context, now time.Time, limit int) ([]outbox.QueuedMail, error) {
	rows, err := q.Queue.DueMail(ctx, now, limit)
	if err != nil {
		return rows, err
	}
	q.s.mu.Lock()
	for _, r := range rows {
		if _, ok := q.s.appenders[r.Dept]; ok && copiedKind(r.Kind) {
			q.s.pending[r.ID] = pendingCopy{dept: r.Dept, raw: r.Raw}
		}
	}
	q.s.mu.Unlock()
	return rows, nil
}

// CheckClaim passes the claim check through (outbox.ClaimChecker).
func (q *copyingQueue) CheckClaim(ctx context.Context, id int64) error {
	if c, ok := q.Queue.(outbox.ClaimChecker); ok {
		return c.CheckClaim(ctx, id)
	}
	return nil
}

func (q *copyingQueue) MarkSent(ctx context.Context, id int64, at time.Time) error {
	err := q.Queue.MarkSent(ctx, id, at)
	// SMTP accepted the mail whether or not the store recorded it, so the
	// copy is made either way.
	q.s.sent(id)
	return err
}

// MarkSentGroup passes the group through and copies every mail in it,
// recorded or not, as MarkSent does.
func (q *copyingQueue) MarkSentGroup(ctx context.Context, marks []outbox.SentMark) ([]error, error) {
	errs, err := outbox.MarkSentGroup(ctx, q.Queue, marks)
	for _, m := range marks {
		q.s.sent(m.ID)
	}
	return errs, err
}

func (q *copyingQueue) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	q.s.forget(id) // DueMail hands the row out again when it is due
	return q.Queue.MarkRetry(ctx, id, next, lastErr)
}

func (q *copyingQueue) MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error {
	q.s.forget(id)
	return q.Queue.MarkFailed(ctx, id, at, lastErr)
}

func (q *copyingQueue) MarkHeld(ctx context.Context, id int64, next time.Time, reason string, at time.Time) error {
	q.s.forget(id) // DueMail hands the row out again when the window allows
	return q.Queue.MarkHeld(ctx, id, next, reason, at)
}

func (q *copyingQueue) MarkDropped(ctx context.Context, id int64, at time.Time, reason string) error {
	q.s.forget(id)
	return q.Queue.MarkDropped(ctx, id, at, reason)
}

// sentAppender keeps one IMAP session to a department's account and
// APPENDs the copies it is given, in order.
type sentAppender struct {
	mb      MailboxConfig // Mailbox is the Sent mailbox
	in      chan []byte
	log     *slog.Logger
	backoff Backoff

	c *imapclient.Client
}

func (a *sentAppender) run(ctx context.Context) {
	defer a.close()
	idle := time.NewTimer(copyIdleClose)
	defer idle.Stop()
	for {
		select {
		case raw, ok := <-a.in:
			if !ok {
				return
			}
			a.copy(ctx, raw)
			idle.Reset(copyIdleClose)
		case <-idle.C:
			a.close()
		}
	}
}

// copy tries a few times with backoff, reconnecting after any error.
func (a *sentAppender) copy(ctx context.Context, raw []byte) {
	a.backoff.Reset()
	var err error
	for attempt := 1; attempt <= copyAttempts; attempt++ {
		if err = a.appendOnce(ctx, raw); err == nil {
			a.log.Debug("copied to Sent", "bytes", len(raw))
			return
		}
		a.close()
		if attempt == copyAttempts || ctx.Err() != nil {
			break
		}
		wait := a.backoff.Next()
		a.log.Warn("Sent copy failed; retrying", "err", err, "attempt", attempt, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	a.log.Error("Sent copy lost (the mail itself was sent)", "err", errors.Join(err, ctx.Err()))
}

func (a *sentAppender) appendOnce(ctx context.Context, raw []byte) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// imapclient takes no context: closing the connection cancels it.
	opCtx, cancel := context.WithTimeout(ctx, copyOpTimeout)
	defer cancel()
	if a.c == nil {
		c, err := a.connect(opCtx)
		if err != nil {
			return err
		}
		a.c = c
	}
	c := a.c
	stop := context.AfterFunc(opCtx, func() { c.Close() })
	defer stop()
	err := a.append(raw)
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate {
		if cerr := a.c.Create(a.mb.Mailbox, nil).Wait(); cerr != nil {
			return fmt.Errorf("create %s: %w", a.mb.Mailbox, cerr)
		}
		err = a.append(raw)
	}
	return errors.Join(err, opCtx.Err())
}

func (a *sentAppender) append(raw []byte) error {
	cmd := a.c.Append(a.mb.Mailbox, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	_, werr := io.Copy(cmd, bytes.NewReader(raw))
	cerr := cmd.Close()
	_, err := cmd.Wait()
	if err != nil || werr != nil || cerr != nil {
		return fmt.Errorf("append to %s: %w", a.mb.Mailbox, errors.Join(err, werr, cerr))
	}
	return nil
}

// connect dials and logs in the way the mailbox watcher does.
func (a *sentAppender) connect(ctx context.Context) (*imapclient.Client, error) {
	w := NewWatcher(a.mb, nil, nil, a.log)
	c, err := w.dial(&imapclient.Options{TLSConfig: w.tlsConfig(), Dialer: &net.Dialer{Timeout: w.cfg.DialTimeout}})
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if caps := c.Caps(); caps.Has(imap.CapLoginDisabled) {
		c.Close()
		return nil, loginDisabled(a.mb.TLS, caps)
	}
	if err := c.Login(a.mb.Username, a.mb.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login as %q: %w", a.mb.Username, errors.Join(err, ctx.Err()))
	}
	return c, nil
}

func (a *sentAppender) close() {
	if a.c != nil {
		a.c.Close()
		a.c = nil
	}
}
