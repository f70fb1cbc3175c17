package mailwatch

import (
	"context"
	"fmt"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/forecast"
	"github.com/ackd/ackd/mailwatch/store"
)

// Forecast is what a forecast says for a request of category arriving at
// `at` with due time due in dept, from the department's record in st. away
// lists the staff marked away (none until the department keeps such a
// list).
func Forecast(ctx context.Context, st store.Store, dept *config.Department, away []string, at, due time.Time) (forecast.Forecast, error) {
	rows, err := st.RecordSince(ctx, dept.Key(), at.Add(-forecast.RecordWindow))
	if err != nil {
		return forecast.Forecast{}, fmt.Errorf("forecast: %w", err)
	}
	return forecast.Expect(forecast.Assemble(Desk(dept, away), PastOf(rows), at, due)), nil
}

// Desk is what a forecast knows of dept besides its record.
func Desk(dept *config.Department, away []string) forecast.Desk {
	cms := make(map[string]calendar.Commitment, len(dept.Categories))
	for name, c := range dept.Categories {
		cms[name] = c.Commitment
	}
	return forecast.Desk{Calendar: dept.Calendar, Commitments: cms, Staff: dept.Staff, Away: away}
}

// PastOf is the forecast's view of stored requests: a resolved request,
// or one waiting on its requester, is no work for staff.
func PastOf(rows []store.Request) []forecast.Past {
	out := make([]forecast.Past, 0, len(rows))
	for _, r := range rows {
		out = append(out, forecast.Past{Category: r.Category, Received: r.ReceivedAt, Due: r.DueAt, Answered: r.FirstResponseAt,
			Closed: r.FirstResponseAt.IsZero() && (r.State == store.StateResolved || r.State == store.StateWaiting)})
	}
	return out
}

// promise is the date a new request's receipt gives: the commitment's due
// time, or, for a category with promise: forecast, the later of it and the
// forecast; later says the forecast won.
func (p *Processor) promise(ctx context.Context, dept *config.Department, category string, at, due time.Time) (promised time.Time, later bool, err error) {
	c := dept.Categories[category]
	if c == nil || c.Promise != config.PromiseForecast || due.IsZero() {
		return due, false, nil
	}
	f, err := Forecast(ctx, p.store, dept, nil, at, due)
	if err != nil {
		return time.Time{}, false, err
	}
	return f.Promise, f.Later, nil
}
