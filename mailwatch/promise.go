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
// `at` with due time due in dept, from the department's record in st and
// the staff the store has marked away at that moment (out-of-office
// replies, #away), who answer nothing while away.
func Forecast(ctx context.Context, st store.Store, dept *config.Department, at, due time.Time) (forecast.Forecast, error) {
	rows, err := st.RecordSince(ctx, dept.Key(), at.Add(-forecast.RecordWindow))
	if err != nil {
		return forecast.Forecast{}, fmt.Errorf("forecast: %w", err)
	}
	marked, err := st.AwayAt(ctx, dept.Key(), at)
	if err != nil {
		return forecast.Forecast{}, fmt.Errorf("forecast: staff away: %w", err)
	}
	away := make([]string, 0, len(marked))
	for _, a := range marked {
		away = append(away, a.Address)
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
	f, err := Forecast(ctx, p.store, dept, at, due)
	if err != nil {
		return time.Time{}, false, err
	}
	return f.Promise, f.Later, nil
}
