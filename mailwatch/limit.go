package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// which count as sent, so a cap is exact (a mail recorded while the gate
// counts may count twice, holding the next a little early, never late); replicas sending at the same instant can each pass the last free
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
type limitGate struct {
	st      store.Store
	runtime func() *Runtime
}

// NewLimitGate returns the gate that enforces the sending limits of the
// configuration runtime returns, read at each mail so a reload applies at
// once, counting from st.
func NewLimitGate(st store.Store, runtime func() *Runtime) outbox.Gate {
	return &limitGate{st: st, runtime: runtime}
}

// Admit drops a held mail that lost its point, holds a mail any cap
// refuses until the latest moment one of them allows it, and lets the
// rest go.
func (g *limitGate) Admit(ctx context.Context, m outbox.QueuedMail, now time.Time) (outbox.Admission, error) {
	return g.AdmitUnmarked(ctx, m, now, nil)
}

// AdmitUnmarked is Admit counting unmarked as sent too (outbox.UnmarkedGate).
func (g *limitGate) AdmitUnmarked(ctx context.Context, m outbox.QueuedMail, now time.Time, unmarked []outbox.Unmarked) (outbox.Admission, error) {
	rt := g.runtime()
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
	check := func(limit int, window time.Duration, f store.SentFilter, what func(n int) string) error {
		if limit <= 0 {
			return nil
		}
		f.Since = now.Add(-window)
		times, err := g.st.SentTimes(ctx, f, limit)
		if err != nil {
			return err
		}
		if len(unmarked) > 0 {
			for _, u := range unmarked {
				if f.Matches(u.Mail.RequestID, u.Mail.Kind, u.Mail.Recipients, u.At) {
					times = append(times, u.At)
				}
			}
			slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
		}
		if len(times) < limit {
			return nil
		}
		// The limit-th newest send leaves the window first.
		if until := times[limit-1].Add(window); until.After(hold.Until) {
			hold = outbox.Admission{Verdict: outbox.Hold, Until: until, Reason: what(limit)}
		}
		return nil
	}
	lim := rt.Config.Limits
	if c, ok := perRequestCaps[m.Kind]; ok && m.RequestID != 0 {
		err := check(c.cap(rt), 24*time.Hour, store.SentFilter{RequestID: m.RequestID, Kinds: []string{m.Kind}}, func(n int) string {
			return fmt.Sprintf("%s (%d) reached for this request", c.key, n)
		})
		if err != nil {
			return outbox.Admission{}, err
		}
	}
	if !slices.Contains(staffKinds, m.Kind) {
		for _, to := range m.Recipients {
			err := check(lim.PerSenderPerHour, time.Hour, store.SentFilter{To: to, ExceptKinds: staffKinds}, func(n int) string {
				return fmt.Sprintf("per_sender_per_hour (%d) reached for %s", n, to)
			})
			if err != nil {
				return outbox.Admission{}, err
			}
		}
	}
	err := check(lim.GlobalPerMinute, time.Minute, store.SentFilter{}, func(n int) string {
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

// The sender hands the gate its unrecorded mail through AdmitUnmarked.
var _ outbox.UnmarkedGate = (*limitGate)(nil)
