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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ackd/ackd/rules"
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
	// rules.DefaultMaxAge); Message-ID dedupe drops those already handled.
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
type Handler func(ctx context.Context, msg Fetched) error

// Checkpoints persist how far a mailbox has been read.
type Checkpoints interface {
	Load(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error)
	Save(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error
}

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
	// which a retry a second later will not fix.
	backoff, authBackoff Backoff

	// history, while set, marks messages up to a UID that were in the
	// mailbox before ackd had a checkpoint for it: those that arrived
	// before its since are passed over. It lives in memory (reconnects
	// keep it): a crash in the middle of a backfill hands the rest of the
	// window's UID range to the processor, which still refuses anything
	// older than max_age. Only the Run goroutine (or Window) touches it.
	history historyCut

	mu        sync.Mutex
	connected bool
	lastErr   error
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
		cfg.MaxAge = rules.DefaultMaxAge
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
	}
}

// SetBackoff replaces the reconnect delays (tests use short ones).
func (w *Watcher) SetBackoff(conn, auth Backoff) {
	w.backoff, w.authBackoff = conn, auth
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
	uid uint32
	err error
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
		if errors.As(err, &herr) {
			// Not the mailbox's fault: the message could not be recorded
			// (store full or read-only, say). It stays unread by ackd and
			// is fetched again after the wait.
			wait = w.backoff.Next()
			w.log.Error("could not record a message; it will be fetched again", "uid", herr.uid, "err", herr.err, "retry_in", wait.Round(time.Millisecond))
		} else if errors.Is(err, ErrAuth) {
			wait = w.authBackoff.Next()
			w.log.Error("IMAP login refused; check the username and password", "err", err, "retry_in", wait.Round(time.Second))
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

// session runs one connection from dial to error.
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
	c, err := w.dial(opts)
	if err != nil {
		return err
	}
	// go-imap's client takes no context: closing the connection is how a
	// blocked command is cancelled.
	sessionDone := make(chan struct{})
	defer close(sessionDone)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-sessionDone:
			c.Close()
		}
	}()

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
			w.log.Warn("UIDVALIDITY changed; re-reading only the messages within max_age", "old", validity, "new", sel.UIDValidity, "max_age", rules.FormatAge(window))
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

	for {
		last, err = w.catchUp(ctx, c, validity, last)
		if err != nil {
			return err
		}
		w.backoff.Reset()
		if err := w.wait(ctx, c, useIdle, newMail); err != nil {
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
		"window", rules.FormatAge(window), "recent", len(recent), "last_uid", first-1, "history", older)
	return first - 1, historyCut{upTo: highest, since: since}, nil
}

// Window reads, in one read-only session, the messages of the mailbox
// whose INTERNALDATE is at or after since, oldest UID first, as the
// watcher would hand them over (too large ones without their body). It
// changes nothing on the server, \Seen flags included, and saves no
// checkpoint: `ackd backfill` lists what a first start would answer.
func (w *Watcher) Window(ctx context.Context, since time.Time) ([]Fetched, error) {
	c, err := w.dial(&imapclient.Options{TLSConfig: w.tlsConfig(), Dialer: &net.Dialer{Timeout: w.cfg.DialTimeout}})
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

func (w *Watcher) dial(opts *imapclient.Options) (*imapclient.Client, error) {
	var (
		c   *imapclient.Client
		err error
	)
	switch w.cfg.TLS {
	case "implicit", "":
		c, err = imapclient.DialTLS(w.cfg.Addr, opts)
	case "starttls":
		c, err = imapclient.DialStartTLS(w.cfg.Addr, opts)
	case "none":
		c, err = imapclient.DialInsecure(w.cfg.Addr, opts)
	default:
		return nil, fmt.Errorf("imap tls mode %q unknown", w.cfg.TLS)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", w.cfg.Addr, err)
	}
	return c, nil
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
// saving the checkpoint after each message it handled.
func (w *Watcher) catchUp(ctx context.Context, c *imapclient.Client, validity, last uint32) (uint32, error) {
	for {
		var set imap.UIDSet
		set.AddRange(imap.UID(last+1), 0) // last+1:*
		found, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
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
		msgs, err := w.fetch(c, uids)
		if err != nil {
			return last, err
		}
		// The checkpoint is saved once per batch, not per message: a crash
		// re-reads at most one batch, whose messages the handler already
		// recorded and recognises by their key, and each request costs one
		// durable write less.
		handled := last
		var herr error
		for _, m := range msgs {
			m.Mailbox, m.UIDValidity = w.mailbox, validity
			if w.history.covers(m) {
				handled = m.UID // history: passed over, never answered
				continue
			}
			// The message in hand is finished even during shutdown, so its
			// receipt is recorded before the process exits.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			err := w.handle(hctx, m)
			cancel()
			if err != nil {
				herr = handleError{uid: m.UID, err: err}
				break
			}
			handled = m.UID
			if ctx.Err() != nil {
				break
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

// fetch reads the given UIDs: sizes first, so a giant message is never
// loaded, then the full bodies with BODY.PEEK (the \Seen flag staff rely on
// stays untouched).
func (w *Watcher) fetch(c *imapclient.Client, uids []uint32) ([]Fetched, error) {
	var all imap.UIDSet
	for _, u := range uids {
		all.AddNum(imap.UID(u))
	}
	meta, err := c.Fetch(all, &imap.FetchOptions{UID: true, InternalDate: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch sizes: %w", err)
	}
	byUID := make(map[uint32]*Fetched, len(meta))
	var want imap.UIDSet
	for _, m := range meta {
		f := &Fetched{UID: uint32(m.UID), InternalDate: m.InternalDate, Size: m.RFC822Size}
		if w.history.covers(*f) {
			f.Raw = []byte{} // passed over by catchUp: no body needed
		} else if w.cfg.MaxMessageBytes > 0 && f.Size > w.cfg.MaxMessageBytes {
			f.TooLarge = true
		} else {
			want.AddNum(m.UID)
		}
		byUID[f.UID] = f
	}
	if len(want) > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		bodies, err := c.Fetch(want, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch bodies: %w", err)
		}
		for _, b := range bodies {
			if f, ok := byUID[uint32(b.UID)]; ok {
				f.Raw = b.FindBodySection(section)
				if f.Raw == nil {
					f.Raw = []byte{}
				}
			}
		}
	}
	out := make([]Fetched, 0, len(uids))
	for _, u := range uids {
		f, ok := byUID[u]
		if !ok {
			// Expunged between SEARCH and FETCH: nothing to hand over.
			continue
		}
		if !f.TooLarge && f.Raw == nil {
			return nil, fmt.Errorf("fetch uid %d: server returned no body", u)
		}
		out = append(out, *f)
	}
	return out, nil
}

// wait blocks until the mailbox may have new mail: an IDLE notification,
// or the poll interval (which also bounds IDLE, so a lost notification
// costs at most one interval).
func (w *Watcher) wait(ctx context.Context, c *imapclient.Client, useIdle bool, newMail <-chan struct{}) error {
	timer := time.NewTimer(w.cfg.PollInterval)
	defer timer.Stop()
	if !useIdle {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-newMail:
		}
		// NOOP lets servers that queue updates report new messages.
		if err := c.Noop().Wait(); err != nil {
			return fmt.Errorf("noop: %w", err)
		}
		return nil
	}
	// Some servers (go-imap's own among them) report mail that arrived
	// since the last command only at the next command, not when IDLE
	// starts; a NOOP first flushes those updates into newMail.
	if err := c.Noop().Wait(); err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	select {
	case <-newMail:
		return nil
	default:
	}
	idle, err := c.Idle()
	if err != nil {
		return fmt.Errorf("start idle: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-timer.C:
	case <-newMail:
	case <-c.Closed():
	}
	if err := idle.Close(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stop idle: %w", err)
	}
	if err := idle.Wait(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("idle: %w", err)
	}
	return ctx.Err()
}
