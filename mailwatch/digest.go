package mailwatch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/mailwatch/outbox"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// DigestSlot is when dept's digest falls on the calendar day of t: digest.at
// on that day in the department's zone. ok is false when the digest is
// disabled (no at or no recipients), at is malformed, or the day is not a
// working day of the calendar (weekends and holidays get no digest).
func DigestSlot(d *config.Department, t time.Time) (slot time.Time, ok bool) {
	if d.Calendar == nil || d.Digest.At == "" || len(d.Digest.To) == 0 {
		return time.Time{}, false
	}
	hh, mm, found := strings.Cut(d.Digest.At, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !found || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return time.Time{}, false
	}
	loc := d.Calendar.Location()
	y, mo, day := t.In(loc).Date()
	slot = time.Date(y, mo, day, h, m, 0, 0, loc)
	if !d.Calendar.IsWorkday(slot) {
		return time.Time{}, false
	}
	return slot, true
}

// DigestDay is the key under which the store marks d's digest for the day
// of t sent (QueueDigest): the date on d's calendar. `ackd digest --send`
// uses it too, so a manual digest counts as that day's.
func DigestDay(d *config.Department, t time.Time) string {
	loc := time.UTC
	if d.Calendar != nil {
		loc = d.Calendar.Location()
	}
	return t.In(loc).Format("2006-01-02")
}

// digestDays bounds the search for the next or previous working day (a
// calendar closed for longer has no digest to plan).
const digestDays = 400

// nextDigest is the first digest slot strictly after t; zero when none.
func nextDigest(d *config.Department, t time.Time) time.Time {
	loc := d.Calendar.Location()
	y, m, day := t.In(loc).Date()
	for i := 0; i < digestDays; i++ {
		if slot, ok := DigestSlot(d, time.Date(y, m, day+i, 12, 0, 0, 0, loc)); ok && slot.After(t) {
			return slot
		}
	}
	return time.Time{}
}

// prevDigest is the last digest slot strictly before t; zero when none.
func prevDigest(d *config.Department, t time.Time) time.Time {
	loc := d.Calendar.Location()
	y, m, day := t.In(loc).Date()
	for i := 0; i < digestDays; i++ {
		if slot, ok := DigestSlot(d, time.Date(y, m, day-i, 12, 0, 0, 0, loc)); ok && slot.Before(t) {
			return slot
		}
	}
	return time.Time{}
}

// DigestReport computes dept's report at now for a digest: "new" starts at
// the previous digest slot (24 hours back when there is none).
func DigestReport(ctx context.Context, st store.Store, d *config.Department, now time.Time, window time.Duration) (report.Report, error) {
	reqs, evs, err := report.Gather(ctx, st, d.Key(), now, window)
	if err != nil {
		return report.Report{}, err
	}
	o := report.Options{Window: window}
	if d.Calendar != nil {
		o.NewSince = prevDigest(d, now)
	}
	return report.ComputeWith(reqs, evs, d, now, o), nil
}

// DigestData turns a report into the digest template's data.
func DigestData(d *config.Department, rep report.Report) templates.Digest {
	loc := rep.Location
	item := func(l report.Line) templates.DigestItem {
		// Staff work to the aim (the due time where there is none).
		return templates.DigestItem{Ref: l.Ref, Subject: l.Subject, Requester: l.Requester, Category: l.Category,
			Due: l.AimAt, Age: mailtext.Span(l.Age), Overdue: l.Overdue, Owner: l.Owner}
	}
	section := func(title, short string, ls []report.Line) templates.DigestSection {
		s := templates.DigestSection{Title: title, Short: short}
		for _, l := range ls {
			s.Items = append(s.Items, item(l))
		}
		return s
	}
	since := "New since " + rep.NewSince.In(loc).Format("Monday 2 January, 15:04")
	rec := func(r report.Record) templates.DigestRecord {
		out := templates.DigestRecord{Category: r.Category, Kept: r.Kept, Judged: r.Judged(), Pending: r.Pending,
			KeptPercent: -1, Advice: r.Advice}
		if !r.Commitment.IsZero() {
			out.Commitment = r.Commitment.String()
		}
		if p := r.KeptPercent(); p >= 0 {
			out.KeptPercent = int(math.Round(p))
		}
		if r.Answered > 0 {
			out.Median, out.P80 = mailtext.Span(r.Median), mailtext.Span(r.P80)
		}
		if !r.Suggest.IsZero() {
			out.Suggest = r.Suggest.String()
		}
		if a := r.RatingAverage(); a >= 0 {
			out.Rated, out.LowRated, out.Satisfaction = r.Rated, r.LowRated, strconv.FormatFloat(a, 'f', 1, 64)
		}
		if !r.Aim.IsZero() {
			out.Aim, out.AimMet, out.AimJudged, out.AimPercent = r.Aim.String(), r.AimMet, r.AimMet+r.AimMissed, -1
			if p := r.AimPercent(); p >= 0 {
				out.AimPercent = int(math.Round(p))
			}
		}
		return out
	}
	data := templates.Digest{
		Department: d.Name, DepartmentAddress: d.Address, Now: rep.Now, Location: loc, Since: rep.NewSince,
		WindowDays: int(rep.Now.Sub(rep.Since) / (24 * time.Hour)), AllClear: rep.Empty(),
		Sections: []templates.DigestSection{
			section(since, "new", rep.New),
			section("Due today", "due today", rep.DueToday),
			section("Overdue", "overdue", rep.Overdue),
			section("Other unanswered, oldest first", "unanswered", rep.Unanswered),
			section("Waiting on the requester", "waiting", rep.Waiting),
		},
		Overall: rec(rep.Overall), Reminders: rep.Reminders, LateNotices: rep.LateNotices,
	}
	for _, c := range rep.Categories {
		data.Categories = append(data.Categories, rec(c))
	}
	return data
}

// markHeldReceipts marks the digest's requests whose receipt a sending
// limit holds, and counts them.
func markHeldReceipts(ctx context.Context, st store.Store, dept string, data *templates.Digest) error {
	held, err := report.HeldReceipts(ctx, st, dept)
	if err != nil || len(held) == 0 {
		return err
	}
	open, err := st.OpenRequests(ctx, dept)
	if err != nil {
		return fmt.Errorf("list open requests: %w", err)
	}
	refs := map[string]bool{}
	for _, r := range open {
		if _, ok := held[r.ID]; ok {
			refs[r.Ref] = true
		}
	}
	data.HeldReceipts = len(refs)
	for i := range data.Sections {
		for j := range data.Sections[i].Items {
			it := &data.Sections[i].Items[j]
			it.ReceiptHeld = refs[it.Ref]
		}
	}
	return nil
}

// DigestMail renders and composes dept's digest at now: from the
// department, to digest.to, Auto-Submitted: auto-generated.
func DigestMail(ctx context.Context, st store.Store, tpl *templates.Set, d *config.Department, now time.Time) (store.NewMail, templates.Rendered, report.Report, error) {
	rep, err := DigestReport(ctx, st, d, now, report.DefaultWindow)
	if err != nil {
		return store.NewMail{}, templates.Rendered{}, rep, fmt.Errorf("digest of %s: %w", d.Name, err)
	}
	data := DigestData(d, rep)
	parked, err := st.ParkedMessages(ctx, d.Key())
	if err != nil {
		return store.NewMail{}, templates.Rendered{}, rep, fmt.Errorf("digest of %s: %w", d.Name, err)
	}
	for _, p := range parked {
		data.Parked = append(data.Parked, templates.DigestParked{Mailbox: p.Mailbox, UID: p.UID, From: p.From,
			Subject: p.Subject, Received: p.ReceivedAt, Attempts: p.Attempts, Error: p.LastError})
	}
	if len(parked) > 0 {
		data.AllClear = false
	}
	away, err := st.AwayAt(ctx, d.Key(), now)
	if err != nil {
		return store.NewMail{}, templates.Rendered{}, rep, fmt.Errorf("digest of %s: %w", d.Name, err)
	}
	for _, a := range away {
		data.Away = append(data.Away, templates.DigestAway{Address: a.Address, Until: a.Until})
	}
	if err := markHeldReceipts(ctx, st, d.Key(), &data); err != nil {
		return store.NewMail{}, templates.Rendered{}, rep, fmt.Errorf("digest of %s: %w", d.Name, err)
	}
	rendered, err := tpl.Digest(data)
	if err != nil {
		return store.NewMail{}, templates.Rendered{}, rep, fmt.Errorf("render digest of %s: %w", d.Name, err)
	}
	if len(d.Digest.To) == 0 {
		return store.NewMail{}, rendered, rep, fmt.Errorf("digest of %s: digest.to is empty", d.Name)
	}
	id := outbox.NewMessageID(domainOf(d.Address))
	var rcpt []mail.Address
	for _, a := range d.Digest.To {
		rcpt = append(rcpt, mail.Address{Address: a})
	}
	raw, err := outbox.Compose(outbox.Mail{
		From: mail.Address{Name: d.Name, Address: d.Address}, To: rcpt,
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML,
		MessageID: id, AutoSubmitted: outbox.AutoGenerated, Date: now,
		Extra: map[string]string{"X-Ackd-Loop": d.Address},
	})
	if err != nil {
		return store.NewMail{}, rendered, rep, fmt.Errorf("compose digest of %s: %w", d.Name, err)
	}
	return store.NewMail{Kind: "digest", MessageID: id, EnvelopeFrom: d.Address, Recipients: d.Digest.To, Raw: raw}, rendered, rep, nil
}

// Digester queues each department's digest once per working day at
// digest.at. Which days are done lives in the store (QueueDigest), so a
// restart neither repeats nor, on the same day, skips a digest; a digest
// missed while ackd was down goes out late the same day, never the next.
type Digester struct {
	st      store.Store
	runtime func() *Runtime
	now     func() time.Time
	wake    func()
	log     *slog.Logger
	// done caches the day last settled per department, so a pass does not
	// render a digest the store would refuse.
	done map[string]string
	// owns, when set, limits the digester to the departments it reports
	// true for (replicas: the ones whose lease is held).
	owns func(dept string) bool
	kick chan struct{}
}

// Kick wakes the digester to plan again (a department's lease was taken).
func (g *Digester) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// NewDigester builds a digester; now is the clock, wake kicks the outbox
// sender. Of opts it reads OnlyDepartments.
func NewDigester(st store.Store, runtime func() *Runtime, now func() time.Time, wake func(), log *slog.Logger, opts ...Option) *Digester {
	if now == nil {
		now = time.Now
	}
	if wake == nil {
		wake = func() {}
	}
	o := buildOptions(opts)
	return &Digester{st: st, runtime: runtime, now: now, wake: wake, log: log, done: map[string]string{}, kick: make(chan struct{}, 1), owns: o.owns}
}

// nothingToSay: skip_empty is on and the day has nothing for staff, no
// request in the report and no parked message waiting for an admin.
func (g *Digester) nothingToSay(ctx context.Context, d *config.Department, rep report.Report) (bool, error) {
	if !d.Digest.SkipEmpty || !rep.Empty() {
		return false, nil
	}
	parked, err := g.st.ParkedMessages(ctx, d.Key())
	if err != nil {
		return false, fmt.Errorf("digest of %s: %w", d.Name, err)
	}
	return len(parked) == 0, nil
}

// RunOnce queues every digest due now and returns when the next one is due
// (zero when none is planned) and how many were queued.
func (g *Digester) RunOnce(ctx context.Context) (time.Time, int, error) {
	now := g.now()
	rt := g.runtime()
	var next time.Time
	queued := 0
	for _, d := range rt.Config.Departments {
		if g.owns != nil && !g.owns(d.Key()) {
			continue // another replica's department
		}
		slot, ok := DigestSlot(d, now)
		day := ""
		if ok {
			day = DigestDay(d, slot)
		}
		if ok && !now.Before(slot) && g.done[d.Key()] != day {
			ml, _, rep, err := DigestMail(ctx, g.st, rt.Templates, d, now)
			if err != nil {
				return time.Time{}, queued, err
			}
			skip, err := g.nothingToSay(ctx, d, rep)
			if err != nil {
				return time.Time{}, queued, err
			}
			var mails []store.NewMail
			if !skip {
				mails = []store.NewMail{ml}
			}
			fresh, err := g.st.QueueDigest(ctx, d.Key(), day, mails)
			if err != nil {
				return time.Time{}, queued, fmt.Errorf("queue digest of %s: %w", d.Name, err)
			}
			g.done[d.Key()] = day
			if fresh && len(mails) > 0 {
				queued++
				g.log.Info("digest queued", "dept", d.Name, "day", day)
			}
		}
		if d.Calendar == nil {
			continue
		}
		if n := nextDigest(d, now); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if queued > 0 {
		g.wake()
	}
	return next, queued, nil
}

// Run queues digests until ctx is done.
func (g *Digester) Run(ctx context.Context) error {
	for {
		next, _, err := g.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// Re-plan at least hourly so a reload's new digest.at applies.
		wait := time.Hour
		if err != nil {
			g.log.Error("digest pass failed; retrying", "err", err)
			wait = time.Minute
		} else if !next.IsZero() {
			wait = min(wait, max(next.Sub(g.now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-g.kick:
			t.Stop()
		case <-t.C:
		}
	}
}
