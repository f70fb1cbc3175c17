// Package simulate runs a department through a scenario on a virtual
// clock: requests arrive (per weekday, hour and category, with surges and
// outages), the department's real rules decide them, staff with working
// hours and absences answer the queue earliest commitment first, and the
// real lifecycle.Step sends the escalations and late notices and hears the
// reminders requesters write when a date they were given passes. The same
// arrivals and answers are run twice: with the static commitment as the
// receipt's date and with the queue-aware forecast (package forecast), so
// the two can be compared. No network, no store, no clock: a seed makes a
// run repeatable.
package simulate

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/forecast"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/rules"
)

// Mode is how the receipt dates its answer.
type Mode int

// Modes, in the order of Result.Modes.
const (
	Static Mode = iota
	QueueAware
)

func (m Mode) String() string {
	if m == QueueAware {
		return "queue-aware"
	}
	return "static"
}

// Request is one simulated request.
type Request struct {
	Arrival   time.Time
	Requester string
	Subject   string
	Category  string // as the rules decided
	Rule      string // the rule that matched; "" when the default category caught it
	Handling  time.Duration
	Due       time.Time // the commitment's due time
	// Answer is when staff answered; zero: never within the simulation.
	Answer time.Time
	// Forecast is what the forecast said at arrival.
	Forecast forecast.Forecast
	// Reported: in the reported period (not the warm-up).
	Reported bool
	// Outcomes per Mode.
	Outcomes [2]Outcome
}

// Outcome is what one request saw under one mode.
type Outcome struct {
	Promise     time.Time
	Kept        bool
	LateNotices int
	Reminders   int
	Escalations int
}

// Figures sum up one mode over the reported period.
type Figures struct {
	Mode        Mode
	Requests    int
	Kept        int
	LateNotices int
	Reminders   int
	Escalations int
	// Promised and actual waits in business time.
	MedianPromised, P90Promised time.Duration
	MedianActual, P90Actual     time.Duration
}

// KeptShare is Kept / Requests.
func (f Figures) KeptShare() float64 {
	if f.Requests == 0 {
		return 0
	}
	return float64(f.Kept) / float64(f.Requests)
}

// Result is a run.
type Result struct {
	Seed     uint64
	Start    time.Time
	End      time.Time
	Refused  int // arrivals the rules would not answer (none expected)
	Requests []*Request
	Modes    [2]Figures

	calendar *calendar.Calendar
	outages  []Outage // those that start in the reported period
	days     int
}

// Run simulates s with seed (0: the scenario's).
func Run(s *Scenario, seed uint64) (*Result, error) {
	d := s.dept
	if d == nil {
		return nil, fmt.Errorf("simulate: scenario has no department (Bind)")
	}
	if seed == 0 {
		seed = s.Seed
	}
	rng := rand.New(rand.NewPCG(seed, 0x61636b64)) // "ackd"
	cal := d.Calendar
	warm := s.start.AddDate(0, 0, -s.WarmupDays)
	end := s.start.AddDate(0, 0, s.Days)
	res := &Result{Seed: seed, Start: s.start, End: end, calendar: cal, days: s.Days}
	for _, o := range s.Outages {
		if !o.from.Before(s.start) && o.from.Before(end) {
			res.outages = append(res.outages, o)
		}
	}

	reqs, refused := s.arrivals(rng, warm, end)
	res.Refused, res.Requests = refused, reqs
	shifts := s.shifts(warm, end.AddDate(0, 0, 60))
	s.serve(reqs, shifts)
	for _, r := range reqs {
		for m := Static; m <= QueueAware; m++ {
			r.Outcomes[m] = s.follow(d, r, m)
		}
	}
	for m := Static; m <= QueueAware; m++ {
		res.Modes[m] = figures(cal, reqs, m)
	}
	return res, nil
}

// arrivals draws the requests of [from, to) hour by hour and has the
// department's rules decide each.
func (s *Scenario) arrivals(rng *rand.Rand, from, to time.Time) ([]*Request, int) {
	d := s.dept
	loc := d.Calendar.Location()
	var wdSum, hSum, shareSum float64
	for _, w := range s.Weekdays {
		wdSum += w
	}
	for _, h := range s.Hours {
		hSum += h
	}
	for _, c := range s.Categories {
		shareSum += c.Share
	}
	weekly := float64(s.Requesters) * s.TicketsPerUserPerMonth * 7 / 30.4375
	var reqs []*Request
	refused, n := 0, 0
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		wd := s.weekday(day.Weekday())
		for h := range 24 {
			hour := time.Date(day.Year(), day.Month(), day.Day(), h, 0, 0, 0, loc)
			lambda := weekly * wd / wdSum * s.Hours[h] / hSum * s.factor(hour)
			for _, c := range s.Categories {
				k := poisson(rng, lambda*c.Share/shareSum)
				for range k {
					n++
					at := hour.Add(time.Duration(rng.Int64N(int64(time.Hour))) / time.Second * time.Second)
					who := fmt.Sprintf("user%04d@example.test", rng.IntN(s.Requesters))
					subj := c.Subjects[rng.IntN(len(c.Subjects))]
					handling := c.Answer.draw(rng)
					m := &rules.Message{
						MessageID: fmt.Sprintf("sim-%d@example.test", n),
						From:      rules.Address{Address: who},
						To:        []rules.Address{{Address: d.Address}},
						Subject:   subj,
						Text:      subj,
					}
					dec := s.rules.Decide(d, m, at)
					if !dec.Reply {
						refused++
						continue
					}
					reqs = append(reqs, &Request{Arrival: at, Requester: who, Subject: subj, Category: dec.Category, Rule: dec.Rule,
						Handling: handling, Due: dec.DueAt, Reported: !at.Before(s.start)})
				}
			}
		}
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].Arrival.Before(reqs[j].Arrival) })
	return reqs, refused
}

func (s *Scenario) weekday(w time.Weekday) float64 {
	for k, v := range s.Weekdays {
		if d, err := calendar.ParseWeekday(k); err == nil && d == w {
			return v
		}
	}
	return 0
}

// factor is the surge and outage multiplier of arrivals in the hour at t.
func (s *Scenario) factor(t time.Time) float64 {
	f := 1.0
	off := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	for _, sg := range s.Surges {
		if t.Weekday() != sg.day {
			continue
		}
		for _, sp := range sg.spans {
			if off >= sp.Start && off < sp.End {
				f *= sg.Factor
			}
		}
	}
	for _, o := range s.Outages {
		if !t.Before(o.from) && t.Before(o.to) {
			f *= o.Arrivals
		}
	}
	return f
}

// poisson draws from a Poisson distribution (Knuth; lambda is small).
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// draw is a log-normal sample, whole seconds.
func (dist Dist) draw(rng *rand.Rand) time.Duration {
	sigma := math.Log(float64(dist.P90)/float64(dist.Median)) / 1.2815515655446004
	v := float64(dist.Median) * math.Exp(sigma*rng.NormFloat64())
	return max(time.Duration(v).Round(time.Second), time.Second)
}

// shift is one stretch of a staff member's working time.
type shift struct {
	staff      int
	start, end time.Time
}

// shifts lists every working stretch of every staff member in [from, to),
// absences and outage duty taken out, ordered by start.
func (s *Scenario) shifts(from, to time.Time) []shift {
	cal := s.dept.Calendar
	var out []shift
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		noon := day.Add(12 * time.Hour)
		if !cal.IsWorkday(noon) {
			continue
		}
		away := s.away(day)
		for i, st := range s.Staff {
			if slices.Contains(away, st.Name) {
				continue
			}
			for _, sp := range st.spans {
				out = append(out, shift{staff: i, start: day.Add(sp.Start), end: day.Add(sp.End)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// away is who is not at the desk on day (absent, or fixing an outage).
func (s *Scenario) away(day time.Time) []string {
	loc := s.dept.Calendar.Location()
	date := calendar.DateOf(day, loc)
	var out []string
	for _, a := range s.Absences {
		if !before(date, a.from) && !before(a.to, date) {
			out = append(out, a.Who)
		}
	}
	next := day.AddDate(0, 0, 1)
	for _, o := range s.Outages {
		if o.from.Before(next) && o.to.After(day) {
			out = append(out, o.Away...)
		}
	}
	return out
}

func before(a, b calendar.Date) bool {
	return a.Year < b.Year || a.Year == b.Year && (a.Month < b.Month || a.Month == b.Month && a.Day < b.Day)
}

// queue is the open, unanswered requests, earliest commitment first.
type queue []*Request

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].Due.Equal(q[j].Due) {
		return q[i].Due.Before(q[j].Due)
	}
	return q[i].Arrival.Before(q[j].Arrival)
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*Request)) }
func (q *queue) Pop() any {
	old := *q
	r := old[len(old)-1]
	*q = old[:len(old)-1]
	return r
}

// done is a staff member finishing an answer.
type done struct {
	at    time.Time
	staff int
}

type doneHeap []done

func (h doneHeap) Len() int { return len(h) }
func (h doneHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].staff < h[j].staff
}
func (h doneHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *doneHeap) Push(x any)   { *h = append(*h, x.(done)) }
func (h *doneHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// serve is the discrete-event simulation of the desk: arrivals, shift
// starts and finished answers in time order. Each request's Answer and
// the Forecast it would have been given are set.
func (s *Scenario) serve(reqs []*Request, shifts []shift) {
	d := s.dept
	n := len(s.Staff)
	busy := make([]bool, n)
	cur := make([]shift, n) // each one's current or last shift
	names := make([]string, n)
	hours := s.staffHours()
	for i, st := range s.Staff {
		names[i] = st.Name
	}
	var q queue
	var dones doneHeap
	var past []forecast.Past
	commitments := map[string]calendar.Commitment{}
	for name, c := range d.Categories {
		commitments[name] = c.Commitment
	}
	dispatch := func(t time.Time) {
		for i := range n {
			if q.Len() == 0 {
				return
			}
			if busy[i] || t.Before(cur[i].start) || !t.Before(cur[i].end) {
				continue
			}
			r := heap.Pop(&q).(*Request)
			r.Answer = t.Add(time.Duration(float64(r.Handling) / s.Staff[i].Share).Round(time.Second))
			busy[i] = true
			heap.Push(&dones, done{at: r.Answer, staff: i})
		}
	}
	ai, si := 0, 0
	for ai < len(reqs) || dones.Len() > 0 || (si < len(shifts) && q.Len() > 0) {
		// The next event: a finished answer, a shift start or an arrival,
		// in that order at the same instant.
		var next time.Time
		kind := -1
		if dones.Len() > 0 {
			next, kind = dones[0].at, 0
		}
		if si < len(shifts) && (kind < 0 || shifts[si].start.Before(next)) {
			next, kind = shifts[si].start, 1
		}
		if ai < len(reqs) && (kind < 0 || reqs[ai].Arrival.Before(next)) {
			next, kind = reqs[ai].Arrival, 2
		}
		switch kind {
		case 0:
			dn := heap.Pop(&dones).(done)
			busy[dn.staff] = false
		case 1:
			cur[shifts[si].staff] = shifts[si]
			si++
		case 2:
			r := reqs[ai]
			ai++
			day := time.Date(r.Arrival.Year(), r.Arrival.Month(), r.Arrival.Day(), 0, 0, 0, 0, r.Arrival.Location())
			desk := forecast.Desk{Calendar: d.Calendar, Commitments: commitments, Staff: names, Away: s.away(day), Hours: hours}
			past = append(past[:0], pastOf(reqs[:ai-1], r.Arrival)...)
			r.Forecast = forecast.Expect(forecast.Assemble(desk, past, r.Arrival, r.Due))
			heap.Push(&q, r)
		default:
			return
		}
		dispatch(next)
	}
}

// pastOf is the record as the store would hold it at now: the requests
// that arrived in the record window, and older ones not yet answered.
func pastOf(before []*Request, now time.Time) []forecast.Past {
	from := now.Add(-forecast.RecordWindow)
	var out []forecast.Past
	for _, r := range before {
		if r.Arrival.Before(from) && !r.Answer.IsZero() && r.Answer.Before(from) {
			continue
		}
		out = append(out, forecast.Past{Category: r.Category, Received: r.Arrival, Due: r.Due, Answered: r.Answer})
	}
	return out
}

// staffHours is each staff member's share of the calendar's open hours
// on a workday: what an admin would write beside their name.
func (s *Scenario) staffHours() map[string]float64 {
	cal := s.dept.Calendar
	day := s.start
	for !cal.IsWorkday(day.Add(12 * time.Hour)) {
		day = day.AddDate(0, 0, 1)
	}
	open := cal.BusinessBetween(day, day.AddDate(0, 0, 1))
	out := make(map[string]float64, len(s.Staff))
	for _, st := range s.Staff {
		var sum time.Duration
		for _, sp := range st.spans {
			sum += cal.BusinessBetween(day.Add(sp.Start), day.Add(sp.End))
		}
		out[st.Name] = float64(sum) / float64(open)
	}
	return out
}

// follow runs the real lifecycle over r under mode m: the clock's
// wake-ups, the requester's reminder when a date given passes, the answer.
func (s *Scenario) follow(d *config.Department, r *Request, m Mode) Outcome {
	promise := r.Due
	if m == QueueAware {
		promise = r.Forecast.Promise
	}
	o := Outcome{Promise: promise, Kept: !r.Answer.IsZero() && !r.Answer.After(promise)}
	lr := lifecycle.Request{Ref: "SIM", Requester: r.Requester, Subject: r.Subject, Category: r.Category,
		ReceivedAt: r.Arrival, State: lifecycle.Acknowledged, DueAt: r.Due, CycleStart: r.Arrival, LastActivityAt: r.Arrival}
	if promise.After(r.Due) {
		lr.PromisedAt = promise
	}
	given, reminded := promise, time.Time{}
	requester := &lifecycle.Message{From: rules.Address{Address: r.Requester}, Role: lifecycle.Requester, Text: "any news?"}
	for range 1000 {
		wake := lifecycle.NextWake(d, lr)
		remind := time.Time{}
		if !given.Equal(reminded) {
			remind = given.Add(s.ReminderAfter)
		}
		first := func(ts ...time.Time) time.Time {
			var f time.Time
			for _, t := range ts {
				if !t.IsZero() && (f.IsZero() || t.Before(f)) {
					f = t
				}
			}
			return f
		}
		next := first(wake, remind)
		if next.IsZero() || !r.Answer.IsZero() && !r.Answer.After(next) {
			return o // answered first (or nothing left to happen)
		}
		var tr lifecycle.Transition
		if next.Equal(wake) {
			tr = lifecycle.Step(d, lr, lifecycle.Tick{}, next)
		} else {
			o.Reminders++
			reminded = given
			tr = lifecycle.Step(d, lr, requester, next)
		}
		for _, mail := range tr.Mail {
			switch mail.Kind {
			case lifecycle.LateNotice:
				o.LateNotices++
				given = mail.NewDue
			case lifecycle.Escalation:
				o.Escalations++
			}
		}
		lr = tr.Next
	}
	return o
}

func figures(cal *calendar.Calendar, reqs []*Request, m Mode) Figures {
	f := Figures{Mode: m}
	var promised, actual []time.Duration
	for _, r := range reqs {
		if !r.Reported {
			continue
		}
		o := r.Outcomes[m]
		f.Requests++
		if o.Kept {
			f.Kept++
		}
		f.LateNotices += o.LateNotices
		f.Reminders += o.Reminders
		f.Escalations += o.Escalations
		promised = append(promised, cal.BusinessBetween(r.Arrival, o.Promise))
		if !r.Answer.IsZero() {
			actual = append(actual, cal.BusinessBetween(r.Arrival, r.Answer))
		}
	}
	f.MedianPromised, f.P90Promised = quantile(promised, 0.5), quantile(promised, 0.9)
	f.MedianActual, f.P90Actual = quantile(actual, 0.5), quantile(actual, 0.9)
	return f
}

// quantile is the nearest-rank quantile q of ds (0 when empty).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// hours writes a business duration as hours with one decimal.
func hours(d time.Duration) string { return fmt.Sprintf("%.1f h", d.Hours()) }

// Table writes the side-by-side comparison.
func (res *Result) Table() string {
	var b strings.Builder
	st, qa := res.Modes[Static], res.Modes[QueueAware]
	fmt.Fprintf(&b, "seed %d, %s to %s, %d requests", res.Seed, res.Start.Format("2006-01-02"),
		res.End.AddDate(0, 0, -1).Format("2006-01-02"), st.Requests)
	if res.Refused > 0 {
		fmt.Fprintf(&b, " (%d refused by the rules)", res.Refused)
	}
	b.WriteString("\n\n")
	row := func(name, a, c string) { fmt.Fprintf(&b, "%-34s %14s %14s\n", name, a, c) }
	row("", "static", "queue-aware")
	row("promises kept", fmt.Sprintf("%d (%.1f %%)", st.Kept, 100*st.KeptShare()), fmt.Sprintf("%d (%.1f %%)", qa.Kept, 100*qa.KeptShare()))
	row("late notices", fmt.Sprint(st.LateNotices), fmt.Sprint(qa.LateNotices))
	row("reminders requesters sent", fmt.Sprint(st.Reminders), fmt.Sprint(qa.Reminders))
	row("escalations", fmt.Sprint(st.Escalations), fmt.Sprint(qa.Escalations))
	row("median promised wait (business)", hours(st.MedianPromised), hours(qa.MedianPromised))
	row("p90 promised wait (business)", hours(st.P90Promised), hours(qa.P90Promised))
	row("median actual wait (business)", hours(st.MedianActual), hours(qa.MedianActual))
	row("p90 actual wait (business)", hours(st.P90Actual), hours(qa.P90Actual))
	return b.String()
}
