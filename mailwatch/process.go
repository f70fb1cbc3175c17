package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// Runtime is the configuration in force: the config, its rules compiled
// and templates that were validated together. A reload swaps the whole
// value.
type Runtime struct {
	Config *config.Config
	// Rules are Config's rules compiled; a nil Set matches no rule, so
	// every message goes to the default category.
	Rules     *rules.Set
	Templates *templates.Set
}

// NewRuntime compiles cfg's rules and pairs them with cfg and tpl.
func NewRuntime(cfg *config.Config, tpl *templates.Set) (*Runtime, error) {
	set, err := rules.Compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("compile rules: %w", err)
	}
	return &Runtime{Config: cfg, Rules: set, Templates: tpl}, nil
}

// Department returns the department whose Key is key, or nil. A
// department's display name is accepted too, for callers that hold one
// (tests, the command line); the store is only ever given the Key.
func (rt *Runtime) Department(key string) *config.Department {
	if d := rt.Config.DepartmentByKey(key); d != nil {
		return d
	}
	for _, d := range rt.Config.Departments {
		if d.Name == key {
			return d
		}
	}
	return nil
}

// Outcome says what the processor did with one message.
type Outcome struct {
	Key      string
	Decision rules.Decision
	// Action: "receipt", "skipped", "follow-up", "duplicate".
	Action  string
	Ref     string // the request's reference, for receipts and follow-ups
	Request store.Request
}

// Processor turns fetched mail into recorded requests and queued receipts.
// It is safe for concurrent use by every department's watcher.
type Processor struct {
	store   store.Store
	runtime func() *Runtime
	now     func() time.Time
	kick    func()
	wake    func() // the scheduler, when a request's clock changed
	log     *slog.Logger
	// onOutcome, when set (the OnOutcome option), is told of every
	// message the Handler and SentHandler process without error.
	onOutcome func(dept string, o Outcome)
	// subjects remembers the words of the subjects the burst check
	// compares (lifecycle.Subjects).
	subjects *lifecycle.Subjects
}

// NewProcessor builds a processor. runtime returns the configuration in
// force at the moment a message is handled; now is the clock (time.Now
// when nil) that max_age is measured against and mail is dated by; kick
// wakes the outbox sender, wake the scheduler when a request's clock
// changed (Scheduler.Kick; nil for none).
// Sending limits are no concern of the processor: every request is
// recorded with its receipt, and the sender holds what a limit refuses
// (see limit.go). Of opts it reads OnOutcome.
func NewProcessor(st store.Store, runtime func() *Runtime, now func() time.Time, kick, wake func(), log *slog.Logger, opts ...Option) *Processor {
	if kick == nil {
		kick = func() {}
	}
	if wake == nil {
		wake = func() {}
	}
	if now == nil {
		now = time.Now
	}
	o := buildOptions(opts)
	return &Processor{store: st, runtime: runtime, now: now, kick: kick, wake: wake, log: log, onOutcome: o.onOutcome,
		subjects: &lifecycle.Subjects{}}
}

// tooOld says whether a message that arrived at at is older than the
// department's max_age, and the reason recorded with it.
func (p *Processor) tooOld(dept *config.Department, at time.Time) (string, bool) {
	if !dept.TooOld(at, p.now()) {
		return "", false
	}
	return fmt.Sprintf("arrived %s, more than max_age (%s) ago: ackd sends no mail about it",
		at.Format(time.RFC3339), config.FormatAge(dept.MaxAgeOrDefault())), true
}

// composeTime is the Date of mail composed now: the clock's reading, not
// the arrival time of the message that caused it. A clock that reads zero
// (a test that never set its fake clock) falls back to the arrival.
func (p *Processor) composeTime(arrival time.Time) time.Time {
	if now := p.now(); !now.IsZero() {
		return now
	}
	return arrival
}

// machineRefusal says whether a refusal means the message came from a
// robot. Only those are dropped before threading: mail from outside
// allowed_senders, mail that does not name the department, and mail from
// the department's own address (a person answering from the shared
// account) still count on a known thread.
func machineRefusal(code rules.Refusal) bool {
	switch code {
	case rules.RefuseNotAllowed, rules.RefuseNotAddressed, rules.RefuseOwnAddress:
		return false
	}
	return true
}

// Handler returns the watcher Handler for one department's mailbox.
func (p *Processor) Handler(dept string) Handler {
	return func(ctx context.Context, f Fetched) error {
		o, err := p.Process(ctx, dept, f)
		if err != nil {
			return err
		}
		if p.onOutcome != nil {
			store.AfterCommit(ctx, func() { p.onOutcome(dept, o) })
		}
		return nil
	}
}

// refTag finds "[REQ-12]" in a subject.
var refTag = regexp.MustCompile(`\[(REQ-[0-9]+)\]`)

// Process handles one message of a department's INBOX durably: it is
// recorded as a new request with its receipt in the outbox, as a
// follow-up on a known thread, or as skipped with the reason. A message
// already processed is a no-op. A message whose handling fails because of
// its content (IsPermanent) is recorded as skipped with the error, so the
// mailbox moves on; only transient errors (store, clock) are returned.
func (p *Processor) Process(ctx context.Context, deptName string, f Fetched) (Outcome, error) {
	return p.handle(ctx, deptName, f, false)
}

// ProcessSent handles one message of a department's Sent mailbox, where
// mail staff send from the shared account lands: on a known thread it is
// an answer; anything else is recorded as skipped. Like Process, a
// message that fails because of its content is recorded as skipped.
func (p *Processor) ProcessSent(ctx context.Context, deptName string, f Fetched) (Outcome, error) {
	return p.handle(ctx, deptName, f, true)
}

func (p *Processor) handle(ctx context.Context, deptName string, f Fetched, fromSent bool) (Outcome, error) {
	o, err := p.process(ctx, deptName, f, fromSent)
	if IsPermanent(err) {
		return p.skipUnprocessable(ctx, deptName, f, err)
	}
	return o, err
}

// process is the one path of every message, from the INBOX or from the
// Sent mailbox (fromSent): parse, recognise what was seen or is too old,
// then a message on a known thread is stepped through the lifecycle as a
// follow-up (where only Sent mail is proven staff mail by where it was
// read), and one on no thread becomes a new request (INBOX) or is
// recorded as not a thread (Sent).
func (p *Processor) process(ctx context.Context, deptName string, f Fetched, fromSent bool) (Outcome, error) {
	rt := p.runtime()
	dept := rt.Department(deptName)
	if dept == nil {
		return Outcome{}, fmt.Errorf("department %q is not configured", deptName)
	}
	deptName = dept.Key() // the store knows departments by their key
	log := p.log.With("dept", dept.Name, "mailbox", f.Mailbox, "uid", f.UID)
	limits := rt.Config.Limits

	// input is what Decide refused, kept with the skip for ackd replay;
	// "" when the skip is not Decide's.
	recordSkip := func(key string, m *rules.Message, refusal rules.Refusal, reason, input string) (Outcome, error) {
		s := store.Skipped{Dept: deptName, Mailbox: f.Mailbox, UID: f.UID, MessageKey: key, Reason: reason, Refusal: string(refusal),
			At: f.InternalDate, DecideInput: input}
		if m != nil {
			s.MessageID, s.From, s.Subject = m.MessageID, m.From.Address, m.Subject
		}
		err := p.store.RecordSkipped(ctx, s)
		if errors.Is(err, store.ErrDuplicate) {
			return Outcome{Key: key, Action: "duplicate"}, nil
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("record skipped message: %w", err)
		}
		if fromSent {
			// Most of what staff send is on no request: not news.
			log.Debug("sent message not tracked", "key", key, "refusal", refusal, "reason", reason)
		} else {
			log.Info("skipped message", "key", key, "refusal", refusal, "reason", reason)
		}
		return Outcome{Key: key, Action: "skipped", Decision: rules.Decision{Refusal: refusal, Reason: reason}}, nil
	}
	skip := func(key string, m *rules.Message, refusal rules.Refusal, reason string) (Outcome, error) {
		return recordSkip(key, m, refusal, reason, "")
	}
	// refused skips m as Decide refused it (d).
	refused := func(key string, m *rules.Message, d rules.Decision) (Outcome, error) {
		o, err := recordSkip(key, m, d.Refusal, d.Reason, skippedInput(m, d))
		o.Decision = d
		return o, err
	}

	if f.TooLarge {
		// No body was fetched; the UID within its UIDVALIDITY is the only
		// stable name it has.
		key := fmt.Sprintf("too-large-%d-%d@ackd.invalid", f.UIDValidity, f.UID)
		if fromSent {
			key = fmt.Sprintf("too-large-sent-%d-%d@ackd.invalid", f.UIDValidity, f.UID)
		}
		return skip(key, nil, "too-large", fmt.Sprintf("message of %d bytes exceeds max_message_bytes (%d)", f.Size, limits.MaxMessageBytes))
	}
	m, err := parse.Parse(f.Raw, parse.Options{MaxBytes: limits.MaxMessageBytes, MaxTextBytes: limits.MaxTextBytes})
	if err != nil {
		return skip(parse.SyntheticID(f.Raw), nil, parseRefusal(err), "malformed message: "+err.Error())
	}
	key := parse.Key(m, f.Raw)
	seen, err := p.store.Seen(ctx, deptName, key)
	if err != nil {
		return Outcome{}, fmt.Errorf("check whether %s was seen: %w", key, err)
	}
	if seen {
		return Outcome{Key: key, Action: "duplicate"}, nil
	}
	if fromSent && m.Has(rules.LoopHeader) {
		return skip(key, m, "own-copy", "ackd's own copy in the Sent folder")
	}

	at := f.InternalDate
	if at.IsZero() {
		at = p.now()
	}
	if why, old := p.tooOld(dept, at); old {
		return skip(key, m, rules.RefuseTooOld, why)
	}
	// Mail sent from the shared account is not a request: Decide judges
	// only what arrives.
	var d rules.Decision
	if !fromSent {
		d = rt.Rules.Decide(dept, m, at)
		if !d.Reply && machineRefusal(d.Refusal) {
			// A staff member's out-of-office on a request's thread is
			// kept on it (never an answer, never relayed); any other
			// robot is skipped.
			if req, ok, err := p.staffAutoReply(ctx, dept, m, d.Refusal); err != nil {
				return Outcome{}, err
			} else if ok {
				o, err := p.followUp(ctx, rt, dept, req, m, f, key, at, false)
				o.Decision = d
				return o, err
			}
			return refused(key, m, d)
		}
	}
	// A message on a known thread is an answer, a reminder or a reopening,
	// never a new request: at most one receipt per thread.
	if req, ok, err := p.findThread(ctx, deptName, m); err != nil {
		return Outcome{}, err
	} else if ok {
		o, err := p.followUp(ctx, rt, dept, req, m, f, key, at, fromSent)
		o.Decision = d
		return o, err
	}
	if fromSent {
		return skip(key, m, "not-a-thread", "sent from the shared account on no known request")
	}
	if why, ok, err := p.awayCommand(ctx, dept, m, at); err != nil {
		return Outcome{}, err
	} else if ok {
		// #away or #back sent to the department: no request.
		return skip(key, m, "team-command", why)
	}
	if !d.Reply {
		return refused(key, m, d)
	}
	// Written to two departments at once: a primary among the others
	// takes it alone; otherwise each registers it and says so.
	var also []string
	for _, o := range rules.AlsoAddressed(rt.Config, dept, m) {
		switch {
		case o.Primary && !dept.Primary:
			return skip(key, m, "other-department-primary", "also addressed to "+o.Name+", which takes such mail alone (primary)")
		case o.Primary || !dept.Primary:
			also = append(also, o.Name) // it registers the message too
		}
	}
	return p.newRequest(ctx, rt, dept, m, d, f, key, at, also)
}

// newRequest records m as a new request: the lifecycle makes it one and
// asks for its receipt, which is rendered inside the store's transaction
// once the reference is known, so the Message-ID it fixes is the one that
// will be sent, however often the sender retries.
func (p *Processor) newRequest(ctx context.Context, rt *Runtime, dept *config.Department, m *rules.Message, d rules.Decision, f Fetched, key string, at time.Time, also []string) (Outcome, error) {
	input, err := EncodeDecideInput(m, d)
	if err != nil {
		return Outcome{}, err
	}
	promised, later, err := p.promise(ctx, dept, d.Category, at, d.DueAt)
	if err != nil {
		return Outcome{}, err
	}
	// Requests alike just before this one: a burst the leads should hear
	// of, or an incident staff already described (#incident).
	inc, err := p.burstOf(ctx, dept, m.Subject, d.Rule, at)
	if err != nil {
		return Outcome{}, err
	}
	ev := &lifecycle.Received{Decision: d, References: m.References, Incident: inc.text, Also: also}
	if later {
		ev.Promise = promised
	}
	life := lifecycle.Request{MessageID: m.MessageID, Requester: m.From.Address, RequesterName: m.From.Name,
		Subject: m.Subject, Text: excerpt(m.Text, 4000), Recipients: recipientsOf(dept, m)}
	t := lifecycle.Step(dept, life, ev, at)
	n := t.Next
	req, err := p.store.RecordRequest(ctx, store.NewRequest{
		Dept: dept.Key(), MessageKey: key, MessageID: n.MessageID, Mailbox: f.Mailbox, UID: f.UID,
		Requester: n.Requester, RequesterName: n.RequesterName, Subject: n.Subject,
		Category: n.Category, Rule: d.Rule, Language: n.Language, ReceivedAt: n.ReceivedAt, DueAt: n.DueAt, PromisedAt: n.PromisedAt,
		Text: n.Text, ThreadKeys: threadKeys(m), State: n.State, Recipients: n.Recipients, DecideInput: input,
		NextWake: t.Wake,
	}, func(ref string) ([]store.NewMail, error) {
		intents := slices.Clone(t.Mail)
		for i := range intents {
			intents[i].Request.Ref = ref
		}
		return renderAll(rt, dept, intents, p.composeTime(at))
	})
	if errors.Is(err, store.ErrDuplicate) {
		return Outcome{Key: key, Action: "duplicate"}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("record request: %w", err)
	}
	if req, err = p.joinBurst(ctx, rt, dept, req, inc, at); err != nil {
		// Recorded and acknowledged: a link or an alert that failed is
		// logged, not worth failing the message for.
		p.log.Warn("request not linked to its incident, or the leads not told", "dept", dept.Name, "ref", req.Ref, "err", err)
	}
	if req, err = p.assignNew(ctx, dept, req, at); err != nil {
		// The request and its receipt are recorded: an owner that could
		// not be given is not worth failing the message for.
		p.log.Warn("request left without an owner", "dept", dept.Name, "ref", req.Ref, "err", err)
	}
	// In a watcher's batch the request is durable, and its receipt
	// visible to the sender, only once the batch commits.
	store.AfterCommit(ctx, func() {
		p.log.Info("request acknowledged", "dept", dept.Name, "mailbox", f.Mailbox, "uid", f.UID, "ref", req.Ref, "from", m.From.Address, "category", d.Category, "rule", d.Rule, "due", d.DueAt, "promised", promised,
			"language", d.Language, "language_reason", d.LanguageReason, "owner", req.AssignedTo)
		p.kick()
		p.wake()
	})
	return Outcome{Key: key, Decision: d, Action: "receipt", Ref: req.Ref, Request: req}, nil
}

// ReceiptLinks are the decision's links as the receipt template takes them.
func ReceiptLinks(d rules.Decision) []templates.Link { return receiptLinks(d.Links) }

func receiptLinks(ls []rules.DecisionLink) []templates.Link {
	var out []templates.Link
	for _, k := range ls {
		out = append(out, templates.Link{Title: k.Title, URL: k.URL})
	}
	return out
}

// parseRefusal is the refusal code for a message Parse gave up on: one
// that arrived whole but over max_message_bytes (a server that does not
// report RFC822.SIZE, or a size that grew) is "too-large" like one the
// watcher never fetched.
func parseRefusal(err error) rules.Refusal {
	if errors.Is(err, parse.ErrTooLarge) {
		return "too-large"
	}
	return "malformed"
}

// staffAutoReply finds the request whose thread an auto-reply from staff,
// a lead or the department's own address is on. Only auto-reply refusals
// count: ackd's own mail, bounces, lists and other departments stay
// skipped.
func (p *Processor) staffAutoReply(ctx context.Context, dept *config.Department, m *rules.Message, refusal rules.Refusal) (store.Request, bool, error) {
	switch refusal {
	case rules.RefuseAutoSubmitted, rules.RefuseAutoReply, rules.RefuseSuppress, rules.RefusePrecedence,
		rules.RefuseNullReturnPath, rules.RefuseHeuristic:
	default:
		return store.Request{}, false, nil
	}
	if _, auto := rules.AutoReply(m); !auto {
		return store.Request{}, false, nil
	}
	req, ok, err := p.findThread(ctx, dept.Key(), m)
	if err != nil || !ok {
		return store.Request{}, false, err
	}
	if lifecycle.RoleOf(dept, toLife(req), m.From.Address) != lifecycle.Staff {
		return store.Request{}, false, nil
	}
	return req, true, nil
}

func (p *Processor) findThread(ctx context.Context, dept string, m *rules.Message) (store.Request, bool, error) {
	// In-Reply-To first, then References newest first: the store gives the
	// earliest key that matches precedence.
	var keys []string
	keys = append(keys, m.InReplyTo...)
	for i := len(m.References) - 1; i >= 0; i-- {
		keys = append(keys, m.References[i])
	}
	if len(keys) > 0 {
		req, err := p.store.FindThread(ctx, dept, keys)
		if err == nil {
			return req, true, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Request{}, false, fmt.Errorf("find thread: %w", err)
		}
	}
	// Clients that drop References still keep the subject tag.
	if tag := refTag.FindStringSubmatch(m.Subject); tag != nil {
		req, err := p.store.RequestByRef(ctx, dept, tag[1])
		if err == nil {
			return req, true, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Request{}, false, fmt.Errorf("find %s: %w", tag[1], err)
		}
	}
	return store.Request{}, false, nil
}

func threadKeys(m *rules.Message) []string {
	if m.MessageID == "" {
		return nil
	}
	return []string{m.MessageID}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "ackd.invalid"
}

// excerpt cuts text to about n bytes on a line or rune boundary.
func excerpt(text string, n int) string {
	text = strings.TrimSpace(text)
	if len(text) <= n {
		return text
	}
	cut := strings.LastIndexByte(text[:n], '\n')
	if cut < n/2 {
		cut = n
		for cut > 0 && !utf8RuneStart(text[cut]) {
			cut--
		}
	}
	return strings.TrimSpace(text[:cut]) + "\n…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// recipientsOf lists the other addresses a new request was written to: its
// To and Cc without the department's own addresses and the requester.
func recipientsOf(d *config.Department, m *rules.Message) []string {
	var out []string
	for _, list := range [][]rules.Address{m.To, m.Cc} {
		for _, a := range list {
			addr := strings.TrimSpace(a.Address)
			if addr == "" || lifecycle.IsDeptAddress(d, addr) || rules.EqualAddress(addr, m.From.Address) ||
				slices.ContainsFunc(out, func(o string) bool { return rules.EqualAddress(o, addr) }) {
				continue
			}
			out = append(out, addr)
		}
	}
	return out
}

// authority says whether a staff-looking mail is proven to come from its
// From address, and how, or why not; the processor finds it (it may ask
// the store) before the lifecycle steps.
type authority struct {
	proven bool
	how    string
}

// proveAuthor finds what proves that a staff-looking mail on req's thread
// comes from its From address: it was read from the department's Sent
// mailbox; or it names in In-Reply-To or References a Message-ID only the
// thread's participants know, the request's own or one ackd gave mail to
// staff about this request (128 random bits each); or the department's
// trusted Authentication-Results show positive, aligned authentication.
// A subject tag never proves anything, and trusted results that say the
// sender was forged outweigh a reference.
func (p *Processor) proveAuthor(ctx context.Context, d *config.Department, req store.Request, m *rules.Message, fromSent bool) (authority, error) {
	if fromSent {
		return authority{proven: true, how: "from the department's Sent mailbox"}, nil
	}
	if why, forged := rules.AuthFailure(d, m); forged {
		return authority{how: why}, nil
	}
	refs := append(slices.Clone(m.InReplyTo), m.References...)
	for _, id := range refs {
		if req.MessageID != "" && sameMessageID(id, req.MessageID) {
			return authority{proven: true, how: "replies to the request's own message"}, nil
		}
	}
	mails, err := p.store.ThreadMail(ctx, req.ID, refs)
	if err != nil {
		return authority{}, fmt.Errorf("look up the mail %s replies to: %w", req.Ref, err)
	}
	for _, ml := range mails {
		if wentToStaff(req, ml) {
			return authority{proven: true, how: "replies to ackd's " + ml.Kind + " " + ml.MessageID}, nil
		}
	}
	how, ok := rules.AuthProof(d, m)
	if ok {
		return authority{proven: true, how: how}, nil
	}
	why := "not from the Sent mailbox; In-Reply-To and References name no mail ackd sent to staff about " + req.Ref + " nor the request itself"
	if len(refs) == 0 {
		why = "not from the Sent mailbox; no In-Reply-To or References (a subject tag proves nothing)"
	}
	return authority{how: why + "; " + how}, nil
}

// wentToStaff says whether an outbox mail went to someone other than the
// requester: escalations, command help, notices. Mail only the requester
// got (receipt, relay, late notice …) proves nothing more than the
// request's own Message-ID already does.
func wentToStaff(req store.Request, ml store.Mail) bool {
	for _, a := range ml.Recipients {
		if !rules.EqualAddress(a, req.Requester) {
			return true
		}
	}
	return false
}

func sameMessageID(a, b string) bool {
	trim := func(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }
	return trim(a) != "" && trim(a) == trim(b)
}

// noticedRecently says whether addr was told within UnprovenNoticeEvery of
// at that a mail in its name on req was not acted on.
func (p *Processor) noticedRecently(ctx context.Context, req store.Request, addr string, at time.Time) (bool, error) {
	evs, err := p.store.Events(ctx, req.ID)
	if err != nil {
		return false, fmt.Errorf("read the history of %s: %w", req.Ref, err)
	}
	for _, e := range evs {
		if e.Kind == EventUnprovenNotice && rules.EqualAddress(e.Actor, addr) && at.Sub(e.At).Abs() < lifecycle.UnprovenNoticeEvery {
			return true, nil
		}
	}
	return false, nil
}

// followUp applies a message on a known thread: the lifecycle steps the
// request with it and the mail it asks for is rendered and queued, all at
// the version read, stepping again if the request changed meanwhile (the
// scheduler may have fired a step). Mail from the INBOX and from the Sent
// mailbox (fromSent) both come this way.
func (p *Processor) followUp(ctx context.Context, rt *Runtime, dept *config.Department, req store.Request, m *rules.Message, f Fetched, key string, at time.Time, fromSent bool) (Outcome, error) {
	// A request moved to another department (#forward) goes on there:
	// mail on its old thread is threaded into the request it became.
	req, dept, err := p.movedTo(ctx, rt, dept, req)
	if err != nil {
		return Outcome{}, err
	}
	for attempt := 0; ; attempt++ {
		life, err := lifeOf(ctx, p.store, dept, req)
		if err != nil {
			return Outcome{}, fmt.Errorf("follow-up on %s: %w", req.Ref, err)
		}
		if life.Away, err = awayAt(ctx, p.store, dept.Key(), at); err != nil {
			return Outcome{}, fmt.Errorf("follow-up on %s: %w", req.Ref, err)
		}
		ev := &lifecycle.Message{From: m.From, Role: lifecycle.RoleOf(dept, life, m.From.Address), FromSent: fromSent,
			ToRequester: addressed(m, req.Requester), Text: m.Text}
		if why, auto := rules.AutoReply(m); auto {
			ev.AutoReply = why
		}
		ev.Department = func(s string) (string, string, bool) {
			for _, d := range rt.Config.Departments {
				if strings.EqualFold(d.Name, s) || lifecycle.IsDeptAddress(d, s) {
					return d.Key(), d.Name, true
				}
			}
			return "", "", false
		}
		ev.ParentOK = func(ref string) bool {
			r, err := p.store.RequestByRef(ctx, dept.Key(), ref)
			return err == nil && r.State != store.StateResolved
		}
		if ev.Role == lifecycle.Staff {
			auth, err := p.proveAuthor(ctx, dept, req, m, fromSent)
			if err != nil {
				return Outcome{}, err
			}
			ev.Proven, ev.Proof = auth.proven, auth.how
			if !auth.proven {
				p.log.Warn("staff-looking mail not proven; kept as information", "dept", dept.Name, "ref", req.Ref, "from", m.From.Address, "why", auth.how)
				if ev.Noticed, err = p.noticedRecently(ctx, req, m.From.Address, at); err != nil {
					return Outcome{}, err
				}
			}
		}
		t := lifecycle.Step(dept, life, ev, at)
		if err := storeAway(ctx, p.store, dept.Key(), t.Away, at); err != nil {
			return Outcome{}, fmt.Errorf("follow-up on %s: %w", req.Ref, err)
		}
		if t.Forward != nil {
			o, err := p.forward(ctx, rt, dept, req, t, m, f, key, at)
			if errors.Is(err, store.ErrStale) && attempt < 5 {
				if req, err = p.store.RequestByID(ctx, req.ID); err != nil {
					return Outcome{}, fmt.Errorf("reload %s: %w", req.Ref, err)
				}
				continue
			}
			return o, err
		}
		mails, err := renderAll(rt, dept, t.Mail, p.composeTime(at))
		if err != nil {
			return Outcome{}, fmt.Errorf("plan follow-up on %s: %w", req.Ref, err)
		}
		got, err := applyTransition(ctx, p.store, req, t, mails, key, &f, threadKeys(m))
		switch {
		case errors.Is(err, store.ErrStale) && attempt < 5:
			if req, err = p.store.RequestByID(ctx, req.ID); err != nil {
				return Outcome{}, fmt.Errorf("reload %s: %w", req.Ref, err)
			}
			continue
		case errors.Is(err, store.ErrDuplicate):
			return Outcome{Key: key, Action: "duplicate"}, nil
		case err != nil:
			return Outcome{}, fmt.Errorf("record follow-up on %s: %w", req.Ref, err)
		}
		if t.FanOut != nil {
			p.fanOut(ctx, rt, dept, *t.FanOut, at)
		}
		store.AfterCommit(ctx, func() {
			p.log.Info("follow-up", "dept", dept.Name, "ref", got.Ref, "what", t.What, "from", m.From.Address, "state", got.State)
			if len(mails) > 0 {
				p.kick()
			}
			p.wake()
		})
		return Outcome{Key: key, Action: t.What, Ref: got.Ref, Request: got}, nil
	}
}

// SentHandler returns the Handler for a department's Sent mailbox, where
// mail staff send from the shared account lands: on a known thread it is
// an answer. ackd's own copies there are recognised by their loop header.
func (p *Processor) SentHandler(dept string) Handler {
	return func(ctx context.Context, f Fetched) error {
		o, err := p.ProcessSent(ctx, dept, f)
		if err != nil {
			return err
		}
		if p.onOutcome != nil {
			store.AfterCommit(ctx, func() { p.onOutcome(dept, o) })
		}
		return nil
	}
}
