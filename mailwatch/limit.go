package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/store"
)

// Sending limits cap mail, never tracking. The processor records every
// request with its receipt whatever the limits say; the outbox sender asks
// the limit gate just before each mail would leave, and a mail over a cap
// stays in the outbox, held, until the window allows it. The caps count
// what was actually sent, by send time, from the store: every replica and
// every restart sees the same counts.
//
// Which cap applies to what follows what help desks that have lived with
// mail loops and floods do (RT, Zendesk, Freshdesk throttle what goes out
// to end users, never what reaches their own agents):
//   - global_per_minute counts and caps every mail, of every kind: it
//     protects the relay and the domain's reputation, whoever the mail is
//     for.
//   - per_sender_per_hour caps the mail to one outside address: the
//     requester's receipts, due updates, late notices, closings, relays,
//     and command help to whoever sent a command. A robot that slipped
//     past loop protection, or a coworker's backlog, gets at most that
//     many mails an hour.
//   - Staff mail (escalations to staff, leads or an assignee, and digests)
//     neither counts towards nor waits for per_sender_per_hour. Escalations
//     exist so that an unanswered request reaches a person in time;
//     throttling them per recipient would silence the one person on call
//     exactly when many requests are waiting, and a staff member who also
//     writes requests would lose their own receipts to the escalations
//     they received. Staff mail is bounded instead per request:
//     escalations_per_request_per_day (and relays_per_request_per_day for
//     the words staff have ackd pass on) stop one thread from flooding
//     anybody, and a held escalation that a later one supersedes is
//     dropped rather than sent late.
//
// A held mail goes out when its window allows it while it is still
// useful; one that lost its point meanwhile is closed unsent with the
// reason (see useless).
//
// The count and the send are not one transaction: within a replica the
// sender records sent mail in groups while the next goes out, and hands
// the gate the mails it sent but has not recorded yet (AdmitUnmarked),
// which count as sent, and each mail as the server accepts it (NoteSent),
// so a cap is exact: a mail is counted once by its ID, whether the store
// already records it or not (counting a mail being recorded twice used to
// hold the next ones a window late). Replicas sending at the same instant can each pass the last free
// slot, so with r replicas a window may carry up to r-1 mails over its cap.
// Taking a store-wide lock per mail to close that gap would serialise all
// sending for a bound that is already small.

// staffKinds are the mail kinds addressed to the department's own people.
var staffKinds = []string{"escalation", "digest", "owner-notice", "incident-alert"}

// perRequestCaps names the per-request daily cap of a kind.
var perRequestCaps = map[string]struct {
	key string
	cap func(*Runtime) int
}{
	"escalation": {"escalations_per_request_per_day", func(rt *Runtime) int { return rt.Config.Limits.EscalationsPerRequestPerDay }},
	"relay":      {"relays_per_request_per_day", func(rt *Runtime) int { return rt.Config.Limits.RelaysPerRequestPerDay }},
}

// limitGate is the outbox.Gate that enforces the configured limits.
//
// A gate of the only sender on its store keeps its counts in memory: per
// cap and key (the whole outbox, a recipient, a request and kind) the
// sends of the cap's window, read from the store once, when the key is
// first asked about (or its cap grew on a reload), and kept up to date
// with each mail the sender hands it (outbox.SentNoter), pruned as the
// window moves. The store's count plus this sender's own sends is the
// whole count, so this is exact across restarts, at one map lookup a mail
// instead of a query that reads every send of the window (with
// global_per_minute 1,000,000, every mail of the last minute, for every
// mail). Replicas (shared) send from several processes: their gate reads
// the store at every mail, so that each sees the others' sends.
type limitGate struct {
	st      store.Store
	runtime func() *Runtime
	shared  bool

	mu      sync.Mutex
	windows map[string]*sendWindow
	latest  time.Time // the latest now asked about
	asked   int       // Admits since the last sweep
}

// sendWindow is what one cap counts for one key.
type sendWindow struct {
	window time.Duration
	limit  int // the cap it was read from the store for: the newest limit sends
	sends  []store.SentMark
	ids    map[int64]bool
}

// add counts a send once, keeping sends ordered by time.
func (w *sendWindow) add(id int64, at time.Time) {
	if w.ids[id] {
		return
	}
	w.ids[id] = true
	i := len(w.sends)
	for i > 0 && w.sends[i-1].At.After(at) {
		i--
	}
	w.sends = slices.Insert(w.sends, i, store.SentMark{ID: id, At: at})
}

// prune forgets the sends at or before since, which no longer count.
func (w *sendWindow) prune(since time.Time) {
	i := 0
	for i < len(w.sends) && !w.sends[i].At.After(since) {
		delete(w.ids, w.sends[i].ID)
		i++
	}
	w.sends = w.sends[i:]
}

// NewLimitGate returns the gate that enforces the sending limits of the
// configuration runtime returns, read at each mail so a reload applies at
// once, counting from st. It must be the gate of the only sender on st;
// see NewSharedLimitGate.
func NewLimitGate(st store.Store, runtime func() *Runtime) outbox.Gate {
	return &limitGate{st: st, runtime: runtime, windows: map[string]*sendWindow{}}
}

// NewSharedLimitGate is NewLimitGate for a sender that shares st with
// others (replicas): it reads the counts from st at every mail.
func NewSharedLimitGate(st store.Store, runtime func() *Runtime) outbox.Gate {
	return &limitGate{st: st, runtime: runtime, shared: true}
}

// Admit drops a held mail that lost its point, holds a mail any cap
// refuses until the latest moment one of them allows it, and lets the
// rest go.
func (g *limitGate) Admit(ctx context.Context, m outbox.QueuedMail, now time.Time) (outbox.Admission, error) {
	return g.AdmitUnmarked(ctx, m, now, nil)
}

// NoteSent counts a mail the server accepted in the windows kept in
// memory (outbox.SentNoter).
func (g *limitGate) NoteSent(m outbox.QueuedMail, at time.Time) {
	if g.shared {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, key := range sendKeys(m) {
		if w := g.windows[key]; w != nil {
			w.add(m.ID, at)
		}
	}
}

// sendKeys are the windows a mail counts in: see AdmitUnmarked's checks.
func sendKeys(m outbox.QueuedMail) []string {
	keys := []string{"all"}
	if _, ok := perRequestCaps[m.Kind]; ok && m.RequestID != 0 {
		keys = append(keys, fmt.Sprintf("request %d %s", m.RequestID, m.Kind))
	}
	if !slices.Contains(staffKinds, m.Kind) {
		for _, to := range m.Recipients {
			keys = append(keys, "to "+strings.ToLower(strings.TrimSpace(to)))
		}
	}
	return keys
}

// sends returns the newest limit sends matching f in the window that ends
// at now, newest first, counting each mail once, whether the store records
// it or it is only in unmarked.
func (g *limitGate) sends(ctx context.Context, key string, limit int, window time.Duration, f store.SentFilter, now time.Time, unmarked []outbox.Unmarked) ([]store.SentMark, error) {
	f.Since = now.Add(-window)
	read := func() (*sendWindow, error) {
		marks, err := g.st.SentMarks(ctx, f, limit)
		if err != nil {
			return nil, err
		}
		w := &sendWindow{window: window, limit: limit, ids: make(map[int64]bool, len(marks))}
		for _, m := range marks {
			w.add(m.ID, m.At)
		}
		for _, u := range unmarked {
			if f.Matches(u.Mail.RequestID, u.Mail.Kind, u.Mail.Recipients, u.At) {
				w.add(u.Mail.ID, u.At)
			}
		}
		return w, nil
	}
	var w *sendWindow
	if g.shared {
		var err error
		if w, err = read(); err != nil {
			return nil, err
		}
	} else {
		g.mu.Lock()
		defer g.mu.Unlock()
		w = g.windows[key]
		if w == nil || w.limit < limit {
			var err error
			if w, err = read(); err != nil {
				return nil, err
			}
			g.windows[key] = w
		}
		w.prune(f.Since)
	}
	out := make([]store.SentMark, 0, min(len(w.sends), limit))
	for i := len(w.sends) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, w.sends[i])
	}
	return out, nil
}

// tick keeps the memory bounded and true to the clock: it forgets every
// window when the clock went back (they were pruned for a later now) and
// now and then the windows nothing counts in any more (read again when
// asked for).
func (g *limitGate) tick(now time.Time) {
	if g.shared {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.latest) {
		clear(g.windows)
	}
	g.latest = now
	if g.asked++; g.asked < 1000 {
		return
	}
	g.asked = 0
	for key, w := range g.windows {
		if w.prune(now.Add(-w.window)); len(w.sends) == 0 {
			delete(g.windows, key)
		}
	}
}

// AdmitUnmarked is Admit counting unmarked as sent too (outbox.UnmarkedGate).
func (g *limitGate) AdmitUnmarked(ctx context.Context, m outbox.QueuedMail, now time.Time, unmarked []outbox.Unmarked) (outbox.Admission, error) {
	rt := g.runtime()
	g.tick(now)
	if !m.HeldSince.IsZero() && m.RequestID != 0 {
		// Only mail a limit delayed: mail on its first try is as fresh
		// as the request it belongs to.
		why, err := g.useless(ctx, m, now)
		if err != nil {
			return outbox.Admission{}, err
		}
		if why != "" {
			return outbox.Admission{Verdict: outbox.Drop, Reason: "no longer useful: " + why}, nil
		}
	}
	var hold outbox.Admission
	check := func(limit int, window time.Duration, key string, f store.SentFilter, what func(n int) string) error {
		if limit <= 0 {
			return nil
		}
		sends, err := g.sends(ctx, key, limit, window, f, now, unmarked)
		if err != nil {
			return err
		}
		if len(sends) < limit {
			return nil
		}
		// The limit-th newest send leaves the window first.
		if until := sends[limit-1].At.Add(window); until.After(hold.Until) {
			hold = outbox.Admission{Verdict: outbox.Hold, Until: until, Reason: what(limit)}
		}
		return nil
	}
	lim := rt.Config.Limits
	if c, ok := perRequestCaps[m.Kind]; ok && m.RequestID != 0 {
		key := fmt.Sprintf("request %d %s", m.RequestID, m.Kind)
		err := check(c.cap(rt), 24*time.Hour, key, store.SentFilter{RequestID: m.RequestID, Kinds: []string{m.Kind}}, func(n int) string {
			return fmt.Sprintf("%s (%d) reached for this request", c.key, n)
		})
		if err != nil {
			return outbox.Admission{}, err
		}
	}
	if !slices.Contains(staffKinds, m.Kind) {
		for _, to := range m.Recipients {
			key := "to " + strings.ToLower(strings.TrimSpace(to))
			err := check(lim.PerSenderPerHour, time.Hour, key, store.SentFilter{To: to, ExceptKinds: staffKinds}, func(n int) string {
				return fmt.Sprintf("per_sender_per_hour (%d) reached for %s", n, to)
			})
			if err != nil {
				return outbox.Admission{}, err
			}
		}
	}
	err := check(lim.GlobalPerMinute, time.Minute, "all", store.SentFilter{}, func(n int) string {
		return fmt.Sprintf("global_per_minute (%d) reached", n)
	})
	if err != nil {
		return outbox.Admission{}, err
	}
	return hold, nil // the zero Admission is Send
}

// useless says why a held mail about a request is no longer worth
// sending, "" when it still is:
//   - a receipt, once the request was answered or resolved, or its due
//     time passed (the promise it makes is already kept or broken);
//   - a due update, once the request was resolved or the date it
//     announces passed, or a later due update replaced it;
//   - a late notice or an escalation, once the request is answered,
//     waiting on the requester or resolved, or a later one of the same
//     kind replaced it;
//   - a closing, once the request was reopened.
//
// Relays (a person's words) and command help keep their point; like any
// held mail they are dropped only if their window would open after the
// sender's give-up age (outbox.WithMaxAge, 48 hours), which only a loop
// or a flood reaches.
func (g *limitGate) useless(ctx context.Context, m outbox.QueuedMail, now time.Time) (string, error) {
	req, err := g.st.RequestByID(ctx, m.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read request of mail %d: %w", m.ID, err)
	}
	resolved := req.State == store.StateResolved
	stopped := resolved || req.State == store.StateAnswered || req.State == store.StateWaiting
	duePassed := !req.DueAt.IsZero() && now.After(req.DueAt)
	switch m.Kind {
	case "receipt":
		switch {
		case resolved:
			return "the request was resolved", nil
		case !req.FirstResponseAt.IsZero():
			return "the request was answered", nil
		case duePassed:
			return "its due time passed", nil
		}
	case "due-update":
		switch {
		case resolved:
			return "the request was resolved", nil
		case duePassed:
			return "the date it announces passed", nil
		}
		return g.superseded(ctx, m)
	case "late-notice", "escalation":
		if stopped {
			return "the request is " + string(req.State), nil
		}
		return g.superseded(ctx, m)
	case "closing":
		if !resolved {
			return "the request was reopened", nil
		}
	}
	return "", nil
}

// superseded says whether the request has a later mail of m's kind
// pending or sent, which says what m would say, more recently.
func (g *limitGate) superseded(ctx context.Context, m outbox.QueuedMail) (string, error) {
	mails, err := g.st.RequestMail(ctx, m.RequestID)
	if err != nil {
		return "", fmt.Errorf("list mail of request %d: %w", m.RequestID, err)
	}
	for _, o := range mails {
		if o.ID > m.ID && o.Kind == m.Kind && (o.State == store.MailPending || o.State == store.MailSent) {
			return "a later " + m.Kind + " replaced it", nil
		}
	}
	return "", nil
}

// The sender hands the gate its unrecorded mail through AdmitUnmarked,
// and each mail the server accepts through NoteSent.
var (
	_ outbox.UnmarkedGate = (*limitGate)(nil)
	_ outbox.SentNoter    = (*limitGate)(nil)
)
