package calendar

import "time"

// Stretch is a piece of working time a due date counted.
type Stretch struct{ Start, End time.Time }

// ClosedDay is a day a due date passed over without counting it.
type ClosedDay struct {
	Date Date
	// Why is "not a workday", or "holiday" with its name when the
	// public-holiday set has one ("holiday: Christmas Day").
	Why string
}

// DueArithmetic is how Due got from an arrival to a due time: what it
// counted and what it skipped, for `ackd explain`.
type DueArithmetic struct {
	Arrival time.Time
	// Start is when counting began: NextOpen(Arrival).
	Start time.Time
	// Days are the working days counted, in order, for a commitment in
	// working days ("3d"); the due time is Start's time of day on the last.
	Days []Date
	// Stretches are the working hours counted, in order, for a commitment
	// in business time ("4h"); the last ends at the due time.
	Stretches []Stretch
	// Closed are the days between arrival and due that did not count.
	Closed []ClosedDay
	Due    time.Time
}

// ExplainDue is Due with its working shown. It returns the same due time
// as Due(arrival, cm).
func (c *Calendar) ExplainDue(arrival time.Time, cm Commitment) DueArithmetic {
	loc := c.Location()
	x := DueArithmetic{Arrival: arrival.In(loc), Start: c.NextOpen(arrival).In(loc), Due: c.Due(arrival, cm)}
	if cm.Days > 0 {
		day, hc := dateOfWall(x.Start), c.cursor()
		for count, closed := 0, 0; count < min(cm.Days, maxDueDays) && closed <= closedHorizonDays; {
			day = day.AddDays(1)
			if c.openDay(day, &hc) {
				x.Days = append(x.Days, day)
				count, closed = count+1, 0
			} else {
				closed++
			}
		}
	}
	if cm.Business > 0 {
		from := arrival
		if cm.Days > 0 {
			from = c.Due(arrival, Commitment{Days: cm.Days})
		}
		rem := cm.Business
		c.forward(from, func(s, e time.Time) bool {
			if avail := e.Sub(s); avail < rem {
				x.Stretches = append(x.Stretches, Stretch{s.In(loc), e.In(loc)})
				rem -= avail
				return false
			}
			x.Stretches = append(x.Stretches, Stretch{s.In(loc), s.Add(rem).In(loc)})
			return true
		})
	}
	hc := c.cursor()
	for d, last := dateOfWall(x.Arrival), dateOfWall(x.Due.In(loc)); !last.before(d) && len(x.Closed) <= closedHorizonDays; d = d.AddDays(1) {
		switch {
		case hc.closed(d):
			x.Closed = append(x.Closed, ClosedDay{Date: d, Why: c.holidayName(d)})
		case !c.workday[d.Weekday()]:
			x.Closed = append(x.Closed, ClosedDay{Date: d, Why: "not a workday"})
		}
	}
	return x
}

func (d Date) before(e Date) bool { return d.noon().Before(e.noon()) }

// holidayName names the holiday that closes d: the public holiday's name
// when the set has one, else "holiday" (an explicit date of the config).
func (c *Calendar) holidayName(d Date) string {
	if c.hol == nil {
		return "holiday"
	}
	if _, ok := c.hol.explicit[d]; ok {
		return "holiday"
	}
	for _, h := range c.hol.public {
		for _, y := range []int{d.Year - 1, d.Year, d.Year + 1} {
			act, obs := h.Calc(y)
			if (!act.IsZero() && dateOfWall(act) == d) || (!obs.IsZero() && dateOfWall(obs) == d) {
				return "holiday: " + h.Name
			}
		}
	}
	return "holiday"
}
