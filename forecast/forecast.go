// Package forecast says when a new request can honestly expect an answer,
// given the queue in front of it, the staff who are in and how fast the
// department has been answering lately. It is pure and deterministic: the
// caller gathers the inputs (from the store, or from a simulation) and
// Expect turns them into a date on the department's business calendar. It
// imports only the calendar.
//
// The model: staff answer open requests earliest commitment first, so the
// requests ahead of a new one are the open, unanswered ones due no later
// than it. Answers come at Rate per present staff member per business hour
// (from the record, else DefaultRate). The number answered within a
// business time w is taken as Poisson with mean c·w (c the capacity), and
// the forecast is the w by which the k-th answer (k = ahead + 1) has come
// with the Confidence asked for, by the normal approximation:
// c·w − z·√(c·w) = k, so w = ((z + √(z² + 4k)) / 2)² / c.
package forecast

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/calendar"
)

// DefaultRate is the answers per present staff member per business hour
// assumed while the record is too thin to measure: a first answer every
// 20 minutes.
const DefaultRate = 3.0

// MinRecord is how many answers, and MinStaffHours how many staff-hours,
// the record must hold before its rate replaces DefaultRate.
const (
	MinRecord     = 20
	MinStaffHours = 8.0
)

// DefaultZ is the one-sided normal quantile for a 95 % forecast.
const DefaultZ = 1.645

// Record is the department's recent track record.
type Record struct {
	// Answered is how many requests got their first response within the
	// record's window, and StaffHours the staff time there was work for
	// in it: the integral of min(open requests, staff present) over its
	// business time. Hours when staff had nothing to answer do not count,
	// or a quiet week would make a busy Monday look slow.
	Answered   int
	StaffHours float64
	// FirstResponses are the category's recent first-response times in
	// business time; shown, and their median reported, not used by the
	// model (a queue that has drained should not inherit yesterday's wait).
	FirstResponses []time.Duration
}

// Rate is the record's answers per staff-hour and whether the record is
// thick enough to use.
func (r Record) Rate() (float64, bool) {
	if r.Answered < MinRecord || r.StaffHours < MinStaffHours {
		return 0, false
	}
	return float64(r.Answered) / r.StaffHours, true
}

// Input is everything a forecast reads.
type Input struct {
	// Arrival is when the request arrived, and Due the due time of its
	// commitment on Calendar.
	Arrival  time.Time
	Due      time.Time
	Calendar *calendar.Calendar
	// Ahead is how many open, unanswered requests are due no later than
	// this one (in its category and the ones whose commitment is shorter).
	Ahead int
	// Staff answer requests; Away are those marked away now (excluded).
	Staff []string
	Away  []string
	// Hours is, per staff member, the share of the calendar's open hours
	// they work (0.5 for mornings only); missing means 1.
	Hours map[string]float64
	// Record is the department's recent record.
	Record Record
	// Overtake lists the requests that will arrive after this one and
	// still be answered before it (a shorter commitment puts them ahead).
	Overtake []Inflow
	// Z is the normal quantile of the confidence wanted; 0 means DefaultZ.
	Z float64
}

// Inflow is a stream of later requests that overtake this one: Rate of
// them arrive per business hour, and those arriving within Within of
// business time after this one are due before it.
type Inflow struct {
	Category string
	Rate     float64
	Within   time.Duration
}

// Forecast is the outcome, with the figures that led to it.
type Forecast struct {
	// Due is the commitment's due time; Expected when the forecast says
	// the answer comes; Promise the later of the two: the date to give.
	Due, Expected, Promise time.Time
	// Later: the forecast is later than the commitment.
	Later bool
	// Ahead and Away echo the inputs; Present is the staff in (away
	// excluded), each counted by their share of the open hours.
	Ahead   int
	Present float64
	Away    []string
	// Rate is the answers per staff-hour used; FromRecord says whether it
	// came from the record or DefaultRate.
	Rate       float64
	FromRecord bool
	// Overtakers is how many later requests the forecast expects to be
	// answered before this one.
	Overtakers int
	// Wait is the forecast business time from arrival to the answer.
	Wait time.Duration
	// MedianFirstResponse is the median of Record.FirstResponses (0 when
	// none).
	MedianFirstResponse time.Duration
}

// Expect forecasts the answer to the request in in.
func Expect(in Input) Forecast {
	f := Forecast{Due: in.Due, Ahead: max(in.Ahead, 0)}
	f.Present, f.Away = presence(in.Staff, in.Away, in.Hours)
	f.Rate, f.FromRecord = in.Record.Rate()
	if !f.FromRecord {
		f.Rate = DefaultRate
	}
	f.MedianFirstResponse = median(in.Record.FirstResponses)
	z := in.Z
	if z <= 0 {
		z = DefaultZ
	}
	// Requests that overtake this one during its wait lengthen it, which
	// lets more overtake: iterate to the fixed point (a few rounds; the
	// sequence only grows, and is capped at MaxWait).
	f.Wait = Wait(f.Ahead, f.Present, f.Rate, z)
	for range 8 {
		var more float64
		for _, in := range in.Overtake {
			more += in.Rate * min(f.Wait, in.Within).Hours()
		}
		n := int(math.Ceil(more))
		if n <= f.Overtakers {
			break
		}
		f.Overtakers = n
		f.Wait = Wait(f.Ahead+n, f.Present, f.Rate, z)
	}
	f.Expected = in.Calendar.AddBusiness(in.Arrival, f.Wait)
	f.Promise = in.Due
	if f.Expected.After(in.Due) {
		f.Promise, f.Later = f.Expected, true
	}
	return f
}

// presence is the staff in, each counted by their share of the open
// hours, and the staff away.
func presence(staff, away []string, hours map[string]float64) (float64, []string) {
	out := make(map[string]bool, len(away))
	for _, a := range away {
		out[strings.ToLower(strings.TrimSpace(a))] = true
	}
	present, gone := 0.0, []string(nil)
	for _, s := range staff {
		if out[strings.ToLower(strings.TrimSpace(s))] {
			gone = append(gone, s)
			continue
		}
		if h, ok := hours[s]; ok {
			present += h
		} else {
			present++
		}
	}
	return present, gone
}

// MaxWait bounds a forecast: with nobody present the answer is a year of
// business time away, which a promise then caps at the commitment's limit.
const MaxWait = calendar.MaxCommitmentBusiness

// Wait is the business time by which the (ahead+1)-th answer has come with
// quantile z when present staff answer rate requests an hour each, rounded
// up to the minute.
func Wait(ahead int, present, rate, z float64) time.Duration {
	c := present * rate
	if c <= 0 || math.IsNaN(c) {
		return MaxWait
	}
	k := float64(ahead + 1)
	x := (z + math.Sqrt(z*z+4*k)) / 2
	h := x * x / c
	w := time.Duration(math.Ceil(h*60)) * time.Minute
	if w > MaxWait || w <= 0 {
		return MaxWait
	}
	return w
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// Lines describe the forecast's inputs and outcome for people (`ackd
// classify`, `ackd explain`).
func (f Forecast) Lines(loc *time.Location) []string {
	src := "default rate (record too thin)"
	if f.FromRecord {
		src = "from the record"
	}
	away := "none"
	if len(f.Away) > 0 {
		away = strings.Join(f.Away, ", ")
	}
	lines := []string{
		fmt.Sprintf("queue ahead: %d open unanswered request(s) due no later", f.Ahead),
		fmt.Sprintf("staff in: %g (away: %s)", f.Present, away),
		fmt.Sprintf("rate: %.2f answers per staff-hour, %s", f.Rate, src),
	}
	if f.Overtakers > 0 {
		lines = append(lines, fmt.Sprintf("expected to overtake it (shorter commitments arriving later): %d", f.Overtakers))
	}
	if f.MedianFirstResponse > 0 {
		lines = append(lines, "recent median first response: "+f.MedianFirstResponse.String())
	}
	lines = append(lines,
		fmt.Sprintf("wait: %s of business time, expected %s", f.Wait, f.Expected.In(loc).Format(time.RFC3339)),
		fmt.Sprintf("commitment due %s", f.Due.In(loc).Format(time.RFC3339)))
	if f.Later {
		lines = append(lines, "promise: the forecast (later than the commitment)")
	} else {
		lines = append(lines, "promise: the commitment")
	}
	return lines
}

// Span is one request of the record: when it arrived and when it was first
// answered (zero: not yet).
type Span struct{ Received, Answered time.Time }

// Measure builds the record of [from, to) from the requests that were
// open in it, with present staff answering during cal's business hours:
// Answered counts the first answers in the window, StaffHours integrates
// min(open, present) over the window's business time.
func Measure(spans []Span, present float64, cal *calendar.Calendar, from, to time.Time) Record {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	var rec Record
	open := 0
	for _, s := range spans {
		if !s.Answered.IsZero() && !s.Answered.After(from) || !s.Received.Before(to) {
			continue
		}
		if s.Received.After(from) {
			edges = append(edges, edge{s.Received, +1})
		} else {
			open++
		}
		if !s.Answered.IsZero() && s.Answered.Before(to) {
			edges = append(edges, edge{s.Answered, -1})
			rec.Answered++
		}
	}
	slices.SortStableFunc(edges, func(a, b edge) int { return a.at.Compare(b.at) })
	var busy time.Duration
	last := from
	for _, e := range edges {
		if n := min(float64(open), present); n > 0 && e.at.After(last) {
			busy += time.Duration(n * float64(cal.BusinessBetween(last, e.at)))
		}
		last = e.at
		open += e.delta
	}
	if n := min(float64(open), present); n > 0 && to.After(last) {
		busy += time.Duration(n * float64(cal.BusinessBetween(last, to)))
	}
	rec.StaffHours = busy.Hours()
	return rec
}

// Arrivals is how many requests of a category arrived in a window of the
// record, with the category's commitment.
type Arrivals struct {
	Category   string
	Commitment calendar.Commitment
	Count      int
}

// Window is a stretch of the record: the business time it held and the
// arrivals per category in it.
type Window struct {
	Business time.Duration
	Arrivals []Arrivals
}

// Inflows turns the record's arrivals per category into the streams that
// overtake a request arriving at arrival and due at due: every category
// whose requests, arriving later, are due before it. Each category's rate
// is the highest of the windows' (a long window for the usual week, a
// short one for a day when more than usual reached the desk).
func Inflows(cal *calendar.Calendar, arrival, due time.Time, windows ...Window) []Inflow {
	total := cal.BusinessBetween(arrival, due)
	var out []Inflow
	idx := map[string]int{}
	for _, w := range windows {
		if w.Business <= 0 {
			continue
		}
		for _, a := range w.Arrivals {
			within := total - cal.BusinessBetween(arrival, cal.Due(arrival, a.Commitment))
			if within <= 0 || a.Count == 0 {
				continue
			}
			rate := float64(a.Count) / w.Business.Hours()
			if i, ok := idx[a.Category]; ok {
				out[i].Rate = max(out[i].Rate, rate)
				continue
			}
			idx[a.Category] = len(out)
			out = append(out, Inflow{Category: a.Category, Rate: rate, Within: within})
		}
	}
	return out
}

// Past is one request of the record as the store holds it.
type Past struct {
	Category string
	Received time.Time
	// Due is its commitment's due time; Answered its first answer (zero:
	// none yet).
	Due, Answered time.Time
	// Closed: resolved or waiting on the requester without an answer, so
	// nobody works on it.
	Closed bool
}

// Desk is what a forecast knows of the department besides its record.
type Desk struct {
	Calendar *calendar.Calendar
	// Commitments of the categories by name.
	Commitments map[string]calendar.Commitment
	Staff       []string
	Away        []string
	Hours       map[string]float64
	Z           float64
}

// RecordWindow is how far back the record reaches, and ShortWindow the
// recent business time whose arrival rate counts when it is higher than
// the record's.
const (
	RecordWindow = 7 * 24 * time.Hour
	ShortWindow  = 4 * time.Hour
)

// Assemble gathers the Input for a request arriving at arrival with due
// time due from the department's record (requests received before it;
// an answer after arrival is not known yet).
func Assemble(desk Desk, record []Past, arrival, due time.Time) Input {
	cal := desk.Calendar
	in := Input{Arrival: arrival, Due: due, Calendar: cal, Staff: desk.Staff, Away: desk.Away, Hours: desk.Hours, Z: desk.Z}
	from := arrival.Add(-RecordWindow)
	short := cal.SubBusiness(arrival, ShortWindow)
	var spans []Span
	long, recent := map[string]int{}, map[string]int{}
	for _, p := range record {
		if !p.Received.Before(arrival) {
			continue
		}
		answered := p.Answered
		if answered.After(arrival) {
			answered = time.Time{}
		}
		if answered.IsZero() && !p.Closed && !p.Due.IsZero() && !p.Due.After(due) {
			in.Ahead++
		}
		if !answered.IsZero() && answered.Before(from) {
			continue
		}
		spans = append(spans, Span{Received: p.Received, Answered: answered})
		if !p.Received.Before(from) {
			long[p.Category]++
		}
		if !p.Received.Before(short) {
			recent[p.Category]++
		}
	}
	present, _ := presence(desk.Staff, desk.Away, desk.Hours)
	in.Record = Measure(spans, present, cal, from, arrival)
	counts := func(n map[string]int) []Arrivals {
		var out []Arrivals
		for _, name := range slices.Sorted(maps.Keys(n)) {
			if cm, ok := desk.Commitments[name]; ok {
				out = append(out, Arrivals{Category: name, Commitment: cm, Count: n[name]})
			}
		}
		return out
	}
	in.Overtake = Inflows(cal, arrival, due,
		Window{Business: cal.BusinessBetween(from, arrival), Arrivals: counts(long)},
		Window{Business: ShortWindow, Arrivals: counts(recent)})
	return in
}
