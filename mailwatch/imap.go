package mailwatch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// MailboxConfig says how to reach one IMAP mailbox.
type MailboxConfig struct {
	Addr     string // host:port
	TLS      string // implicit, starttls, none
	Username string
	Password string
	// TLSConfig carries the CA pool and verification settings; ServerName is
	// filled from Addr when empty.
	TLSConfig *tls.Config
	Mailbox   string
	// DiscoverSent, when Mailbox is empty, watches the mailbox the server
	// marks \Sent (RFC 6154 SPECIAL-USE, e.g. Gmail's "[Gmail]/Sent Mail"),
	// looked up by LIST at the start of every session. A server that marks
	// none leaves the watcher idle (ErrNoSentMailbox) until ctx ends.
	DiscoverSent bool
	// IDLE uses the IDLE extension when the server offers it; otherwise the
	// mailbox is polled every PollInterval.
	IDLE         bool
	PollInterval time.Duration
	// BatchSize is how many messages one FETCH asks for (default 50).
	BatchSize int
	// BatchBytes caps the bodies one FETCH holds in memory, by the
	// RFC822.SIZE the server reported (default DefaultBatchBytes); a
	// message larger than the cap is fetched alone.
	BatchBytes int64
	// GroupCommit is how long a fetch group's transaction runs at most
	// before it commits the messages handled so far, with the checkpoint
	// after them, and goes on in a new one (default DefaultGroupCommit):
	// nothing of an open transaction can be sent, so during a backlog the
	// sender would otherwise wait for whole groups.
	GroupCommit time.Duration
	// ParkAttempts and ParkAfter: a message whose handler keeps failing
	// with a transient error is parked (Parker) once it has failed
	// ParkAttempts times and its first failure is ParkAfter old (defaults
	// DefaultParkAttempts, DefaultParkAfter), and the mailbox moves on.
	ParkAttempts int
	ParkAfter    time.Duration
	// MaxMessageBytes: larger messages are handed over without their body
	// (Fetched.TooLarge) so they are recorded as skipped, never loaded.
	MaxMessageBytes int64
	// DialTimeout bounds connecting and the TLS handshake (default 30s).
	DialTimeout time.Duration
	// Auth, when set, logs in with SASL (OAuth2) instead of Password.
	Auth SASLAuth
	// Backfill: a mailbox with no checkpoint starts at its newest
	// message, except that messages whose INTERNALDATE lies within
	// Backfill of now are handed over. Zero hands over nothing that was
	// there before.
	Backfill time.Duration
	// MaxAge: after a UIDVALIDITY change only the messages whose
	// INTERNALDATE lies within MaxAge of now are read again (default
	// config.DefaultMaxAge); Message-ID dedupe drops those already handled.
	MaxAge time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Fetched is one new message of a watched mailbox.
type Fetched struct {
	Mailbox      string
	UIDValidity  uint32
	UID          uint32
	InternalDate time.Time // the server's receipt time, which due dates count from
	Size         int64
	Raw          []byte // nil when TooLarge
	TooLarge     bool
}

// Handler processes one fetched message durably. Only when it returns nil
// does the watcher move its checkpoint past the UID; an error ends the
// session and the message is fetched again after reconnecting, so the
// handler must be idempotent (it is: messages are keyed by Message-ID).
//
// A handler records a message it cannot handle because of its content
// itself (as skipped) and returns nil; an error means "try again". A
// message that keeps failing, or whose error IsPermanent (the handler
// could not record it), is parked when the Checkpoints is a Parker.
type Handler func(ctx context.Context, msg Fetched) error

// Checkpoints persist how far a mailbox has been read.
type Checkpoints interface {
	Load(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error)
	Save(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error
}

// Parker is what Checkpoints may also implement so that one message that
// keeps failing does not hold up its mailbox: the watcher parks it (keeps
// it aside, with the error, for status, digest and metrics) and moves on.
// Without a Parker such a message is retried until it succeeds.
type Parker interface {
	// Park records msg (its body may be nil) as parked after attempts
	// more failed attempts, the last failing with cause. Parking a
	// message already parked adds the attempts and keeps the newest cause.
	Park(ctx context.Context, msg Fetched, attempts int, cause error) error
	// Parked returns the UIDs of the messages parked in mailbox under
	// uidValidity, in UID order.
	Parked(ctx context.Context, mailbox string, uidValidity uint32) ([]uint32, error)
	// Unpark forgets a parked message: it was handled at last, or it is
	// gone from the mailbox.
	Unpark(ctx context.Context, mailbox string, uidValidity, uid uint32) error
}

// Batcher is what Checkpoints may also implement so that each fetched
// group of messages is recorded in one store transaction together with
// the checkpoint after it (store.Store.Batch): Batch runs fn with a
// context under which the handler's writes and Save share one commit,
// made when fn returns nil, and nothing of it is kept otherwise. Without
// a Batcher every message is its own transaction and the checkpoint is
// saved after each batch.
type Batcher interface {
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}

// Defaults for MailboxConfig.
const (
	// DefaultBatchBytes bounds the message bodies one FETCH holds. 50
	// messages of up to max_message_bytes (25 MiB) each could hold over a
	// GiB; 8 MiB keeps a backlog of attachments to a few dozen MiB of heap
	// (the body, go-imap's copy, the parse) while ordinary mail, a few KiB
	// a message, still comes 50 to a FETCH.
	DefaultBatchBytes = 8 << 20
	// DefaultGroupCommit bounds a fetch group's transaction
	// (MailboxConfig.GroupCommit): a backlog's receipts reach the sender
	// every 50 ms, at a commit (one fsync) per 50 ms of recording.
	DefaultGroupCommit = 50 * time.Millisecond
	// DefaultParkAttempts and DefaultParkAfter: five attempts rule out a
	// one-off failure (a lock, a timeout); two minutes is longer than a
	// PostgreSQL failover or restart (the failover test measured 8.9 s),
	// so a store blip never parks a good message, yet one bad message
	// holds up its mailbox for minutes, not forever. While the store is
	// down the park itself fails, so nothing is parked then: the mailbox
	// waits where it is.
	DefaultParkAttempts = 5
	DefaultParkAfter    = 2 * time.Minute
)

// Backoff is a capped exponential backoff with full jitter.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the wait before the next attempt and advances the backoff.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = lo
	}
	d := lo << min(b.n, 30)
	if d > hi || d <= 0 {
		d = hi
	} else {
		b.n++
	}
	// Jitter between d/2 and d, so many departments that lost the same
	// server do not reconnect in lockstep.
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after a healthy session.
func (b *Backoff) Reset() { b.n = 0 }

// Watcher keeps one IMAP session to one mailbox and hands every new
// message to its Handler, in UID order, exactly as far as the checkpoint says.
type Watcher struct {
	cfg    MailboxConfig
	cp     Checkpoints
	handle Handler
	log    *slog.Logger
	// mailbox is the name in use this session: cfg.Mailbox, or the one
	// DiscoverSent found. Only the Run goroutine touches it.
	mailbox string

	// backoff after connection errors; authBackoff after refused logins,
	// which a retry a second later will not fix; storeBackoff after a
	// message the store could not record.
	backoff, authBackoff, storeBackoff Backoff

	// failing is the message whose handler failed last, and how often;
	// parkedRetried says this watcher tried its parked messages again.
	// Only the Run goroutine touches them.
	failing       failure
	parkedRetried bool

	// idleMax bounds one IDLE (maxIdle; tests shorten it). quietIdles
	// counts, in a row, the IDLEs that ended at their time limit with
	// nothing pushed although new mail had arrived; warnedNoPush says the
	// warning about such a server was given. Only the Run goroutine
	// touches them.
	idleMax      time.Duration
	quietIdles   int
	warnedNoPush bool

	// history, while set, marks messages up to a UID that were in the
	// mailbox before ackd had a checkpoint for it: those that arrived
	// before its since are passed over. It lives in memory (reconnects
	// keep it): a crash in the middle of a backfill hands the rest of the
	// window's UID range to the processor, which still refuses anything
	// older than max_age. Only the Run goroutine (or Window) touches it.
	history historyCut

	// kick wakes the wait for new mail at once (Kick): a push from the
	// server's notification plugin.
	kick chan struct{}
	// wokeAt is when the first wait for new mail since the last fetch
	// group ended (the debug log's
	// timing of a fetch group counts from it). Only the Run goroutine
	// touches it.
	wokeAt time.Time
	// searches counts the UID SEARCHes since that wake (one whose search
	// finds nothing yet costs one more round).
	searches int

	mu        sync.Mutex
	connected bool
	lastErr   error
}

// failure counts the failed attempts at one message.
type failure struct {
	mailbox       string
	validity, uid uint32
	attempts      int
	first         time.Time
}

// historyCut is the part of a mailbox that is history: UIDs up to upTo
// whose INTERNALDATE is before since. The zero value cuts nothing.
type historyCut struct {
	upTo  uint32
	since time.Time
}

func (h historyCut) covers(f Fetched) bool {
	return f.UID <= h.upTo && f.InternalDate.Before(h.since)
}

// NewWatcher builds a watcher; Run starts it.
func NewWatcher(cfg MailboxConfig, cp Checkpoints, handle Handler, log *slog.Logger) *Watcher {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 50
	}
	if cfg.GroupCommit <= 0 {
		cfg.GroupCommit = DefaultGroupCommit
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.ParkAttempts <= 0 {
		cfg.ParkAttempts = DefaultParkAttempts
	}
	if cfg.ParkAfter <= 0 {
		cfg.ParkAfter = DefaultParkAfter
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.Mailbox == "" && !cfg.DiscoverSent {
		cfg.Mailbox = "INBOX"
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = config.DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	name := cfg.Mailbox
	if name == "" {
		name = `(\Sent)`
	}
	return &Watcher{
		cfg:         cfg,
		cp:          cp,
		handle:      handle,
		mailbox:     cfg.Mailbox,
		log:         log.With("mailbox", name, "imap", cfg.Addr),
		backoff:     Backoff{Min: time.Second, Max: 5 * time.Minute},
		authBackoff: Backoff{Min: time.Minute, Max: 15 * time.Minute},
		idleMax:     maxIdle,
		// Without replicas a failed write waits as a lost connection
		// would; SetStoreRetry shortens it.
		storeBackoff: Backoff{Min: time.Second, Max: 5 * time.Minute},
		kick:         make(chan struct{}, 1),
	}
}

// Kick makes the watcher look for new mail now, as if the poll interval
// had run out or IDLE had announced mail: the server told ackd about new
// mail another way (a push notification). It never blocks; kicks while
// the watcher is busy fold into one more look when it is done. Without a
// session it does nothing but that.
func (w *Watcher) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Mailbox says which mailbox w watches: its configured name, "" for a
// Sent mailbox found by SPECIAL-USE, and the IMAP login it watches it as.
func (w *Watcher) Mailbox() (username, mailbox string) {
	return w.cfg.Username, w.cfg.Mailbox
}

// SetStoreRetry caps the wait after a message the store could not record
// at d (replicas: ttl/3, so a department's new holder does not idle behind
// a backoff grown while a frozen holder's locks blocked its writes).
func (w *Watcher) SetStoreRetry(d time.Duration) {
	w.storeBackoff = Backoff{Min: min(time.Second, d), Max: d}
}

// SetBackoff replaces the reconnect delays (tests use short ones).
func (w *Watcher) SetBackoff(conn, auth Backoff) {
	w.backoff, w.authBackoff, w.storeBackoff = conn, auth, conn
}

// Connected reports whether the session is up, for /readyz and status.
func (w *Watcher) Connected() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.connected, w.lastErr
}

func (w *Watcher) setConnected(ok bool, err error) {
	w.mu.Lock()
	w.connected, w.lastErr = ok, err
	w.mu.Unlock()
}

// handleError is a message the handler could not record.
type handleError struct {
	uid      uint32
	err      error
	attempts int // failed attempts at this message so far
}

func (e handleError) Error() string { return fmt.Sprintf("handle uid %d: %v", e.uid, e.err) }
func (e handleError) Unwrap() error { return e.err }

// ErrAuth marks a login the server refused.
var ErrAuth = errors.New("imap login refused")

// ErrNoSentMailbox is the state of a DiscoverSent watcher whose server
// marks no mailbox \Sent: nothing to watch, and nothing a reconnect fixes.
var ErrNoSentMailbox = errors.New("no mailbox with the \\Sent special-use attribute")

// Run watches until ctx is done, reconnecting with backoff. It returns nil
// on cancellation.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		start := time.Now()
		err := w.session(ctx)
		w.setConnected(false, err)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 2*time.Minute {
			w.backoff.Reset()
		}
		var wait time.Duration
		var herr handleError
		if !errors.As(err, &herr) {
			w.storeBackoff.Reset()
		}
		if errors.As(err, &herr) {
			// Not the mailbox's fault: the message could not be recorded
			// (store full or read-only, say). It stays unread by ackd and
			// is fetched again after the wait, which has its own backoff
			// (capped by SetStoreRetry) rather than the reconnect one.
			wait = w.storeBackoff.Next()
			w.log.Error("could not record a message; it will be fetched again", "uid", herr.uid, "err", herr.err,
				"attempts", herr.attempts, "retry_in", wait.Round(time.Millisecond))
		} else if errors.Is(err, ErrAuth) {
			wait = w.authBackoff.Next()
			w.log.Error("IMAP login refused; check the username and password", "err", err, "retry_in", wait.Round(time.Second))
		} else if errors.Is(err, ErrLoginDisabled) {
			// Not retried every few seconds: a fix on the server (a TLS
			// listener, plain-text logins allowed) needs no restart of
			// ackd, a fix of tls: in the config does.
			wait = w.authBackoff.Next()
			w.log.Error("IMAP server refuses password logins on this connection; no password was sent", "err", err, "retry_in", wait.Round(time.Second))
		} else if bye := (*ByeError)(nil); errors.As(err, &bye) {
			wait = w.backoff.Next()
			w.log.Log(ctx, bye.Level(), "IMAP server closed the session; reconnecting", "bye", bye.Text, "retry_in", wait.Round(time.Millisecond))
		} else {
			wait = w.backoff.Next()
			w.log.Warn("IMAP session ended; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one connection from dial to error. At shutdown it ends
// the session with LOGOUT, within logoutGrace; when the server ended it
// with BYE, the error says why.
func (w *Watcher) session(ctx context.Context) error {
	newMail := make(chan struct{}, 1)
	opts := &imapclient.Options{
		TLSConfig: w.tlsConfig(),
		Dialer:    &net.Dialer{Timeout: w.cfg.DialTimeout},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	c, conn, err := w.dialConn(ctx, opts)
	if err != nil {
		return err
	}
	// go-imap's client takes no context: closing the connection is how a
	// blocked command is cancelled. At shutdown the session first gets
	// logoutGrace to end the IDLE and log out.
	sessionDone := make(chan struct{})
	go func() {
		select {
		case <-sessionDone:
		case <-ctx.Done():
			t := time.NewTimer(logoutGrace)
			select {
			case <-sessionDone:
			case <-t.C:
			}
			t.Stop()
		}
		c.Close()
	}()
	err = w.watch(ctx, c, newMail)
	if ctx.Err() != nil {
		w.logout(c)
	} else if text, ok := conn.Bye(); ok && err != nil {
		err = &ByeError{Text: text, Err: err}
	}
	close(sessionDone)
	return err
}

// watch logs in and watches the mailbox until an error.
func (w *Watcher) watch(ctx context.Context, c *imapclient.Client, newMail <-chan struct{}) error {
	if err := w.login(ctx, c); err != nil {
		return err
	}
	if w.cfg.Mailbox == "" && w.cfg.DiscoverSent {
		name, err := findSent(c)
		if err != nil {
			return err
		}
		if name == "" {
			return w.idleWithoutMailbox(ctx, c)
		}
		if name != w.mailbox {
			w.log.Info("found the Sent mailbox by SPECIAL-USE", "sent_mailbox", name)
		}
		w.mailbox = name
	}
	sel, err := c.Select(w.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("select %s: %w", w.mailbox, err)
	}
	validity, last, err := w.cp.Load(ctx, w.mailbox)
	if err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	if validity != sel.UIDValidity {
		// No checkpoint (first start, a lost store, a new department) or
		// the server renumbered the mailbox: either way the mailbox's past
		// is history, never answered, except the recent part the settings
		// ask for. After a renumbering the handler recognises what it has
		// already handled by Message-ID.
		window, why := w.cfg.Backfill, "first start"
		if validity != 0 {
			window, why = w.cfg.MaxAge, "UIDVALIDITY changed"
			w.log.Warn("UIDVALIDITY changed; re-reading only the messages within max_age", "old", validity, "new", sel.UIDValidity, "max_age", config.FormatAge(window))
		}
		start, cut, err := w.startPoint(c, sel, window, why)
		if err != nil {
			return err
		}
		validity, last, w.history = sel.UIDValidity, start, cut
		if err := w.cp.Save(ctx, w.mailbox, validity, last); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	w.setConnected(true, nil)
	w.log.Info("watching mailbox", "uidvalidity", validity, "last_uid", last, "messages", sel.NumMessages)
	useIdle := w.cfg.IDLE && (c.Caps().Has(imap.CapIdle) || c.Caps().Has(imap.CapIMAP4rev2))

	woke := wakeOther
	for {
		before := last
		last, err = w.catchUp(ctx, c, validity, last)
		if err != nil {
			return err
		}
		w.backoff.Reset()
		w.notePush(woke, last > before)
		if woke, err = w.wait(ctx, c, useIdle, newMail); err != nil {
			return err
		}
	}
}

// startPoint is where a mailbox without a usable checkpoint starts: after
// its newest message, or, when window is positive, before the oldest
// message whose INTERNALDATE lies within window of now; the cut returned
// passes over the older messages among those after it (UID order is not
// arrival order: mail moved in keeps its old date). SEARCH SINCE works on
// dates in the server's time zone, so it is only the first sieve and the
// INTERNALDATEs decide.
func (w *Watcher) startPoint(c *imapclient.Client, sel *imap.SelectData, window time.Duration, why string) (uint32, historyCut, error) {
	messages := sel.NumMessages
	// UIDNEXT as SELECT reported it matches NumMessages exactly: mail
	// that arrives after the SELECT gets a higher UID and is new mail.
	var highest uint32
	if sel.UIDNext > 0 {
		highest = uint32(sel.UIDNext) - 1
	} else if messages > 0 {
		// "UID SEARCH UID *" names the highest UID alone.
		found, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 0, Stop: 0}}}}, nil).Wait()
		if err != nil {
			return 0, historyCut{}, fmt.Errorf("%s: find the newest message: %w", why, err)
		}
		for _, u := range found.AllUIDs() {
			highest = max(highest, uint32(u))
		}
	}
	var recent []uint32
	var since time.Time
	if window > 0 && highest > 0 {
		since = w.cfg.Now().Add(-window)
		var upTo imap.UIDSet
		upTo.AddRange(1, imap.UID(highest))
		found, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{upTo}, Since: since.AddDate(0, 0, -1)}, nil).Wait()
		if err != nil {
			return 0, historyCut{}, fmt.Errorf("%s: search messages since %s: %w", why, since.Format(time.DateOnly), err)
		}
		if uids := found.AllUIDs(); len(uids) > 0 {
			var set imap.UIDSet
			set.AddNum(uids...)
			dates, err := c.Fetch(set, &imap.FetchOptions{UID: true, InternalDate: true}).Collect()
			if err != nil {
				return 0, historyCut{}, fmt.Errorf("%s: fetch arrival times: %w", why, err)
			}
			for _, d := range dates {
				if uint32(d.UID) <= highest && !d.InternalDate.Before(since) {
					recent = append(recent, uint32(d.UID))
				}
			}
		}
	}
	older := int(messages) - len(recent)
	if len(recent) == 0 {
		w.log.Info(fmt.Sprintf("%s: starting after UID %d; %d older messages are history and get no mail", why, highest, older),
			"last_uid", highest, "history", older)
		return highest, historyCut{}, nil
	}
	first := slices.Min(recent)
	w.log.Info(fmt.Sprintf("%s: reading the %d messages since %s; starting after UID %d; %d older messages are history and get no mail",
		why, len(recent), since.Format(time.RFC3339), first-1, older),
		"window", config.FormatAge(window), "recent", len(recent), "last_uid", first-1, "history", older)
	return first - 1, historyCut{upTo: highest, since: since}, nil
}

// Window reads, in one read-only session, the messages of the mailbox
// whose INTERNALDATE is at or after since, oldest UID first, as the
// watcher would hand them over (too large ones without their body). It
// changes nothing on the server, \Seen flags included, and saves no
// checkpoint: `ackd backfill` lists what a first start would answer.
func (w *Watcher) Window(ctx context.Context, since time.Time) ([]Fetched, error) {
	c, _, err := w.dialConn(ctx, &imapclient.Options{TLSConfig: w.tlsConfig(), Dialer: &net.Dialer{Timeout: w.cfg.DialTimeout}})
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	if err := w.login(ctx, c); err != nil {
		return nil, err
	}
	if _, err := c.Select(w.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("examine %s: %w", w.mailbox, err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Since: since.AddDate(0, 0, -1)}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search %s since %s: %w", w.mailbox, since.Format(time.DateOnly), err)
	}
	var uids []uint32
	for _, u := range found.AllUIDs() {
		uids = append(uids, uint32(u))
	}
	slices.Sort(uids)
	// Messages before since (SEARCH SINCE goes by day) are passed over
	// the way catchUp passes over history.
	w.history = historyCut{upTo: ^uint32(0), since: since}
	defer func() { w.history = historyCut{} }()
	var out []Fetched
	for len(uids) > 0 {
		n := min(len(uids), w.cfg.BatchSize)
		msgs, err := w.fetch(c, uids[:n])
		if err != nil {
			return nil, err
		}
		uids = uids[n:]
		for _, m := range msgs {
			if !w.history.covers(m) {
				m.Mailbox = w.mailbox
				out = append(out, m)
			}
		}
	}
	_ = c.Logout().Wait()
	return out, nil
}

// findSent returns the first mailbox the server marks \Sent, or "" when
// none is. Servers with LIST-EXTENDED (or IMAP4rev2) are asked for the
// attributes with RETURN (SPECIAL-USE); others, Gmail among them, may
// still send them on a plain LIST, so that is tried too.
func findSent(c *imapclient.Client) (string, error) {
	caps := c.Caps()
	var opts *imap.ListOptions
	if caps.Has(imap.CapListExtended) || caps.Has(imap.CapIMAP4rev2) {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	boxes, err := c.List("", "*", opts).Collect()
	if err != nil {
		return "", fmt.Errorf("list mailboxes for \\Sent: %w", err)
	}
	for _, b := range boxes {
		if slices.Contains(b.Attrs, imap.MailboxAttrSent) && !slices.Contains(b.Attrs, imap.MailboxAttrNoSelect) {
			return b.Mailbox, nil
		}
	}
	return "", nil
}

// idleWithoutMailbox is a DiscoverSent session that found no \Sent
// mailbox: it says so once, lets the connection go and waits for ctx, so
// the watcher neither spins nor holds a connection it does not use.
func (w *Watcher) idleWithoutMailbox(ctx context.Context, c *imapclient.Client) error {
	special := c.Caps().Has(imap.CapSpecialUse)
	_ = c.Logout().Wait()
	w.setConnected(false, ErrNoSentMailbox)
	w.log.Warn("no mailbox is marked \\Sent; staff replies in Sent are not followed; set imap.sent_mailbox to name it",
		"server_special_use", special)
	<-ctx.Done()
	return ctx.Err()
}

func (w *Watcher) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if w.cfg.TLSConfig != nil {
		cfg = w.cfg.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(w.cfg.Addr); err == nil {
			cfg.ServerName = host
		}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// catchUp hands every message above last to the handler, batch by batch,
// saving the checkpoint after each batch. A batch is at most BatchSize
// messages, and its bodies are fetched in groups of at most BatchBytes.
func (w *Watcher) catchUp(ctx context.Context, c *imapclient.Client, validity, last uint32) (uint32, error) {
	if !w.parkedRetried {
		if err := w.retryParked(ctx, c, validity); err != nil {
			return last, err
		}
		w.parkedRetried = true
	}
	for {
		var set imap.UIDSet
		set.AddRange(imap.UID(last+1), 0) // last+1:*
		tm := groupTiming{woke: w.wokeAt, start: time.Now()}
		w.searches++
		found, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
		tm.searched = time.Now()
		if err != nil {
			return last, fmt.Errorf("search new messages: %w", err)
		}
		var uids []uint32
		for _, u := range found.AllUIDs() {
			// "n:*" always matches the highest UID, even below n.
			if uint32(u) > last {
				uids = append(uids, uint32(u))
			}
		}
		if len(uids) == 0 {
			return last, nil
		}
		sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
		if len(uids) > w.cfg.BatchSize {
			uids = uids[:w.cfg.BatchSize]
		}
		metas, err := w.fetchMeta(c, uids)
		if err != nil {
			return last, err
		}
		tm.meta = time.Now()
		// The checkpoint is saved once per batch, not per message: a crash
		// re-reads at most one batch, whose messages the handler already
		// recorded and recognises by their key, and each request costs one
		// durable write less.
		handled := last
		var herr error
	batch:
		for len(metas) > 0 {
			if w.history.covers(metas[0]) {
				handled = metas[0].UID // history: passed over, never answered
				metas = metas[1:]
				continue
			}
			n := byteGroup(metas, w.cfg.BatchBytes)
			for k := 1; k < n; k++ {
				if w.history.covers(metas[k]) {
					n = k // history is passed over in order, without its body
					break
				}
			}
			msgs, err := w.fetchBodies(c, metas[:n])
			if err != nil {
				herr = err
				break
			}
			metas = metas[n:]
			if b, ok := w.cp.(Batcher); ok {
				tm.bodies = time.Now()
				// A group commits in parts when another write waits for
				// the store (handleGroup): each part with its checkpoint.
				var err error
				for len(msgs) > 0 {
					var done uint32
					var n int
					var stop error
					done, n, stop, err = w.handleGroup(ctx, b, msgs, validity, handled)
					if err != nil {
						break
					}
					w.logGroup(tm, n)
					w.wokeAt, w.searches = time.Time{}, 0
					tm = groupTiming{start: time.Now(), searched: time.Now(), meta: time.Now(), bodies: time.Now()}
					handled, last = done, done // the checkpoint committed with the part
					msgs = msgs[n:]
					if stop != nil {
						herr = stop
						break batch
					}
					if ctx.Err() != nil {
						break batch
					}
				}
				if err == nil {
					continue
				}
				// Nothing of this part of the group was recorded. A message
				// that breaks the shared transaction (on SQLite some errors
				// roll it back whole) must not hold its neighbours back:
				// the rest of the group is handled again one message at a
				// time, as without a Batcher, so the others are recorded
				// and it is parked.
				w.log.Warn("recording a fetch group in one transaction failed; recording its messages one at a time",
					"uids", fmt.Sprintf("%d-%d", msgs[0].UID, msgs[len(msgs)-1].UID), "err", err)
			}
			for _, m := range msgs {
				m.Mailbox, m.UIDValidity = w.mailbox, validity
				if err := w.handleOne(ctx, m); err != nil {
					herr = err
					break batch
				}
				handled = m.UID
				if ctx.Err() != nil {
					break batch
				}
			}
		}
		if handled != last {
			if err := w.cp.Save(context.WithoutCancel(ctx), w.mailbox, validity, handled); err != nil {
				return last, fmt.Errorf("save checkpoint: %w", err)
			}
			last = handled
		}
		if herr != nil {
			return last, herr
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if last >= w.history.upTo {
			w.history = historyCut{}
		}
	}
}

// groupTiming is when the steps of reading a fetch group ended, for the
// debug log: where ackd's own time between a wake-up and a recorded
// request goes.
type groupTiming struct {
	woke, start, searched, meta, bodies time.Time
}

// logGroup logs at debug level how long a fetch group of n messages took,
// step by step: from the end of the wait (an IDLE's DONE, a NOOP) to the
// search, the search, the size FETCH, the body FETCH, then handling the
// messages and committing them with the checkpoint.
func (w *Watcher) logGroup(tm groupTiming, n int) {
	if !w.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	ms := func(a, b time.Time) float64 {
		if a.IsZero() || b.IsZero() {
			return 0
		}
		return float64(b.Sub(a).Microseconds()) / 1000
	}
	w.log.Debug("fetch group recorded", "messages", n, "searches", w.searches, "wait_end_ms", ms(tm.woke, tm.start), "search_ms", ms(tm.start, tm.searched),
		"meta_ms", ms(tm.searched, tm.meta), "bodies_ms", ms(tm.meta, tm.bodies), "record_ms", ms(tm.bodies, time.Now()))
}

// handleGroup hands a fetched group to the handler inside one store
// batch and moves the checkpoint past the messages handled in the same
// commit, so a crash either keeps all of it or none: their requests,
// skips, follow-ups, outbox mail and the checkpoint become durable and
// visible (to the outbox sender too) together, with one commit instead of
// one per message. from is the checkpoint before the group. It returns
// the new checkpoint, how many of msgs it handled, and the error of a
// message that stopped the group (the messages before it, and the
// checkpoint up to them, are committed); err says the batch itself failed
// and nothing was recorded.
//
// It commits the messages handled so far and returns early, the caller
// recording the rest in a batch of its own, when the batch has run for
// MailboxConfig.GroupCommit (nothing of it can be sent before its commit),
// or for groupYieldAfter while another write of the process waits for the
// store's write connection (store.WriterWaiting: on SQLite, the outbox
// sender's marks of sent mail, which bound how far it may send ahead). A
// backlog is then recorded and sent at the same time instead of one after
// the other.
func (w *Watcher) handleGroup(ctx context.Context, b Batcher, msgs []Fetched, validity, from uint32) (handled uint32, n int, stop, err error) {
	handled = from
	err = b.Batch(ctx, func(bctx context.Context) error {
		n = 0
		began := time.Now()
		for i, m := range msgs {
			m.Mailbox, m.UIDValidity = w.mailbox, validity
			if err := w.handleOne(bctx, m); err != nil {
				stop = err
				break
			}
			handled, n = m.UID, i+1
			if ctx.Err() != nil {
				break
			}
			if i+1 < len(msgs) {
				if ran := time.Since(began); ran >= w.cfg.GroupCommit || ran >= groupYieldAfter && store.WriterWaiting(bctx) {
					break
				}
			}
		}
		if handled == from {
			return nil
		}
		if err := w.cp.Save(context.WithoutCancel(bctx), w.mailbox, validity, handled); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
		return nil
	})
	if err != nil {
		return from, 0, nil, err
	}
	return handled, n, stop, nil
}

// groupYieldAfter is how long a fetch group's transaction runs at least
// before it commits early for a write waiting behind it (handleGroup):
// the outbox sender, 8 mails ahead of its marks at most, stalls while its
// marks wait, so the group gives way after about one message (2,000
// requests: 10 ms gave 105 receipts/s end to end, 2 ms 119/s).
const groupYieldAfter = 2 * time.Millisecond

// handleOne hands one message to the handler. nil means the checkpoint
// may move past it: it was handled, or it failed once too often and was
// parked. A handleError means it is to be tried again after a backoff.
func (w *Watcher) handleOne(ctx context.Context, m Fetched) error {
	// The message in hand is finished even during shutdown, so its
	// receipt is recorded before the process exits.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	err := w.handle(hctx, m)
	cancel()
	f := &w.failing
	same := f.mailbox == m.Mailbox && f.validity == m.UIDValidity && f.uid == m.UID
	if err == nil {
		if same {
			*f = failure{}
		}
		return nil
	}
	if !same {
		*f = failure{mailbox: m.Mailbox, validity: m.UIDValidity, uid: m.UID, first: time.Now()}
	}
	f.attempts++
	parker, ok := w.cp.(Parker)
	// A permanent error reaching the watcher is one the handler could not
	// record: retrying cannot help, so it is parked at once.
	due := IsPermanent(err) || f.attempts >= w.cfg.ParkAttempts && time.Since(f.first) >= w.cfg.ParkAfter
	if !ok || !due {
		return handleError{uid: m.UID, err: err, attempts: f.attempts}
	}
	if perr := parker.Park(context.WithoutCancel(ctx), m, f.attempts, err); perr != nil {
		return handleError{uid: m.UID, err: fmt.Errorf("%w (parking it failed too: %v)", err, perr), attempts: f.attempts}
	}
	w.log.Error("message parked: it kept failing; the mailbox moves on without it (ackd status lists it; it is tried again at the next start)",
		"uid", m.UID, "attempts", f.attempts, "since", f.first.Round(time.Second), "err", err)
	*f = failure{}
	return nil
}

// retryParked hands the mailbox's parked messages to the handler once
// more; it runs once per Watcher, i.e. at each start of ackd, so an admin
// who fixed the cause restarts ackd to retry them. A message handled at
// last is unparked; one that fails again stays parked with the new error
// and does not hold up the mailbox.
func (w *Watcher) retryParked(ctx context.Context, c *imapclient.Client, validity uint32) error {
	parker, ok := w.cp.(Parker)
	if !ok {
		return nil
	}
	uids, err := parker.Parked(ctx, w.mailbox, validity)
	if err != nil {
		return fmt.Errorf("list parked messages: %w", err)
	}
	if len(uids) == 0 {
		return nil
	}
	w.log.Info("trying parked messages again", "count", len(uids))
	for len(uids) > 0 {
		n := min(len(uids), w.cfg.BatchSize)
		metas, err := w.fetchMeta(c, uids[:n])
		if err != nil {
			return err
		}
		present := map[uint32]bool{}
		for len(metas) > 0 {
			k := byteGroup(metas, w.cfg.BatchBytes)
			msgs, err := w.fetchBodies(c, metas[:k])
			if err != nil {
				return err
			}
			metas = metas[k:]
			for _, m := range msgs {
				present[m.UID] = true
				m.Mailbox, m.UIDValidity = w.mailbox, validity
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				herr := w.handle(hctx, m)
				cancel()
				if herr != nil {
					w.log.Warn("parked message failed again; it stays parked", "uid", m.UID, "err", herr)
					if err := parker.Park(ctx, m, 1, herr); err != nil {
						return fmt.Errorf("park uid %d again: %w", m.UID, err)
					}
					continue
				}
				if err := parker.Unpark(ctx, w.mailbox, validity, m.UID); err != nil {
					return fmt.Errorf("unpark uid %d: %w", m.UID, err)
				}
				w.log.Info("parked message handled at last", "uid", m.UID)
			}
		}
		for _, u := range uids[:n] {
			if !present[u] {
				// Deleted from the mailbox meanwhile: nothing to retry.
				if err := parker.Unpark(ctx, w.mailbox, validity, u); err != nil {
					return fmt.Errorf("unpark uid %d: %w", u, err)
				}
			}
		}
		uids = uids[n:]
	}
	return nil
}

// byteGroup is how many of metas, from the first, one body FETCH takes:
// as many as fit in budget bytes by their RFC822.SIZE, at least one (a
// message larger than the budget comes alone). Messages too large to load
// cost nothing.
func byteGroup(metas []Fetched, budget int64) int {
	var sum int64
	for i, m := range metas {
		if !m.TooLarge {
			sum += m.Size
		}
		if i > 0 && sum > budget {
			return i
		}
	}
	return len(metas)
}

// fetch reads the given UIDs: sizes first, then the bodies.
func (w *Watcher) fetch(c *imapclient.Client, uids []uint32) ([]Fetched, error) {
	metas, err := w.fetchMeta(c, uids)
	if err != nil {
		return nil, err
	}
	return w.fetchBodies(c, metas)
}

// fetchMeta reads the size and INTERNALDATE of the given UIDs, in UID
// order, leaving out those expunged meanwhile. A message over
// MaxMessageBytes is marked TooLarge and is never loaded.
func (w *Watcher) fetchMeta(c *imapclient.Client, uids []uint32) ([]Fetched, error) {
	var all imap.UIDSet
	for _, u := range uids {
		all.AddNum(imap.UID(u))
	}
	meta, err := c.Fetch(all, &imap.FetchOptions{UID: true, InternalDate: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch sizes: %w", err)
	}
	byUID := make(map[uint32]Fetched, len(meta))
	for _, m := range meta {
		f := Fetched{UID: uint32(m.UID), InternalDate: m.InternalDate, Size: m.RFC822Size}
		if w.cfg.MaxMessageBytes > 0 && f.Size > w.cfg.MaxMessageBytes {
			f.TooLarge = true
		}
		byUID[f.UID] = f
	}
	out := make([]Fetched, 0, len(uids))
	for _, u := range uids {
		// Expunged between SEARCH and FETCH: nothing to hand over.
		if f, ok := byUID[u]; ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// fetchBodies reads the full bodies of metas with BODY.PEEK (the \Seen
// flag staff rely on stays untouched), except of those TooLarge.
func (w *Watcher) fetchBodies(c *imapclient.Client, metas []Fetched) ([]Fetched, error) {
	var want imap.UIDSet
	for _, f := range metas {
		if !f.TooLarge {
			want.AddNum(imap.UID(f.UID))
		}
	}
	raw := make(map[uint32][]byte, len(metas))
	if len(want) > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		bodies, err := c.Fetch(want, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch bodies: %w", err)
		}
		for _, b := range bodies {
			body := b.FindBodySection(section)
			if body == nil {
				body = []byte{}
			}
			raw[uint32(b.UID)] = body
		}
	}
	out := make([]Fetched, 0, len(metas))
	for _, f := range metas {
		if !f.TooLarge {
			body, ok := raw[f.UID]
			if !ok {
				return nil, fmt.Errorf("fetch uid %d: server returned no body", f.UID)
			}
			f.Raw = body
		}
		out = append(out, f)
	}
	return out, nil
}

// maxIdle bounds one IDLE whatever poll_interval is: RFC 9051 lets a
// server end an IDLE after 29 minutes of silence, and some do it sooner
// or drop the session; 25 minutes stays clear of both.
const maxIdle = 25 * time.Minute

// noPushAfter is how many IDLEs in a row may end at their time limit,
// with new mail found afterwards that the server never announced, before
// ackd says the server does not push.
const noPushAfter = 2

// wake is why wait returned.
type wake int

const (
	wakeOther wake = iota // polling, mail reported before IDLE began, shutdown
	wakePush              // the server announced new mail during IDLE
	wakeQuiet             // IDLE reached its time limit without a word
	wakeKick              // Kick: the server pushed news of new mail another way
)

// wait blocks until the mailbox may have new mail: an IDLE notification,
// or the poll interval (which also bounds IDLE, so a lost notification
// costs at most one interval), and says which.
func (w *Watcher) wait(ctx context.Context, c *imapclient.Client, useIdle bool, newMail <-chan struct{}) (wake, error) {
	if !useIdle {
		timer := time.NewTimer(w.cfg.PollInterval)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return wakeOther, ctx.Err()
		case <-timer.C:
		case <-newMail:
		case <-w.kick:
		}
		w.noteWake()
		// NOOP lets servers that queue updates report new messages.
		if err := c.Noop().Wait(); err != nil {
			return wakeOther, fmt.Errorf("noop: %w", err)
		}
		return wakeOther, nil
	}
	timer := time.NewTimer(min(w.cfg.PollInterval, w.idleMax))
	defer timer.Stop()
	// The last command may have reported new mail already: Dovecot tells a
	// session of mail another process just stored at the end of the next
	// command, so a push often wakes a search that finds nothing yet and
	// reports the message as it ends. Then no NOOP is needed to learn it.
	select {
	case <-newMail:
		w.noteWake()
		return wakeOther, nil
	default:
	}
	// Some servers (go-imap's own among them) report mail that arrived
	// since the last command only at the next command, not when IDLE
	// starts; a NOOP first flushes those updates into newMail.
	if err := c.Noop().Wait(); err != nil {
		return wakeOther, fmt.Errorf("noop: %w", err)
	}
	select {
	case <-newMail:
		w.noteWake()
		return wakeOther, nil
	case <-w.kick:
		w.noteWake()
		return wakeKick, nil
	default:
	}
	idle, err := c.Idle()
	if err != nil {
		return wakeOther, fmt.Errorf("start idle: %w", err)
	}
	woke := wakeOther
	select {
	case <-ctx.Done():
	case <-timer.C:
		woke = wakeQuiet
	case <-newMail:
		woke = wakePush
	case <-w.kick:
		woke = wakeKick
	case <-c.Closed():
	}
	w.noteWake()
	if err := idle.Close(); err != nil && ctx.Err() == nil {
		return woke, fmt.Errorf("stop idle: %w", err)
	}
	if err := idle.Wait(); err != nil && ctx.Err() == nil {
		return woke, fmt.Errorf("idle: %w", err)
	}
	return woke, ctx.Err()
}

// noteWake notes when the first wait since the last fetch group ended.
func (w *Watcher) noteWake() {
	if w.wokeAt.IsZero() {
		w.wokeAt, w.searches = time.Now(), 0
	}
}

// notePush watches for a server that never pushes during IDLE (Cyrus
// without idled): new mail turns up only when an IDLE has run out. It
// warns once, with the fix; one push clears the count.
func (w *Watcher) notePush(woke wake, found bool) {
	switch {
	case woke == wakePush:
		w.quietIdles = 0
	case woke == wakeQuiet && found:
		w.quietIdles++
		if w.quietIdles >= noPushAfter && !w.warnedNoPush {
			w.warnedNoPush = true
			w.log.Warn("the IMAP server announces no new mail during IDLE: new mail waits for the end of each IDLE, up to poll_interval; "+
				"on Cyrus IMAP run idled (cyrus.conf DAEMON: idled cmd=\"idled\"), otherwise set idle: false and a short poll_interval",
				"poll_interval", w.cfg.PollInterval, "idles_without_push", w.quietIdles)
		}
	}
}
