package mailwatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/secret"
	"github.com/ackd/ackd/mailwatch/oauth"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// SecretWarnings checks every password file cfg names (SMTP, store and
// each department's IMAP, OAuth2 client secrets) with secret.Warning, and
// OAuth2 client and service account key files with oauth.KeyFileWarning.
func SecretWarnings(cfg *config.Config) []string {
	var out []string
	add := func(what string, s config.Secret) {
		if w := secret.Warning(s.File); w != "" {
			out = append(out, what+": "+w)
		}
	}
	addOAuth := func(what string, o *config.OAuth2Config) {
		if o == nil {
			return
		}
		add(what+" oauth2", o.ClientSecret)
		for _, f := range []string{o.ClientKeyFile, o.ServiceAccountKeyFile} {
			if w := oauth.KeyFileWarning(f); w != "" {
				out = append(out, what+" oauth2: "+w)
			}
		}
	}
	add("smtp", cfg.SMTP.Password)
	addOAuth("smtp", cfg.SMTP.OAuth2)
	add("store", config.Secret{Env: cfg.Store.PasswordEnv, File: cfg.Store.PasswordFile})
	if cfg.Push != nil {
		add("push", cfg.Push.Password)
	}
	for _, d := range cfg.Departments {
		add(fmt.Sprintf("department %q imap", d.Name), d.IMAP.Password)
		addOAuth(fmt.Sprintf("department %q imap", d.Name), d.IMAP.OAuth2)
	}
	return out
}

// OAuthFiles is what `ackd check` says about the files the oauth2 blocks
// name (see oauth.CheckFiles), each line prefixed with its section. Only
// check calls it: `ackd run` reads the files anyway, and refuses the bad
// ones, when it builds the token sources.
func OAuthFiles(cfg *config.Config, now time.Time) oauth.FileReport {
	var out oauth.FileReport
	seen := map[string]bool{}
	add := func(what string, o *config.OAuth2Config) {
		r := oauth.CheckFiles(o, now, seen)
		for _, s := range r.Notes {
			out.Notes = append(out.Notes, what+" oauth2: "+s)
		}
		for _, s := range r.Warnings {
			out.Warnings = append(out.Warnings, what+" oauth2: "+s)
		}
		for _, s := range r.Problems {
			out.Problems = append(out.Problems, what+" oauth2: "+s)
		}
	}
	add("smtp", cfg.SMTP.OAuth2)
	for _, d := range cfg.Departments {
		add(fmt.Sprintf("department %q imap", d.Name), d.IMAP.OAuth2)
	}
	return out
}

// TLSConfig builds the client TLS settings: verification on, the optional
// CA file added to the pool.
func TLSConfig(host, caFile string, insecureSkipVerify bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Daemon runs every department's watcher and the outbox sender.
type Daemon struct {
	store   store.Store
	rt      atomic.Pointer[Runtime]
	proc    *Processor
	sender  *outbox.Sender
	sched   *Scheduler
	digest  *Digester
	log     *slog.Logger
	watched map[string]*Watcher
	copies  *sentCopies // imap.append_sent, see sentcopy.go
	ha      HA          // WithHA; zero = single replica
	leaser  store.Leaser
	claims  *claimQueue // the sender's queue under HA
	owned   *holdings   // departments leased now, under HA
}

// NewDaemon wires a daemon for cfg. It reads the secrets now, so a missing
// password is reported at start, not on the first message. Of opts it
// reads WithHA and OnOutcome (passed to its processor).
func NewDaemon(cfg *config.Config, tpl *templates.Set, st store.Store, log *slog.Logger, opts ...Option) (*Daemon, error) {
	o := buildOptions(opts)
	if o.ha != nil && o.leaser == nil {
		return nil, errors.New("ha: no store to take leases from")
	}
	rt, err := NewRuntime(cfg, tpl)
	if err != nil {
		return nil, err
	}
	d := &Daemon{store: st, log: log, watched: map[string]*Watcher{}}
	d.rt.Store(rt)
	for _, w := range SecretWarnings(cfg) {
		log.Warn(w)
	}
	if err := AdoptDepartments(context.Background(), st, cfg, log); err != nil {
		return nil, err
	}

	smtpPass, err := secret.Read(cfg.SMTP.Password.Env, cfg.SMTP.Password.File)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	smtpCfg := outbox.SMTPConfig{
		Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS,
		Username: cfg.SMTP.Username, Password: smtpPass,
		InsecureSkipVerify: cfg.SMTP.InsecureSkipVerify, Timeout: cfg.SMTP.Timeout,
	}
	if cfg.SMTP.CAFile != "" {
		tc, err := TLSConfig(cfg.SMTP.Host, cfg.SMTP.CAFile, false)
		if err != nil {
			return nil, fmt.Errorf("smtp: %w", err)
		}
		smtpCfg.RootCAs = tc.RootCAs
	}
	if a, err := oauthAuth(cfg.SMTP.OAuth2, cfg.SMTP.Username, cfg.SMTP.Host, cfg.SMTP.Port, log); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	} else if a != nil {
		smtpCfg.Auth = a
	}
	d.copies = newSentCopies(log.With("component", "sentcopy"))
	d.claims = &claimQueue{queue: queue{st}}
	d.sender = outbox.NewSender(d.copies.wrap(d.claims), smtpCfg, log.With("component", "outbox"),
		outbox.WithGate(NewLimitGate(st, d.Runtime)), outbox.WithKeepAlive(cfg.SMTP.KeepAlive))
	var owns Option
	if o.ha != nil {
		// Under HA the scheduler and digester fire only for the departments
		// whose lease d holds; a department just taken may owe steps its
		// dead holder did not fire, so taking one kicks both (they exist
		// before any lease is taken: leases are taken in Run).
		d.owned = newHoldings(func() { d.sched.Kick(); d.digest.Kick() })
		owns = OnlyDepartments(d.owned.owns)
	}
	d.sched = NewScheduler(st, d.Runtime, time.Now, d.sender.Kick, log.With("component", "scheduler"), owns)
	d.proc = NewProcessor(st, d.Runtime, time.Now, d.sender.Kick, d.sched.Kick, log.With("component", "processor"), OnOutcome(o.onOutcome))
	d.digest = NewDigester(st, d.Runtime, time.Now, d.sender.Kick, log.With("component", "digest"), owns)

	for _, dept := range cfg.Departments {
		wlog := log.With("dept", dept.Name)
		mb, err := DepartmentMailbox(cfg, dept, wlog)
		if err != nil {
			return nil, err
		}
		// Watchers, leases and sent copies go by the department's key,
		// like everything the store keeps about it.
		key := dept.Key()
		if dept.IMAP.AppendSent {
			d.copies.add(key, mb, dept.IMAP.SentMailbox)
		}
		d.watched[key] = NewWatcher(mb, checkpoints{st: st, dept: key}, d.proc.Handler(key), wlog)
		if dept.IMAP.SentMailbox != "" {
			// Staff who answer from the shared account leave their reply
			// here, not in the INBOX.
			sent := mb
			sent.Mailbox = dept.IMAP.SentMailbox
			d.watched[key+"/sent"] = NewWatcher(sent, checkpoints{st: st, dept: key}, d.proc.SentHandler(key), wlog)
		} else if dept.IMAP.DiscoverSent {
			sent := mb
			sent.Mailbox, sent.DiscoverSent = "", true
			d.watched[key+"/sent"] = NewWatcher(sent, checkpoints{st: st, dept: key}, d.proc.SentHandler(key), wlog)
		}
	}
	if o.ha != nil {
		d.enableHA(*o.ha, o.leaser)
	}
	return d, nil
}

// DepartmentMailbox is how to reach dept's INBOX, with its secrets read.
func DepartmentMailbox(cfg *config.Config, dept *config.Department, log *slog.Logger) (MailboxConfig, error) {
	pass, err := secret.Read(dept.IMAP.Password.Env, dept.IMAP.Password.File)
	if err != nil {
		return MailboxConfig{}, fmt.Errorf("department %q imap: %w", dept.Name, err)
	}
	tc, err := TLSConfig(dept.IMAP.Host, dept.IMAP.CAFile, dept.IMAP.InsecureSkipVerify)
	if err != nil {
		return MailboxConfig{}, fmt.Errorf("department %q imap: %w", dept.Name, err)
	}
	mb := MailboxConfig{
		Addr: net.JoinHostPort(dept.IMAP.Host, strconv.Itoa(dept.IMAP.Port)), TLS: dept.IMAP.TLS,
		Username: dept.IMAP.Username, Password: pass, TLSConfig: tc,
		Mailbox: dept.IMAP.Mailbox, IDLE: dept.IMAP.IDLE, PollInterval: dept.IMAP.PollInterval,
		MaxMessageBytes: cfg.Limits.MaxMessageBytes,
		Backfill:        dept.Backfill, MaxAge: dept.MaxAge,
	}
	if a, err := oauthAuth(dept.IMAP.OAuth2, dept.IMAP.Username, dept.IMAP.Host, dept.IMAP.Port, log); err != nil {
		return MailboxConfig{}, fmt.Errorf("department %q imap: %w", dept.Name, err)
	} else if a != nil {
		mb.Auth = a
	}
	return mb, nil
}

// Runtime is the configuration in force.
func (d *Daemon) Runtime() *Runtime { return d.rt.Load() }

// Reload swaps in new rules and templates for the next message, then
// wakes the scheduler and the digester so they plan with the new ones (new
// ladders, commitments, digest times). Mailbox connection settings are
// read at start; a change to them is logged as needing a restart rather
// than half-applied. A refused reload changes nothing and wakes nobody.
func (d *Daemon) Reload(cfg *config.Config, tpl *templates.Set) error {
	old := d.rt.Load()
	for _, dept := range old.Config.Departments {
		found := false
		for _, nd := range cfg.Departments {
			if nd.Key() == dept.Key() {
				found = true
				if !sameIMAP(nd.IMAP, dept.IMAP) {
					d.log.Warn("IMAP settings changed; they take effect after a restart", "dept", dept.Name)
				}
			}
		}
		if !found {
			return fmt.Errorf("reload: department %q removed; restart ackd to stop watching it", dept.Name)
		}
	}
	for _, nd := range cfg.Departments {
		if _, ok := d.watched[nd.Key()]; !ok {
			return fmt.Errorf("reload: department %q added; restart ackd to start watching it", nd.Name)
		}
	}
	rt, err := NewRuntime(cfg, tpl)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	d.rt.Store(rt)
	d.sched.Kick()
	d.digest.Kick()
	return nil
}

// OutboxFault reports mail held because the SMTP server cannot be
// reached; nil when the outbox is empty or the last attempt got through.
func (d *Daemon) OutboxFault() error {
	err := d.sender.Fault()
	if err == nil {
		return nil
	}
	n, perr := d.store.PendingMail(context.Background())
	if perr != nil || n == 0 {
		return nil
	}
	return fmt.Errorf("outbox: %d mail(s) held, the SMTP server is unreachable: %w", n, err)
}

// Ready reports whether every mailbox session is up and the outbox can
// reach its SMTP server while mail waits.
func (d *Daemon) Ready() error {
	var errs []error
	if err := d.OutboxFault(); err != nil {
		errs = append(errs, err)
	}
	for name, w := range d.watched {
		if ok, err := w.Connected(); !ok {
			if errors.Is(err, ErrNoSentMailbox) {
				// Nothing to watch is not an outage; the watcher said so once.
				continue
			}
			errs = append(errs, fmt.Errorf("department %q: imap not connected: %v", d.mailboxName(name), err))
		}
	}
	return errors.Join(errs...)
}

// MailboxStatus is one watched mailbox's IMAP session, for /readyz and
// the connected gauge.
type MailboxStatus struct {
	Name      string // the department, or "<department>/sent"
	Connected bool
	Err       error // the last session error while not connected
}

// Mailboxes reports every watched mailbox's session, sorted by name. A
// discovered Sent mailbox the server does not have is left out: there is
// no session to be up, and /readyz must not wait for one.
func (d *Daemon) Mailboxes() []MailboxStatus {
	out := make([]MailboxStatus, 0, len(d.watched))
	for name, w := range d.watched {
		ok, err := w.Connected()
		if !ok && errors.Is(err, ErrNoSentMailbox) {
			continue
		}
		out = append(out, MailboxStatus{Name: d.mailboxName(name), Connected: ok, Err: err})
	}
	slices.SortFunc(out, func(a, b MailboxStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// mailboxName shows a watcher's key ("it@example.test/sent") with the
// department's display name ("IT Help Desk/sent").
func (d *Daemon) mailboxName(key string) string {
	cfg := d.rt.Load().Config
	if dept, ok := strings.CutSuffix(key, "/sent"); ok {
		return cfg.DepartmentName(dept) + "/sent"
	}
	return cfg.DepartmentName(key)
}

// AdoptDepartments moves the state of every configured department that
// the store still keeps under its display name (as ackd did before
// departments were keyed by address) to its Key, so an existing database
// keeps its checkpoints, references and requests. Run it before anything
// reads or writes department state.
func AdoptDepartments(ctx context.Context, st store.Store, cfg *config.Config, log *slog.Logger) error {
	for _, dept := range cfg.Departments {
		moved, err := st.AdoptDepartment(ctx, dept.Name, dept.Key())
		if err != nil {
			return fmt.Errorf("department %q: %w", dept.Name, err)
		}
		if moved {
			log.Info("department state moved from its display name to its address", "dept", dept.Name, "key", dept.Key())
		}
	}
	return nil
}

// Run watches every mailbox and drains the outbox until ctx is done. On
// cancellation each watcher finishes the message in hand and the sender the
// delivery in flight; then Run returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	stopCopies := d.copies.start(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, len(d.watched)+3)
	if d.ha.ReplicaID != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			superviseLeases(ctx, d.leaser, d.ha, d.leaseWork(), time.Now, d.owned, d.log.With("component", "leases"))
		}()
	} else {
		for name, w := range d.watched {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.Run(ctx); err != nil {
					errs <- fmt.Errorf("department %q: %w", d.mailboxName(name), err)
				}
			}()
		}
	}
	// Under leases the scheduler's and digester's writes for a department
	// carry its lease generation: one this replica lost while frozen is
	// refused (store.ErrFenced).
	planCtx := ctx
	if d.ha.ReplicaID != "" {
		planCtx = store.WithFences(ctx, d.owned.fence)
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := d.digest.Run(planCtx); err != nil {
			errs <- fmt.Errorf("digest: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.sender.Run(ctx); err != nil {
			errs <- fmt.Errorf("outbox: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.sched.Run(planCtx); err != nil {
			errs <- fmt.Errorf("scheduler: %w", err)
		}
	}()
	wg.Wait()
	stopCopies() // after the sender: its last delivery may still copy
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// checkpoints stores a department's mailbox sync state.
type checkpoints struct {
	st   store.Store
	dept string
}

func (c checkpoints) Load(ctx context.Context, mailbox string) (uint32, uint32, error) {
	s, err := c.st.SyncState(ctx, c.dept, mailbox)
	return s.UIDValidity, s.LastUID, err
}

func (c checkpoints) Save(ctx context.Context, mailbox string, validity, last uint32) error {
	return c.st.SaveSyncState(ctx, c.dept, mailbox, store.SyncState{UIDValidity: validity, LastUID: last})
}

// Batch records a fetch group and its checkpoint in one store
// transaction (Batcher).
func (c checkpoints) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	return c.st.Batch(ctx, fn)
}

// Park records a message the watcher moved on past (Parker); what the
// message says of itself is read best-effort for `ackd status`.
func (c checkpoints) Park(ctx context.Context, msg Fetched, attempts int, cause error) error {
	p := store.Parked{Dept: c.dept, Mailbox: msg.Mailbox, UIDValidity: msg.UIDValidity, UID: msg.UID,
		Size: msg.Size, ReceivedAt: msg.InternalDate, Attempts: attempts, LastError: cause.Error()}
	if msg.Raw != nil {
		if m, err := parse.Parse(msg.Raw, parse.Options{}); err == nil {
			p.MessageID, p.From, p.Subject = m.MessageID, m.From.Address, m.Subject
		}
	}
	return c.st.ParkMessage(ctx, p)
}

// Parked lists the UIDs parked in mailbox under uidValidity (Parker).
func (c checkpoints) Parked(ctx context.Context, mailbox string, uidValidity uint32) ([]uint32, error) {
	all, err := c.st.ParkedMessages(ctx, c.dept)
	if err != nil {
		return nil, err
	}
	var uids []uint32
	for _, p := range all {
		if p.Mailbox == mailbox && p.UIDValidity == uidValidity {
			uids = append(uids, p.UID)
		}
	}
	slices.Sort(uids)
	return uids, nil
}

// Unpark forgets a parked message (Parker).
func (c checkpoints) Unpark(ctx context.Context, mailbox string, uidValidity, uid uint32) error {
	err := c.st.UnparkMessage(ctx, c.dept, mailbox, uidValidity, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
