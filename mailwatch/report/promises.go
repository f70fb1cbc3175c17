package report

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/forecast"
	"github.com/ackd/ackd/mailwatch/store"
)

// Desk is what a forecast knows of dept besides its record; away lists
// the staff marked away.
func Desk(dept *config.Department, away []string) forecast.Desk {
	cms := make(map[string]calendar.Commitment, len(dept.Categories))
	for name, c := range dept.Categories {
		cms[name] = c.Commitment
	}
	staff := dept.Staff
	if len(staff) == 0 {
		// No staff listed: the department's own account answers (from
		// its Sent mailbox), one person's worth. Counting nobody made
		// every forecast the longest wait there is.
		staff = []string{dept.Address}
	}
	return forecast.Desk{Calendar: dept.Calendar, Commitments: cms, Staff: staff, Away: away}
}

// PastOf is the forecast's view of stored requests: a resolved request,
// or one waiting on its requester, without an answer is no work for staff.
func PastOf(rows []store.Request) []forecast.Past {
	out := make([]forecast.Past, 0, len(rows))
	for _, r := range rows {
		out = append(out, forecast.Past{Category: r.Category, Received: r.ReceivedAt, Due: r.DueAt, Answered: r.FirstResponseAt,
			Closed: r.FirstResponseAt.IsZero() && (r.State == store.StateResolved || r.State == store.StateWaiting)})
	}
	return out
}

// PromiseRecord compares, for the requests received in a window, the
// dates their receipts gave with the dates a forecast would have given.
type PromiseRecord struct {
	// Requests judged: answered, or unanswered past the date in question.
	Given, Forecast Tally
}

// Tally is kept and judged promises and the promised waits (business
// time from arrival to the date) of one way of dating receipts.
type Tally struct {
	Kept, Judged, Pending int
	MedianWait, P90Wait   time.Duration
}

// KeptPercent is Kept/Judged in percent, -1 when nothing was judged.
func (t Tally) KeptPercent() float64 {
	if t.Judged == 0 {
		return -1
	}
	return 100 * float64(t.Kept) / float64(t.Judged)
}

// GatherPromises reads what ComparePromises needs: the requests received
// since now-window and the record before them.
func GatherPromises(ctx context.Context, st store.Store, dept string, now time.Time, window time.Duration) ([]store.Request, error) {
	rows, err := st.RecordSince(ctx, dept, now.Add(-window-forecast.RecordWindow))
	if err != nil {
		return nil, fmt.Errorf("gather promises: %w", err)
	}
	return rows, nil
}

// ComparePromises judges every request of rows received within window
// before now twice: against the date its receipt gave (the forecast
// promise it stored, else its commitment's due time), and against what a
// forecast from the record as it stood at its arrival would have said,
// with the staff away then (away, from store.Store.AwayDuring) not
// counted.
func ComparePromises(rows []store.Request, dept *config.Department, now time.Time, window time.Duration, away []store.Away) PromiseRecord {
	cal := dept.Calendar
	since := now.Add(-window)
	past := PastOf(rows)
	var rec PromiseRecord
	var given, fc []time.Duration
	for _, r := range rows {
		if r.ReceivedAt.Before(since) || r.ReceivedAt.After(now) {
			continue
		}
		cat := categoryOf(dept, r.Category)
		if cat == nil || cat.Commitment.IsZero() {
			continue
		}
		due := cal.Due(r.ReceivedAt, cat.Commitment)
		date := due
		if r.PromisedAt.After(due) {
			date = r.PromisedAt
		}
		// The forecast a receipt would have had: the staff away then
		// (the log of absences) were not there to answer.
		f := forecast.Expect(forecast.Assemble(Desk(dept, awayAt(away, r.ReceivedAt)), past, r.ReceivedAt, due))
		tally(&rec.Given, r, date, now)
		tally(&rec.Forecast, r, f.Promise, now)
		given = append(given, cal.BusinessBetween(r.ReceivedAt, date))
		fc = append(fc, cal.BusinessBetween(r.ReceivedAt, f.Promise))
	}
	slices.Sort(given)
	slices.Sort(fc)
	rec.Given.MedianWait, rec.Given.P90Wait = Percentile(given, 50), Percentile(given, 90)
	rec.Forecast.MedianWait, rec.Forecast.P90Wait = Percentile(fc, 50), Percentile(fc, 90)
	return rec
}

func tally(t *Tally, r store.Request, date, now time.Time) {
	switch {
	case !r.FirstResponseAt.IsZero():
		t.Judged++
		if !r.FirstResponseAt.After(date) {
			t.Kept++
		}
	case now.After(date):
		t.Judged++
	default:
		t.Pending++
	}
}

// awayAt is who of away (store.Store.AwayDuring) was away at t.
func awayAt(away []store.Away, t time.Time) []string {
	var out []string
	for _, a := range away {
		if !a.SetAt.After(t) && a.Until.After(t) && !slices.Contains(out, a.Address) {
			out = append(out, a.Address)
		}
	}
	return out
}
