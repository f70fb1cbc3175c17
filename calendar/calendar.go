package calendar

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rickar/cal/v2"
)

// Upper bounds of ParseCommitment. They keep a typo such as "3000d" from
// producing a due date years away, and bound the work Due does.
const (
	// MaxCommitmentDays is the most working days a commitment may promise.
	MaxCommitmentDays = 365
	// MaxCommitmentBusiness is the most business time a commitment may
	// promise: a year of round-the-clock service.
	MaxCommitmentBusiness = 8760 * time.Hour
)

// ClosedHorizon is how long a search through the calendar may find no
// working time before it gives up. A calendar whose days are all holidays
// would otherwise make NextOpen, Due and friends loop forever; instead they
// return the midnight that ends (or, going back, starts) the searched window,
// a far-off but well-ordered answer.
const ClosedHorizon = 3 * 366 * 24 * time.Hour

const (
	closedHorizonDays = int(ClosedHorizon / (24 * time.Hour))
	// maxDueDays bounds a hand-built Commitment{Days: huge}; parsed ones are
	// far below it.
	maxDueDays = 100 * 366
)

// Commitment is a service promise: a business duration ("4h", "90m") or a
// number of working days ("3d"). Exactly one of the two is non-zero.
type Commitment struct {
	Business time.Duration
	Days     int
}

// ParseCommitment reads "4h", "90m", "1h30m" or "3d".
//
// Business time accepts what time.ParseDuration accepts (any case); working
// days are a whole number followed by "d". Zero, negative, mixed ("1d4h"),
// unitless and oversized values are rejected with a message saying why.
func ParseCommitment(s string) (Commitment, error) {
	fail := func(format string, a ...any) (Commitment, error) {
		return Commitment{}, fmt.Errorf("parse commitment %q: %s", s, fmt.Sprintf(format, a...))
	}
	in := strings.ToLower(strings.TrimSpace(s))
	const want = "want business time like 4h, 90m, 1h30m or working days like 3d"
	switch {
	case in == "":
		return fail("empty; %s", want)
	case strings.HasPrefix(in, "-"):
		return fail("must be positive")
	case isDigits(in):
		return fail("missing unit: write %sh for business hours or %sd for working days", in, in)
	}
	if strings.Contains(in, "d") {
		num, ok := strings.CutSuffix(in, "d")
		if !ok || !isDigits(num) {
			if strings.ContainsAny(in, "hms") && strings.ContainsAny(in, "0123456789") {
				return fail("cannot mix working days (d) with business time (h, m); pick one")
			}
			return fail("%s", want)
		}
		n, err := strconv.Atoi(num)
		if err != nil || n > MaxCommitmentDays {
			return fail("at most %dd", MaxCommitmentDays)
		}
		if n == 0 {
			return fail("must be positive")
		}
		return Commitment{Days: n}, nil
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		return fail("%s", want)
	}
	switch {
	case d <= 0:
		return fail("must be positive")
	case d > MaxCommitmentBusiness:
		return fail("at most %s of business time", formatBusiness(MaxCommitmentBusiness))
	}
	return Commitment{Business: d}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String renders the commitment the way it is written in config ("4h", "3d",
// "1h30m"); ParseCommitment reads it back to the same value. The zero
// commitment renders as "0h", which ParseCommitment rejects.
func (c Commitment) String() string {
	switch {
	case c.Days == 0:
		return formatBusiness(c.Business)
	case c.Business == 0:
		return strconv.Itoa(c.Days) + "d"
	default:
		// Not a valid commitment, but say honestly what it holds.
		return strconv.Itoa(c.Days) + "d" + formatBusiness(c.Business)
	}
}

// formatBusiness writes whole minutes as "1h30m" rather than
// time.Duration's "1h30m0s", which reads oddly in a receipt.
func formatBusiness(d time.Duration) string {
	if d == 0 {
		return "0h"
	}
	if d%time.Minute != 0 || d < 0 {
		return d.String()
	}
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case m == 0:
		return fmt.Sprintf("%dh", h)
	case h == 0:
		return fmt.Sprintf("%dm", m)
	default:
		return fmt.Sprintf("%dh%dm", h, m)
	}
}

// IsZero says no commitment is set.
func (c Commitment) IsZero() bool { return c.Business == 0 && c.Days == 0 }

// Span is a stretch of working hours within a day, as offsets from midnight.
type Span struct{ Start, End time.Duration }

// String renders the span as "09:00-17:00".
func (s Span) String() string { return formatClock(s.Start) + "-" + formatClock(s.End) }

func formatClock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// FormatHours renders spans the way ParseHours reads them.
func FormatHours(spans []Span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// ParseHours reads "09:00-17:00" or split hours "08:00-12:00,13:00-17:00".
// "24:00" may end a span ("00:00-24:00" is round the clock). Spans must be
// listed from morning to evening and must not overlap; they may touch.
func ParseHours(s string) ([]Span, error) {
	var spans []Span
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		a, b, ok := strings.Cut(part, "-")
		if !ok {
			return nil, fmt.Errorf("parse hours %q: span %q: want HH:MM-HH:MM", s, part)
		}
		start, err := parseClock(strings.TrimSpace(a), false)
		if err != nil {
			return nil, fmt.Errorf("parse hours %q: span %q: %w", s, part, err)
		}
		end, err := parseClock(strings.TrimSpace(b), true)
		if err != nil {
			return nil, fmt.Errorf("parse hours %q: span %q: %w", s, part, err)
		}
		spans = append(spans, Span{Start: start, End: end})
	}
	if err := checkSpans(spans); err != nil {
		return nil, fmt.Errorf("parse hours %q: %w", s, err)
	}
	return spans, nil
}

// checkSpans holds the rules shared by ParseHours and NewCalendar, which may
// be handed spans built in code.
func checkSpans(spans []Span) error {
	if len(spans) == 0 {
		return errors.New("no working hours")
	}
	for i, sp := range spans {
		switch {
		case sp.Start < 0 || sp.End > 24*time.Hour:
			return fmt.Errorf("span %s: outside 00:00-24:00", sp)
		case sp.End <= sp.Start:
			return fmt.Errorf("span %s: ends before it starts", sp)
		case i == 0:
		case sp.Start < spans[i-1].Start:
			return fmt.Errorf("span %s comes before %s: list spans from morning to evening", sp, spans[i-1])
		case sp.Start < spans[i-1].End:
			return fmt.Errorf("span %s overlaps %s", sp, spans[i-1])
		}
	}
	return nil
}

// parseClock reads "H:MM" or "HH:MM"; "24:00" only when it ends a span.
func parseClock(s string, end bool) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !isDigits(h) || !isDigits(m) {
		return 0, fmt.Errorf("bad clock time %q: want HH:MM", s)
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	switch {
	case mm > 59:
		return 0, fmt.Errorf("bad clock time %q: minutes past 59", s)
	case hh == 24 && mm == 0 && end:
		return 24 * time.Hour, nil
	case hh == 24 && mm == 0:
		return 0, fmt.Errorf("bad clock time %q: 24:00 can only end a span", s)
	case hh > 23:
		return 0, fmt.Errorf("bad clock time %q: hours past 23", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// ParseWeekday reads "mon" … "sun" (and full English names), any case.
func ParseWeekday(s string) (time.Weekday, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if in == full || in == full[:3] {
			return d, nil
		}
	}
	return 0, fmt.Errorf("parse weekday %q: want mon, tue, wed, thu, fri, sat or sun", s)
}

// Date is a calendar day without a time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "2026-12-25": four-digit year, two-digit month and day, and
// a day that exists in that month.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: want YYYY-MM-DD of a real day", s)
	}
	return dateOfWall(t), nil
}

// String renders the date as "2026-12-25".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// DateOf is the day t falls on in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = time.UTC
	}
	return dateOfWall(t.In(loc))
}

// noon is a zone-free stand-in for the day, for date arithmetic.
func (d Date) noon() time.Time { return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC) }

func (d Date) valid() bool  { return dateOfWall(d.noon()) == d }
func (d Date) yearDay() int { return d.noon().YearDay() }

// Weekday is the day of the week d falls on.
func (d Date) Weekday() time.Weekday { return d.noon().Weekday() }

// AddDays is the date n days after d (before it when n is negative).
func (d Date) AddDays(n int) Date {
	return dateOfWall(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// CalendarSpec is the input to NewCalendar, already parsed field by field so
// the config loader can point at the line of any bad value.
type CalendarSpec struct {
	Location *time.Location
	Workdays []time.Weekday
	Hours    []Span
	Holidays []Date
	// Public names a public-holiday set ("DE", "DE-BY", "US", "GB", …);
	// empty for none. ValidPublicHolidays says which exist.
	Public string
}

// ValidPublicHolidays reports whether NewCalendar knows the named set. Codes
// are countries ("DE", "US", "GB", "FR", "AT", "CH", "NL", …) and regions
// ("DE-BY", "CH-ZH", "AU-NSW", …) in any case; PublicHolidaySets lists them.
// The data come from github.com/rickar/cal/v2.
func ValidPublicHolidays(code string) bool {
	_, ok := publicHolidayList(code)
	return ok
}

// Calendar is a department's business calendar. All methods are pure and
// safe for concurrent use.
//
// Everything happens in the calendar's time zone on the wall clock: a span
// "09:00-17:00" opens at 09:00 local time every working day whatever the UTC
// offset, so on a DST transition day a span covering the switch is an hour
// longer or shorter in real time. A span edge inside a skipped hour moves to
// the end of the gap. Holidays (explicit and public) close the whole day.
//
// A zero Calendar is never open and uses UTC; build calendars with
// NewCalendar.
type Calendar struct {
	loc     *time.Location
	workday [7]bool
	spans   []Span
	hol     *holidaySet
}

// NewCalendar builds a calendar, checking that it has a time zone, at least
// one workday and valid working hours, that explicit holidays are real days
// and that the public-holiday set exists. All problems are reported at once.
func NewCalendar(spec CalendarSpec) (*Calendar, error) {
	var errs []error
	c := &Calendar{loc: spec.Location}
	if spec.Location == nil {
		errs = append(errs, errors.New("no time zone"))
	}
	for _, wd := range spec.Workdays {
		if wd < time.Sunday || wd > time.Saturday {
			errs = append(errs, fmt.Errorf("bad weekday %d", int(wd)))
			continue
		}
		c.workday[wd] = true
	}
	if c.workday == [7]bool{} {
		errs = append(errs, errors.New("no workdays"))
	}
	if err := checkSpans(spec.Hours); err != nil {
		errs = append(errs, err)
	}
	c.spans = append([]Span(nil), spec.Hours...)
	for _, d := range spec.Holidays {
		if !d.valid() {
			errs = append(errs, fmt.Errorf("holiday %s is not a real day", d))
		}
	}
	var public []*cal.Holiday
	if spec.Public != "" {
		var ok bool
		if public, ok = publicHolidayList(spec.Public); !ok {
			errs = append(errs, fmt.Errorf("unknown public holidays %q (known: %s)",
				spec.Public, strings.Join(PublicHolidaySets(), ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("new calendar: %w", errors.Join(errs...))
	}
	c.hol = newHolidaySet(spec.Holidays, public)
	return c, nil
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

type interval struct{ start, end time.Time }

// wall is the instant at offset off after midnight on day d, on the wall
// clock. time.Date resolves a time inside a DST gap inconsistently across
// zones (forward in Berlin, backward in New York); moving it to the end of
// the gap keeps wall keeping order, which Due's monotonicity relies on.
func (c *Calendar) wall(d Date, off time.Duration) time.Time {
	loc := c.Location()
	h, m := int(off/time.Hour), int(off%time.Hour/time.Minute)
	sec, ns := int(off%time.Minute/time.Second), int(off%time.Second)
	t := time.Date(d.Year, d.Month, d.Day, h, m, sec, ns, loc)
	want := time.Date(d.Year, d.Month, d.Day, h, m, sec, ns, time.UTC)
	y, mo, dd := t.Date()
	hh, mm, ss := t.Clock()
	got := time.Date(y, mo, dd, hh, mm, ss, t.Nanosecond(), time.UTC)
	switch {
	case got.After(want):
		if s, _ := t.ZoneBounds(); !s.IsZero() {
			return s
		}
	case got.Before(want):
		if _, e := t.ZoneBounds(); !e.IsZero() {
			return e
		}
	}
	return t
}

// intervals appends day d's working spans as instants to buf, in order and
// without overlap even when DST squeezes them together.
func (c *Calendar) intervals(d Date, buf []interval) []interval {
	for _, sp := range c.spans {
		s, e := c.wall(d, sp.Start), c.wall(d, sp.End)
		if n := len(buf); n > 0 && s.Before(buf[n-1].end) {
			s = buf[n-1].end
		}
		if e.After(s) {
			buf = append(buf, interval{s, e})
		}
	}
	return buf
}

func (c *Calendar) dayOf(t time.Time) Date { return dateOfWall(t.In(c.Location())) }

// openDay says whether d is a workday and not a holiday.
func (c *Calendar) openDay(d Date, hc *holidayCursor) bool {
	return c.workday[d.Weekday()] && !hc.closed(d)
}

func (c *Calendar) cursor() holidayCursor { return holidayCursor{hs: c.hol} }

// forward calls fn with each stretch of working time at or after t, in order,
// until fn returns true. When the calendar stays closed for longer than
// ClosedHorizon it gives up and returns the midnight ending the searched
// window with ok false.
func (c *Calendar) forward(t time.Time, fn func(s, e time.Time) bool) (giveUp time.Time, ok bool) {
	day, hc := c.dayOf(t), c.cursor()
	var arr [8]interval
	for closed := 0; closed <= closedHorizonDays; day = day.AddDays(1) {
		found := false
		if c.openDay(day, &hc) {
			for _, iv := range c.intervals(day, arr[:0]) {
				if !iv.end.After(t) {
					continue
				}
				found = true
				s := iv.start
				if s.Before(t) {
					s = t
				}
				if fn(s, iv.end) {
					return time.Time{}, true
				}
			}
		}
		if found {
			closed = 0
		} else {
			closed++
		}
	}
	return c.wall(day, 0), false
}

// backward is forward in reverse: stretches before t, latest first; giving up
// returns the midnight starting the searched window.
func (c *Calendar) backward(t time.Time, fn func(s, e time.Time) bool) (giveUp time.Time, ok bool) {
	day, hc := c.dayOf(t), c.cursor()
	var arr [8]interval
	for closed := 0; closed <= closedHorizonDays; day = day.AddDays(-1) {
		found := false
		if c.openDay(day, &hc) {
			ivs := c.intervals(day, arr[:0])
			for i := len(ivs) - 1; i >= 0; i-- {
				iv := ivs[i]
				if !iv.start.Before(t) {
					continue
				}
				found = true
				e := iv.end
				if e.After(t) {
					e = t
				}
				if fn(iv.start, e) {
					return time.Time{}, true
				}
			}
		}
		if found {
			closed = 0
		} else {
			closed++
		}
	}
	return c.wall(day.AddDays(1), 0), false
}

// IsOpen says whether t falls within working hours on a working day. A span's
// end is closed: at 17:00 a 09:00-17:00 calendar is shut.
func (c *Calendar) IsOpen(t time.Time) bool {
	day, hc := c.dayOf(t), c.cursor()
	if !c.openDay(day, &hc) {
		return false
	}
	var arr [8]interval
	for _, iv := range c.intervals(day, arr[:0]) {
		if !t.Before(iv.start) && t.Before(iv.end) {
			return true
		}
	}
	return false
}

// IsWorkday says whether the day of t (in the calendar's zone) is a workday
// and not a holiday.
func (c *Calendar) IsWorkday(t time.Time) bool {
	hc := c.cursor()
	return c.openDay(c.dayOf(t), &hc)
}

// IsHoliday says whether the day of t (in the calendar's zone) is an explicit
// or public holiday, whether or not it is a workday.
func (c *Calendar) IsHoliday(t time.Time) bool { return c.hol.closed(c.dayOf(t)) }

// NextOpen returns t when the calendar is open at t, else the next opening.
// See ClosedHorizon for a calendar that never opens.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	var res time.Time
	if giveUp, ok := c.forward(t, func(s, _ time.Time) bool { res = s; return true }); !ok {
		return giveUp
	}
	return res.In(c.Location())
}

// Due is the due time of a request arriving at arrival with commitment cm.
//
// Business time is consumed from NextOpen(arrival); a due time that falls on
// the end of a span is that end (17:00), not the next opening. Working days
// give the same wall-clock time as NextOpen(arrival), that many working days
// later. A zero commitment is due at arrival. A hand-built commitment with
// both parts set adds the days first, then the business time.
func (c *Calendar) Due(arrival time.Time, cm Commitment) time.Time {
	due := arrival.In(c.Location())
	if cm.Days > 0 {
		due = c.addWorkingDays(arrival, cm.Days)
	}
	if cm.Business > 0 {
		due = c.AddBusiness(due, cm.Business)
	}
	return due
}

func (c *Calendar) addWorkingDays(arrival time.Time, n int) time.Time {
	n = min(n, maxDueDays)
	open := c.NextOpen(arrival).In(c.Location())
	day, hc := dateOfWall(open), c.cursor()
	h, m, s := open.Clock()
	tod := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(open.Nanosecond())
	for count, closed := 0, 0; count < n; {
		day = day.AddDays(1)
		if c.openDay(day, &hc) {
			count, closed = count+1, 0
			continue
		}
		if closed++; closed > closedHorizonDays {
			return c.wall(day.AddDays(1), 0)
		}
	}
	return c.wall(day, tod)
}

// AddBusiness adds d of business time to t, starting at NextOpen(t). The
// result is the earliest instant with d of working time since t, so it can be
// the end of a span. A negative d goes back like SubBusiness; zero returns t.
func (c *Calendar) AddBusiness(t time.Time, d time.Duration) time.Time {
	switch {
	case d < 0:
		return c.SubBusiness(t, negate(d))
	case d == 0:
		return t.In(c.Location())
	}
	rem, res := d, time.Time{}
	giveUp, ok := c.forward(t, func(s, e time.Time) bool {
		if avail := e.Sub(s); avail < rem {
			rem -= avail
			return false
		}
		res = s.Add(rem)
		return true
	})
	if !ok {
		return giveUp
	}
	return res.In(c.Location())
}

// SubBusiness goes back d of business time from t (for "before_due"). The
// result is the latest instant with d of working time until t, so it can be
// the start of a span (Wed 09:00 rather than Tue 17:00). A negative d goes
// forward like AddBusiness; zero returns t.
func (c *Calendar) SubBusiness(t time.Time, d time.Duration) time.Time {
	switch {
	case d < 0:
		return c.AddBusiness(t, negate(d))
	case d == 0:
		return t.In(c.Location())
	}
	rem, res := d, time.Time{}
	giveUp, ok := c.backward(t, func(s, e time.Time) bool {
		if avail := e.Sub(s); avail < rem {
			rem -= avail
			return false
		}
		res = e.Add(-rem)
		return true
	})
	if !ok {
		return giveUp
	}
	return res.In(c.Location())
}

func negate(d time.Duration) time.Duration {
	if d == math.MinInt64 {
		return math.MaxInt64
	}
	return -d
}

// Extend moves a due time on by d of business time, for the new date a late
// notice announces. It is AddBusiness under the name the scheduler reads.
func (c *Calendar) Extend(due time.Time, d time.Duration) time.Time {
	return c.AddBusiness(due, d)
}

// BusinessBetween is the business time between a and b (negative when b < a).
func (c *Calendar) BusinessBetween(a, b time.Time) time.Duration {
	if b.Before(a) {
		return -c.BusinessBetween(b, a)
	}
	var total time.Duration
	var arr [8]interval
	hc := c.cursor()
	for day := c.dayOf(a); c.wall(day, 0).Before(b); day = day.AddDays(1) {
		if !c.openDay(day, &hc) {
			continue
		}
		for _, iv := range c.intervals(day, arr[:0]) {
			s, e := iv.start, iv.end
			if s.Before(a) {
				s = a
			}
			if e.After(b) {
				e = b
			}
			if e.After(s) {
				total += e.Sub(s)
			}
		}
	}
	return total
}

// AtShare is the moment when share of the business time between arrival and
// due has elapsed, counting from NextOpen(arrival): share 0 gives
// NextOpen(arrival) and share 1 gives due exactly, which matters for
// working-day commitments whose due time lies after the last span's end.
// Escalation steps "at: 50%" use it. Shares outside [0, 1] are clamped, NaN
// counts as 0, and when due is not after NextOpen(arrival) every share above
// 0 is due.
func (c *Calendar) AtShare(arrival, due time.Time, share float64) time.Time {
	start := c.NextOpen(arrival)
	switch {
	case !(share > 0):
		return start
	case share >= 1:
		return due.In(c.Location())
	}
	total := c.BusinessBetween(start, due)
	if total <= 0 {
		return due.In(c.Location())
	}
	return c.AddBusiness(start, time.Duration(share*float64(total)))
}

// Closing is the end of day d's last working span, or false when d is not
// a working day.
func (c *Calendar) Closing(d Date) (time.Time, bool) {
	if !d.valid() {
		return time.Time{}, false
	}
	hc := c.cursor()
	if !c.openDay(d, &hc) {
		return time.Time{}, false
	}
	var arr [8]interval
	ivs := c.intervals(d, arr[:0])
	if len(ivs) == 0 {
		return time.Time{}, false
	}
	return ivs[len(ivs)-1].end.In(c.Location()), true
}
