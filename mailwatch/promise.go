package mailwatch

import (
	"context"
	"fmt"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/forecast"
	"github.com/ackd/ackd/mailwatch/report"
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
	return forecast.Expect(forecast.Assemble(report.Desk(dept, away), report.PastOf(rows), at, due)), nil
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
