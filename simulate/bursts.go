package simulate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/lifecycle"
)

// This file counts the "possible incident" mails burst detection
// (incident: {count, within}) would send over a run's arrivals, the way
// mailwatch does it (burstOf, joinBurst): a new request with at least
// count-1 earlier requests alike (lifecycle.Alike: the same rule, or most
// subject words shared) received within the window completes a burst, and
// the leads are told once unless one of those alike already told them.
// Staff's #incident text, which links later requests instead of alerting,
// is not simulated: nobody writes commands here.

// BurstAlert is one "possible incident" mail the leads would get.
type BurstAlert struct {
	At       time.Time
	Requests int  // alike within the window, this one included
	Outage   bool // sent while an outage of the scenario was on
}

// BurstFigures are the alerts of one setting over one run's reported
// period.
type BurstFigures struct {
	Count  int
	Within time.Duration
	Alerts []BurstAlert
	// True: alerts during an outage; False: outside any (false alarms).
	True, False int
	// Delays holds, per outage starting in the reported period, the time
	// from its start to its first alert; -1 when it got none.
	Delays []time.Duration
}

// Bursts counts the alerts of incident: {count, within} over the run's
// arrivals. The warm-up's arrivals fill the window; only alerts in the
// reported period are counted.
func (res *Result) Bursts(count int, within time.Duration) BurstFigures {
	f := BurstFigures{Count: count, Within: within}
	alerted := make([]bool, len(res.Requests))
	for i, r := range res.Requests {
		if count <= 1 {
			break
		}
		alike, told := 0, false
		for j := i - 1; j >= 0; j-- {
			o := res.Requests[j]
			if o.Arrival.Before(r.Arrival.Add(-within)) {
				break
			}
			if !lifecycle.Alike(r.Rule, r.Subject, o.Rule, o.Subject) {
				continue
			}
			alike++
			told = told || alerted[j]
		}
		if told || alike+1 < count {
			continue
		}
		alerted[i] = true
		if !r.Reported {
			continue
		}
		a := BurstAlert{At: r.Arrival, Requests: alike + 1}
		for _, o := range res.outages {
			if !r.Arrival.Before(o.from) && r.Arrival.Before(o.to) {
				a.Outage = true
			}
		}
		if a.Outage {
			f.True++
		} else {
			f.False++
		}
		f.Alerts = append(f.Alerts, a)
	}
	for _, o := range res.outages {
		d := time.Duration(-1)
		for _, a := range f.Alerts {
			if !a.At.Before(o.from) && a.At.Before(o.to) {
				d = a.At.Sub(o.from)
				break
			}
		}
		f.Delays = append(f.Delays, d)
	}
	return f
}

// BurstRow sums up one setting over all seeds of a sweep.
type BurstRow struct {
	Count  int
	Within time.Duration
	// FalsePerMonth and TruePerRun are means over the seeds.
	FalsePerMonth, TruePerRun float64
	// Caught: seeds whose every outage got an alert within the sweep's
	// deadline of its start.
	Caught int
	// Seen: seeds whose every outage got an alert at all while it lasted.
	Seen int
	// MedianDelay and MaxDelay of the first alert after an outage's start
	// over all seeds' outages that got one; MaxDelay is -1 when one got
	// none, MedianDelay when all did.
	MedianDelay, MaxDelay time.Duration
}

// BurstSweep is the alerts of several settings over several seeds.
type BurstSweep struct {
	Seeds    []uint64
	Days     int
	Deadline time.Duration
	Rows     []BurstRow
}

// SweepBursts runs s once per seed and counts the alerts of every count
// × within on the same arrivals. An outage counts as caught when it gets
// an alert within deadline of its start.
func SweepBursts(s *Scenario, seeds []uint64, counts []int, withins []time.Duration, deadline time.Duration) (*BurstSweep, error) {
	sw := &BurstSweep{Seeds: seeds, Days: s.Days, Deadline: deadline}
	runs := make([]*Result, len(seeds))
	for i, seed := range seeds {
		res, err := Run(s, seed)
		if err != nil {
			return nil, fmt.Errorf("sweep bursts: %w", err)
		}
		runs[i] = res
	}
	for _, c := range counts {
		for _, w := range withins {
			row := BurstRow{Count: c, Within: w}
			var delays []time.Duration
			missed := false
			for _, res := range runs {
				seen := true
				f := res.Bursts(c, w)
				row.FalsePerMonth += float64(f.False) * 30.4375 / float64(res.days)
				row.TruePerRun += float64(f.True)
				caught := true
				for _, d := range f.Delays {
					if d < 0 {
						missed, caught, seen = true, false, false
						continue
					}
					delays = append(delays, d)
					caught = caught && d <= deadline
				}
				if caught {
					row.Caught++
				}
				if seen {
					row.Seen++
				}
			}
			row.FalsePerMonth /= float64(len(runs))
			row.TruePerRun /= float64(len(runs))
			slices.Sort(delays)
			row.MedianDelay, row.MaxDelay = -1, -1
			if len(delays) > 0 {
				row.MedianDelay = delays[len(delays)/2]
				if !missed {
					row.MaxDelay = delays[len(delays)-1]
				}
			}
			sw.Rows = append(sw.Rows, row)
		}
	}
	return sw, nil
}

// MaxFalsePerMonth is the fallback criterion's bound: leads who get more
// than about one false alarm a month learn to ignore the mail.
const MaxFalsePerMonth = 1.0

// Best is the setting with the fewest false alarms per month among those
// that caught the outage within the deadline on every seed (ties: the
// shorter worst delay, then the order of the rows). When none did
// (caught false), it is the setting that saw the outage at all on the
// most seeds among those with at most MaxFalsePerMonth false alarms a
// month (ties: fewer false alarms, then the order of the rows). ok is
// false when no setting qualifies either way.
func (sw *BurstSweep) Best() (best BurstRow, caught, ok bool) {
	for _, r := range sw.Rows {
		if r.Caught < len(sw.Seeds) {
			continue
		}
		if !ok || r.FalsePerMonth < best.FalsePerMonth ||
			r.FalsePerMonth == best.FalsePerMonth && r.MaxDelay < best.MaxDelay {
			best, ok = r, true
		}
	}
	if ok {
		return best, true, true
	}
	for _, r := range sw.Rows {
		if r.FalsePerMonth > MaxFalsePerMonth || r.Seen == 0 {
			continue
		}
		if !ok || r.Seen > best.Seen || r.Seen == best.Seen && r.FalsePerMonth < best.FalsePerMonth {
			best, ok = r, true
		}
	}
	return best, false, ok
}

// Table writes the sweep, one row per setting, and the pick.
func (sw *BurstSweep) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "burst alerts over seeds %d..%d, %d days each; caught: first alert within %s of the outage's start\n\n",
		sw.Seeds[0], sw.Seeds[len(sw.Seeds)-1], sw.Days, span(sw.Deadline))
	fmt.Fprintf(&b, "%5s %6s %15s %14s %8s %8s %12s %10s\n", "count", "within", "false alarms/mo", "outage alerts", "caught", "seen", "median delay", "max delay")
	n := len(sw.Seeds)
	for _, r := range sw.Rows {
		fmt.Fprintf(&b, "%5d %6s %15.1f %14.1f %5d/%-2d %5d/%-2d %12s %10s\n", r.Count, span(r.Within), r.FalsePerMonth, r.TruePerRun,
			r.Caught, n, r.Seen, n, span(r.MedianDelay), span(r.MaxDelay))
	}
	best, caught, ok := sw.Best()
	switch {
	case caught:
		fmt.Fprintf(&b, "\nfewest false alarms with every outage caught within %s: count %d within %s (%.1f false alarms a month)\n",
			span(sw.Deadline), best.Count, span(best.Within), best.FalsePerMonth)
	case ok:
		fmt.Fprintf(&b, "\nno setting caught every outage within %s; seen on the most seeds with at most %.0f false alarm a month: count %d within %s (%d/%d seen, %.1f false alarms a month)\n",
			span(sw.Deadline), MaxFalsePerMonth, best.Count, span(best.Within), best.Seen, n, best.FalsePerMonth)
	default:
		fmt.Fprintf(&b, "\nno setting caught every outage within %s or saw it at all with at most %.0f false alarm a month\n", span(sw.Deadline), MaxFalsePerMonth)
	}
	return b.String()
}

func span(d time.Duration) string {
	if d < 0 {
		return "missed"
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%.1fm", d.Minutes())
}
