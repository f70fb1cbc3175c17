// Package report computes the figures a department is judged by: what is
// new, due, overdue or waiting, and how often the department kept the
// commitments it made. It is pure computation over store rows, shared by
// the digest mail, `ackd report` and the HTTP status page, so that every
// view shows the same numbers.
//
// # Commitments kept
//
// A request counts towards the record when it was received inside the
// window and its category has a commitment (or it was given a due time).
// Its response time is FirstResponseAt, the first staff answer; a request
// resolved without any answer responds at ResolvedAt, since closing it
// closes the loop too.
//
//   - Kept: it responded at or before the due time in force when it
//     responded, and no late notice went out before that.
//   - Missed: a late notice went out before it responded (the apology
//     and its new date do not rescue the promise), or it responded after
//     the due time in force, or it has not responded and its due time has
//     passed.
//   - Excluded (pending): not responded and not yet due, or waiting on
//     the requester without a response.
//
// The due time in force is the request's DueAt when nothing moved it after
// the response (no eta, reopen, resume or late notice at or after it);
// otherwise the last "#eta" given before the response, or failing that the
// category's commitment counted from ReceivedAt on the calendar. A
// "#waiting" pause before the first response is not reconstructed in that
// last case.
//
// # Aim
//
// A category with an aim (a shorter goal than the commitment promised to
// the requester) is judged twice: kept against the promise as above, and
// met against the aim: a judged request that responded at or before the
// aim counted from ReceivedAt on the calendar (never later than the due
// time in force) met it; every other judged request missed it.
//
// Response times are business time on the department's calendar
// (Calendar.BusinessBetween(ReceivedAt, response)). Median and p80 use the
// nearest-rank method: sorted ascending, the p-th percentile of n values
// is the value at rank ceil(p·n); the median is the 50th percentile, so
// with an even count it is the lower of the two middle values.
package report

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// DefaultWindow is how far back the record looks unless told otherwise.
const DefaultWindow = 30 * 24 * time.Hour

// Line is one request as a digest lists it.
type Line struct {
	Ref        string
	Subject    string
	Requester  string
	Category   string
	State      string
	ReceivedAt time.Time
	DueAt      time.Time // zero when there is no commitment
	// AimAt is the team's own deadline: the category's aim from the
	// cycle's start, never after DueAt; DueAt when there is no aim. The
	// lists (due today, overdue) go by it.
	AimAt time.Time
	// Age is the business time since ReceivedAt.
	Age time.Duration
	// Owner is who owns the request; "" when nobody does.
	Owner string
	// Overdue: nobody answered and the aim (the due time when the
	// category has no aim) has passed. An answered,
	// waiting or resolved request is never overdue, whichever list shows
	// it.
	Overdue bool
}

// Record is the commitment record of a category, or of the department.
type Record struct {
	Category   string // "" for the department as a whole
	Commitment calendar.Commitment
	Kept       int
	Missed     int
	Pending    int // received in the window, not yet due and unanswered
	// Aim is the category's aim (zero when it has none); AimMet and
	// AimMissed judge the same requests as Kept and Missed against it.
	Aim       calendar.Commitment
	AimMet    int
	AimMissed int
	// Rated counts the answers to "how did we do?" given in the window,
	// RatingSum adds them up (1–5 each), LowRated counts those at or
	// below the department's low mark.
	Rated, RatingSum, LowRated int
	// Answered counts the responses the times below are computed from.
	Answered int
	Median   time.Duration // business time to first response; 0 when Answered is 0
	P80      time.Duration
	// P95 is the 95th percentile first response: the tail the median
	// hides.
	P95 time.Duration
	// Slowest are the refs of the slowest tenth of the answered requests
	// (at least one when any was answered), slowest first.
	Slowest []string
	// Reopens counts reopenings (a reply after the answer, #reopen) in
	// the window.
	Reopens int
	// Suggest is a realistic commitment when P80 is above the commitment
	// or below half of it; zero otherwise.
	Suggest calendar.Commitment
	// Advice says in words why Suggest is set; "" otherwise.
	Advice string
}

// Judged is the number of requests kept or missed.
func (r Record) Judged() int { return r.Kept + r.Missed }

// KeptPercent is the share of judged requests kept, 0–100; -1 when none
// was judged.
func (r Record) KeptPercent() float64 {
	if r.Judged() == 0 {
		return -1
	}
	return 100 * float64(r.Kept) / float64(r.Judged())
}

// AimPercent is the share of judged requests that met the aim, 0–100; -1
// when there is no aim or nothing was judged.
func (r Record) AimPercent() float64 {
	if r.Aim.IsZero() || r.AimMet+r.AimMissed == 0 {
		return -1
	}
	return 100 * float64(r.AimMet) / float64(r.AimMet+r.AimMissed)
}

// RatingAverage is the mean answer to "how did we do?", 1–5; -1 when
// nobody answered.
func (r Record) RatingAverage() float64 {
	if r.Rated == 0 {
		return -1
	}
	return float64(r.RatingSum) / float64(r.Rated)
}

// Report is what a department's digest and reports show.
type Report struct {
	Dept     string
	Now      time.Time
	Since    time.Time // start of the record's window
	NewSince time.Time // start of "new"
	Location *time.Location

	New        []Line // received at or after NewSince, oldest first
	DueToday   []Line // unanswered, due later today
	Overdue    []Line // unanswered, past due, oldest due first
	Unanswered []Line // unanswered and in neither list above, oldest first
	Waiting    []Line // waiting on the requester, oldest first
	Open       int    // open requests of any state

	Overall    Record
	Categories []Record // by category name
	// Staff is first response per staff member, with Options.PerStaff.
	Staff []StaffRecord

	Reminders   int // reminders received in the window
	LateNotices int // late notices sent in the window
}

// Empty says there is nothing open and nothing new: the "all clear".
func (r Report) Empty() bool { return r.Open == 0 && len(r.New) == 0 }

// Options tune ComputeWith.
type Options struct {
	// Window is how far back the record looks; DefaultWindow when 0.
	Window time.Duration
	// NewSince is the start of "new"; now minus 24 hours when zero.
	NewSince time.Time
	// PerStaff adds first response per staff member (Report.Staff):
	// opt-in, since some teams do not want individual figures.
	PerStaff bool
}

// StaffRecord is one staff member's first responses: the requests whose
// first answer was theirs.
type StaffRecord struct {
	Address  string
	Answered int
	Median   time.Duration
	P80      time.Duration
}

type slowOne struct {
	ref  string
	took time.Duration
}

// slowest returns the refs of the slowest tenth, slowest first (ties by
// ref).
func slowest(all []slowOne) []string {
	if len(all) == 0 {
		return nil
	}
	s := slices.Clone(all)
	slices.SortStableFunc(s, func(a, b slowOne) int {
		if a.took != b.took {
			return cmp.Compare(b.took, a.took)
		}
		return strings.Compare(a.ref, b.ref)
	})
	n := (len(s) + 9) / 10
	out := make([]string, 0, n)
	for _, x := range s[:n] {
		out = append(out, x.ref)
	}
	return out
}

// countKind counts the events of kind in [since, now].
func countKind(evs []store.Event, kind string, since, now time.Time) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind && !e.At.Before(since) && !e.At.After(now) {
			n++
		}
	}
	return n
}

// firstAnswerBy is who answered a request first, and when: the earliest
// "answered" event with an actor that is a person.
func firstAnswerBy(evs []store.Event) (string, time.Time, bool) {
	var who string
	var at time.Time
	for _, e := range evs {
		if e.Kind == store.EventAnswered && e.Actor != "" && (who == "" || e.At.Before(at)) {
			who, at = strings.ToLower(e.Actor), e.At
		}
	}
	return who, at, who != ""
}

// Compute is ComputeWith with NewSince 24 hours before now.
func Compute(reqs []store.Request, events []store.Event, dept *config.Department, now time.Time, window time.Duration) Report {
	return ComputeWith(reqs, events, dept, now, Options{Window: window})
}

// Gather reads what ComputeWith needs from the store: the department's
// open requests (however old) and every request and event since
// now-window.
func Gather(ctx context.Context, st store.Store, dept string, now time.Time, window time.Duration) ([]store.Request, []store.Event, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	since := now.Add(-window)
	open, err := st.OpenRequests(ctx, dept)
	if err != nil {
		return nil, nil, fmt.Errorf("gather report of %s: %w", dept, err)
	}
	recent, err := st.RequestsSince(ctx, dept, since)
	if err != nil {
		return nil, nil, fmt.Errorf("gather report of %s: %w", dept, err)
	}
	seen := make(map[int64]bool, len(recent))
	for _, r := range recent {
		seen[r.ID] = true
	}
	for _, r := range open {
		if !seen[r.ID] {
			recent = append(recent, r)
		}
	}
	evs, err := st.EventsSince(ctx, dept, since)
	if err != nil {
		return nil, nil, fmt.Errorf("gather report of %s: %w", dept, err)
	}
	return recent, evs, nil
}

// unanswered says whether the clock runs for r and nobody answered yet.
func unanswered(r store.Request) bool {
	switch r.State {
	case store.StateNew, store.StateAcknowledged, store.StateOverdue:
		return true
	}
	return false
}

// ComputeWith computes dept's report at now from reqs and events. Requests
// of other departments are ignored; reqs need not be sorted.
func ComputeWith(reqs []store.Request, events []store.Event, dept *config.Department, now time.Time, o Options) Report {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.NewSince.IsZero() {
		o.NewSince = now.Add(-24 * time.Hour)
	}
	cal := dept.Calendar
	loc := time.UTC
	if cal != nil {
		loc = cal.Location()
	}
	rep := Report{Dept: dept.Name, Now: now, Since: now.Add(-o.Window), NewSince: o.NewSince, Location: loc}

	mine := make([]store.Request, 0, len(reqs))
	for _, r := range reqs {
		if r.Dept == dept.Key() || r.Dept == "" {
			mine = append(mine, r)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool {
		if !mine[i].ReceivedAt.Equal(mine[j].ReceivedAt) {
			return mine[i].ReceivedAt.Before(mine[j].ReceivedAt)
		}
		return mine[i].ID < mine[j].ID
	})
	byReq := make(map[int64][]store.Event)
	for _, e := range events {
		if e.Dept != "" && e.Dept != dept.Key() {
			continue
		}
		byReq[e.RequestID] = append(byReq[e.RequestID], e)
		if e.At.Before(rep.Since) || e.At.After(now) {
			continue
		}
		switch e.Kind {
		case store.EventReminder:
			rep.Reminders++
		case store.EventLateNotice:
			rep.LateNotices++
		}
	}

	today := dateOf(now, loc)
	for _, r := range mine {
		ln := Line{Ref: r.Ref, Subject: r.Subject, Requester: r.Requester, Category: r.Category,
			State: string(r.State), ReceivedAt: r.ReceivedAt, DueAt: r.DueAt, AimAt: AimAt(dept, r), Owner: r.AssignedTo}
		if cal != nil {
			ln.Age = cal.BusinessBetween(r.ReceivedAt, now)
		}
		ln.Overdue = unanswered(r) && (r.State == store.StateOverdue || !ln.AimAt.IsZero() && now.After(ln.AimAt))
		if !r.ReceivedAt.Before(o.NewSince) && !r.ReceivedAt.After(now) {
			rep.New = append(rep.New, ln)
		}
		if r.State != store.StateResolved {
			rep.Open++
		}
		switch {
		case r.State == store.StateWaiting:
			rep.Waiting = append(rep.Waiting, ln)
		case !unanswered(r):
		case !ln.AimAt.IsZero() && now.After(ln.AimAt):
			rep.Overdue = append(rep.Overdue, ln)
		case !ln.AimAt.IsZero() && dateOf(ln.AimAt, loc) == today:
			rep.DueToday = append(rep.DueToday, ln)
		default:
			rep.Unanswered = append(rep.Unanswered, ln)
		}
	}
	byDue := func(a, b Line) int { return a.AimAt.Compare(b.AimAt) }
	slices.SortStableFunc(rep.Overdue, byDue)
	slices.SortStableFunc(rep.DueToday, byDue)

	// The record.
	type acc struct {
		rec   Record
		times []time.Duration
		slow  []slowOne
	}
	cats := make(map[string]*acc)
	staff := make(map[string][]time.Duration)
	overall := &acc{}
	for _, r := range mine {
		if r.ReceivedAt.Before(rep.Since) || r.ReceivedAt.After(now) {
			continue
		}
		cat := categoryOf(dept, r.Category)
		if cat == nil || (cat.Commitment.IsZero() && r.DueAt.IsZero()) {
			continue
		}
		name := cat.Name
		if name == "" {
			name = r.Category
		}
		a := cats[name]
		if a == nil {
			a = &acc{rec: Record{Category: name, Commitment: cat.Commitment, Aim: cat.Aim}}
			cats[name] = a
		}
		out, took, answered := judge(r, byReq[r.ID], dept, cat, now)
		aimMet := (out == kept || out == missed) && metAim(r, byReq[r.ID], dept, cat)
		for _, x := range []*acc{a, overall} {
			switch out {
			case kept:
				x.rec.Kept++
			case missed:
				x.rec.Missed++
			case pending:
				x.rec.Pending++
			}
			if x == a && !cat.Aim.IsZero() && (out == kept || out == missed) { // aims differ by category: no overall figure
				if aimMet {
					x.rec.AimMet++
				} else {
					x.rec.AimMissed++
				}
			}
			if answered {
				x.rec.Answered++
				x.times = append(x.times, took)
				x.slow = append(x.slow, slowOne{r.Ref, took})
			}
			x.rec.Reopens += countKind(byReq[r.ID], store.EventReopened, rep.Since, now)
		}
		if o.PerStaff {
			if who, at, ok := firstAnswerBy(byReq[r.ID]); ok && cal != nil {
				staff[who] = append(staff[who], cal.BusinessBetween(r.ReceivedAt, at))
			}
		}
	}
	// Satisfaction: answers given in the window, whenever the request came.
	low := config.DefaultSatisfactionLow
	if dept.Satisfaction != nil {
		low = dept.Satisfaction.Low
	}
	for _, r := range mine {
		if r.Rating == 0 || r.RatedAt.Before(rep.Since) || r.RatedAt.After(now) {
			continue
		}
		cat := categoryOf(dept, r.Category)
		name := r.Category
		if cat != nil && cat.Name != "" {
			name = cat.Name
		}
		a := cats[name]
		if a == nil {
			a = &acc{rec: Record{Category: name}}
			if cat != nil {
				a.rec.Commitment, a.rec.Aim = cat.Commitment, cat.Aim
			}
			cats[name] = a
		}
		for _, x := range []*acc{a, overall} {
			x.rec.Rated++
			x.rec.RatingSum += r.Rating
			if r.Rating <= low {
				x.rec.LowRated++
			}
		}
	}
	finish := func(a *acc) Record {
		slices.Sort(a.times)
		a.rec.Median = Percentile(a.times, 50)
		a.rec.P80 = Percentile(a.times, 80)
		a.rec.P95 = Percentile(a.times, 95)
		a.rec.Slowest = slowest(a.slow)
		return a.rec
	}
	names := make([]string, 0, len(cats))
	for n := range cats {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		rec := finish(cats[n])
		if cal != nil {
			rec.Suggest, rec.Advice = suggest(cal, rec, now)
		}
		rep.Categories = append(rep.Categories, rec)
	}
	rep.Overall = finish(overall)
	for who, times := range staff {
		slices.Sort(times)
		rep.Staff = append(rep.Staff, StaffRecord{Address: who, Answered: len(times),
			Median: Percentile(times, 50), P80: Percentile(times, 80)})
	}
	slices.SortFunc(rep.Staff, func(a, b StaffRecord) int { return strings.Compare(a.Address, b.Address) })
	return rep
}

type outcome int

const (
	excluded outcome = iota
	kept
	missed
	pending
)

// judge applies the package's definition of a kept commitment to r. It
// returns the outcome and, when r has a first staff answer, the business
// time it took.
func judge(r store.Request, evs []store.Event, dept *config.Department, cat *config.Category, now time.Time) (outcome, time.Duration, bool) {
	cal := dept.Calendar
	var took time.Duration
	answered := !r.FirstResponseAt.IsZero()
	if answered && cal != nil {
		took = cal.BusinessBetween(r.ReceivedAt, r.FirstResponseAt)
	}
	resp := r.FirstResponseAt
	if resp.IsZero() && r.State == store.StateResolved {
		resp = r.ResolvedAt
	}
	lateBefore := func(t time.Time) bool {
		for _, e := range evs {
			if e.Kind == store.EventLateNotice && !e.At.After(t) {
				return true
			}
		}
		return false
	}
	if resp.IsZero() {
		switch {
		case lateBefore(now) || !r.LateNoticeFor.IsZero():
			return missed, took, answered
		case r.State == store.StateWaiting:
			return excluded, took, answered
		case !r.DueAt.IsZero() && now.After(r.DueAt):
			return missed, took, answered
		}
		return pending, took, answered
	}
	if lateBefore(resp) {
		return missed, took, answered
	}
	due := dueInForce(r, evs, dept, cat, resp)
	if due.IsZero() || !resp.After(due) {
		return kept, took, answered
	}
	return missed, took, answered
}

// AimAt is r's aim in its current cycle, as lifecycle.AimAt computes it
// for the ladder: the category's aim from CycleStart, never after DueAt;
// DueAt when the category has no aim.
func AimAt(dept *config.Department, r store.Request) time.Time {
	cat := categoryOf(dept, r.Category)
	if cat == nil || cat.Aim.IsZero() || r.DueAt.IsZero() || r.CycleStart.IsZero() || dept.Calendar == nil {
		return r.DueAt
	}
	if a := dept.Calendar.Due(r.CycleStart, cat.Aim); a.Before(r.DueAt) {
		return a
	}
	return r.DueAt
}

// metAim says whether r, judged against its promise, responded by the
// category's aim (see the package comment).
func metAim(r store.Request, evs []store.Event, dept *config.Department, cat *config.Category) bool {
	if cat.Aim.IsZero() || dept.Calendar == nil {
		return false
	}
	resp := r.FirstResponseAt
	if resp.IsZero() && r.State == store.StateResolved {
		resp = r.ResolvedAt
	}
	if resp.IsZero() {
		return false
	}
	aim := dept.Calendar.Due(r.ReceivedAt, cat.Aim)
	if due := dueInForce(r, evs, dept, cat, resp); !due.IsZero() && due.Before(aim) {
		aim = due
	}
	return !resp.After(aim)
}

// dueInForce is the due time that held when r first responded at resp.
func dueInForce(r store.Request, evs []store.Event, dept *config.Department, cat *config.Category, resp time.Time) time.Time {
	moved := false
	var eta time.Time
	for _, e := range evs {
		switch e.Kind {
		case store.EventETA, store.EventReopened, store.EventLateNotice, "resumed":
			if !e.At.Before(resp) && !(e.Kind == store.EventETA && e.At.Equal(resp)) {
				moved = true
			}
		}
		if e.Kind == store.EventETA && !e.At.After(resp) && dept.Calendar != nil {
			if cmds, _, _ := rules.ParseCommands(e.Detail, dept.Calendar, e.At); len(cmds) > 0 && cmds[0].Kind == rules.CommandETA {
				eta = cmds[0].Due
			}
		}
	}
	switch {
	case !moved:
		return r.DueAt
	case !eta.IsZero():
		return eta
	case dept.Calendar != nil && !cat.Commitment.IsZero():
		return dept.Calendar.Due(r.ReceivedAt, cat.Commitment)
	}
	return r.DueAt
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted
// ascending values; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func categoryOf(d *config.Department, name string) *config.Category {
	if c, ok := d.Categories[name]; ok {
		return c
	}
	return d.Categories[rules.DefaultCategory]
}

// DayLength is the business time of the calendar's next working day
// after t, the unit a working-day commitment is counted in.
func DayLength(cal *calendar.Calendar, t time.Time) time.Duration {
	open := cal.NextOpen(t).In(cal.Location())
	y, m, d := open.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, cal.Location())
	return cal.BusinessBetween(start, start.AddDate(0, 0, 1))
}

// suggest proposes a realistic commitment when the p80 response time is
// above the commitment, or below half of it: p80 rounded up to the next
// whole working day for a commitment in days, to the next whole business
// hour when p80 is an hour or more, else to the next whole minute (at
// least one). A suggestion always moves the commitment toward the record:
// longer when p80 is above it, shorter when below; when rounding would
// land on the other side (a 2m commitment with a p80 of 0m must not
// become 1h), there is none.
func suggest(cal *calendar.Calendar, rec Record, now time.Time) (calendar.Commitment, string) {
	cm := rec.Commitment
	if rec.Answered == 0 || cm.IsZero() || (cm.Days > 0 && cm.Business > 0) {
		return calendar.Commitment{}, ""
	}
	var limit, proposed time.Duration
	var next calendar.Commitment
	if cm.Days > 0 {
		day := DayLength(cal, now)
		if day <= 0 {
			return calendar.Commitment{}, ""
		}
		limit = time.Duration(cm.Days) * day
		n := max(1, int((rec.P80+day-1)/day))
		next, proposed = calendar.Commitment{Days: n}, time.Duration(n)*day
	} else {
		limit = cm.Business
		unit := time.Minute
		if rec.P80 >= time.Hour {
			unit = time.Hour
		}
		proposed = max(unit, (rec.P80+unit-1)/unit*unit)
		next = calendar.Commitment{Business: proposed}
	}
	var why string
	switch {
	case rec.P80 > limit && proposed > limit:
		why = fmt.Sprintf("p80 first response %s is above the %s commitment", mailtext.Span(rec.P80), cm)
	case rec.P80 < limit/2 && proposed < limit:
		why = fmt.Sprintf("p80 first response %s is below half the %s commitment", mailtext.Span(rec.P80), cm)
	default:
		return calendar.Commitment{}, ""
	}
	return next, why + "; a realistic commitment is " + next.String()
}

// Language is the language r is answered in: its own, else its
// department's.
func Language(dept *config.Department, r store.Request) string {
	if r.Language != "" {
		return r.Language
	}
	if dept != nil && dept.Language != "" {
		return dept.Language
	}
	return "en"
}

// Age writes how long ago something happened, for lists people scan:
// "just now", "12m", "3h 05m", "4d".
func Age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

type date struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time, loc *time.Location) date {
	y, m, d := t.In(loc).Date()
	return date{y, m, d}
}
