package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/mailwatch/report"
)

// reportRecord is a Record as `ackd report --json` prints it.
type reportRecord struct {
	Category    string   `json:"category,omitempty"`
	Commitment  string   `json:"commitment,omitempty"`
	Kept        int      `json:"kept"`
	Missed      int      `json:"missed"`
	Pending     int      `json:"pending"`
	KeptPercent *float64 `json:"kept_percent"` // null when nothing was judged
	// The aim, beside the promise: null percent when there is no aim or
	// nothing was judged.
	Aim        string   `json:"aim,omitempty"`
	AimMet     int      `json:"aim_met"`
	AimMissed  int      `json:"aim_missed"`
	AimPercent *float64 `json:"aim_met_percent"`
	// Answers to "how did we do?" in the window; null average when none.
	Ratings       int      `json:"ratings"`
	RatingAverage *float64 `json:"rating_average"`
	LowRatings    int      `json:"low_ratings"`
	Answered      int      `json:"answered"`
	MedianHours   float64  `json:"median_business_hours"`
	P80Hours      float64  `json:"p80_business_hours"`
	P95Hours      float64  `json:"p95_business_hours"`
	Slowest       []string `json:"slowest,omitempty"` // refs of the slowest tenth
	Reopens       int      `json:"reopens"`
	Suggest       string   `json:"suggest,omitempty"`
	Advice        string   `json:"advice,omitempty"`
}

type reportJSON struct {
	Department  string         `json:"department"`
	Since       time.Time      `json:"since"`
	Now         time.Time      `json:"now"`
	Open        int            `json:"open"`
	Overdue     int            `json:"overdue"`
	DueToday    int            `json:"due_today"`
	Waiting     int            `json:"waiting"`
	Reminders   int            `json:"reminders"`
	LateNotices int            `json:"late_notices"`
	Overall     reportRecord   `json:"overall"`
	Categories  []reportRecord `json:"categories"`
	Promises    promisesJSON   `json:"promises"`
	Staff       []staffJSON    `json:"staff,omitempty"` // with --staff
}

// staffJSON is one staff member's first responses (--staff).
type staffJSON struct {
	Address     string  `json:"address"`
	Answered    int     `json:"first_answers"`
	MedianHours float64 `json:"median_business_hours"`
	P80Hours    float64 `json:"p80_business_hours"`
}

// promisesJSON compares the dates receipts gave with a forecast's.
type promisesJSON struct {
	Given    tallyJSON `json:"given"`
	Forecast tallyJSON `json:"forecast"`
}

type tallyJSON struct {
	Kept        int      `json:"kept"`
	Judged      int      `json:"judged"`
	Pending     int      `json:"pending"`
	KeptPercent *float64 `json:"kept_percent"`
	MedianHours float64  `json:"median_promised_business_hours"`
	P90Hours    float64  `json:"p90_promised_business_hours"`
}

func toTally(t report.Tally) tallyJSON {
	out := tallyJSON{Kept: t.Kept, Judged: t.Judged, Pending: t.Pending, MedianHours: t.MedianWait.Hours(), P90Hours: t.P90Wait.Hours()}
	if p := t.KeptPercent(); p >= 0 {
		out.KeptPercent = &p
	}
	return out
}

func toRecord(r report.Record) reportRecord {
	out := reportRecord{Category: r.Category, Kept: r.Kept, Missed: r.Missed, Pending: r.Pending, Answered: r.Answered,
		MedianHours: r.Median.Hours(), P80Hours: r.P80.Hours(), P95Hours: r.P95.Hours(), Slowest: r.Slowest,
		Reopens: r.Reopens, Advice: r.Advice}
	if !r.Commitment.IsZero() {
		out.Commitment = r.Commitment.String()
	}
	if p := r.KeptPercent(); p >= 0 {
		out.KeptPercent = &p
	}
	if !r.Aim.IsZero() {
		out.Aim, out.AimMet, out.AimMissed = r.Aim.String(), r.AimMet, r.AimMissed
	}
	if p := r.AimPercent(); p >= 0 {
		out.AimPercent = &p
	}
	out.Ratings, out.LowRatings = r.Rated, r.LowRated
	if a := r.RatingAverage(); a >= 0 {
		out.RatingAverage = &a
	}
	if !r.Suggest.IsZero() {
		out.Suggest = r.Suggest.String()
	}
	return out
}

// parseSince reads "30d", "12h", "90m".
func parseSince(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--since %q: want a positive span like 30d or 12h", s)
}

// cmdReport prints each department's commitment record.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", stderr)
	path := fs.String("c", "config.yaml", "config file")
	sinceFlag := fs.String("since", "30d", "how far back to look")
	asJSON := fs.Bool("json", false, "print one JSON object per department")
	at := fs.String("at", "", "the time to assume (RFC 3339), default now")
	perStaff := fs.Bool("staff", false, "add first response per staff member")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	window, err := parseSince(*sinceFlag)
	if err != nil {
		fmt.Fprintln(stderr, "ackd report:", err)
		return 2
	}
	now, err := parseAt(*at)
	if err != nil {
		fmt.Fprintln(stderr, "ackd report:", err)
		return 2
	}
	cfg, st, ok := configAndStore(ctx, "report", *path, stderr)
	if !ok {
		return 1
	}
	defer st.Close()
	enc := json.NewEncoder(stdout)
	for _, d := range cfg.Departments {
		reqs, evs, err := report.Gather(ctx, st, d.Key(), now, window)
		if err != nil {
			fmt.Fprintln(stderr, "ackd report:", err)
			return 1
		}
		rep := report.ComputeWith(reqs, evs, d, now, report.Options{Window: window, PerStaff: *perStaff})
		rows, err := report.GatherPromises(ctx, st, d.Key(), now, window)
		if err != nil {
			fmt.Fprintln(stderr, "ackd report:", err)
			return 1
		}
		away, err := st.AwayDuring(ctx, d.Key(), now.Add(-window), now)
		if err != nil {
			fmt.Fprintln(stderr, "ackd report:", err)
			return 1
		}
		prom := report.ComparePromises(rows, d, now, window, away)
		if *asJSON {
			out := reportJSON{Department: d.Name, Since: rep.Since, Now: rep.Now, Open: rep.Open,
				Overdue: len(rep.Overdue), DueToday: len(rep.DueToday), Waiting: len(rep.Waiting),
				Reminders: rep.Reminders, LateNotices: rep.LateNotices, Overall: toRecord(rep.Overall),
				Categories: []reportRecord{},
				Promises:   promisesJSON{Given: toTally(prom.Given), Forecast: toTally(prom.Forecast)}}
			for _, c := range rep.Categories {
				out.Categories = append(out.Categories, toRecord(c))
			}
			for _, s := range rep.Staff {
				out.Staff = append(out.Staff, staffJSON{Address: s.Address, Answered: s.Answered, MedianHours: s.Median.Hours(), P80Hours: s.P80.Hours()})
			}
			if err := enc.Encode(out); err != nil {
				fmt.Fprintln(stderr, "ackd report:", err)
				return 1
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: %d open, %d overdue, %d reminders, %d late notices since %s\n", d.Name, rep.Open,
			len(rep.Overdue), rep.Reminders, rep.LateNotices, rep.Since.In(rep.Location).Format("2006-01-02 15:04"))
		for _, r := range append([]report.Record{rep.Overall}, rep.Categories...) {
			name := r.Category
			if name == "" {
				name = "overall"
			} else if !r.Commitment.IsZero() && !r.Aim.IsZero() {
				name += " (" + r.Commitment.String() + ", aim " + r.Aim.String() + ")"
			} else if !r.Commitment.IsZero() {
				name += " (" + r.Commitment.String() + ")"
			}
			kept := "none judged"
			if p := r.KeptPercent(); p >= 0 {
				kept = fmt.Sprintf("%.0f%% kept (%d of %d)", p, r.Kept, r.Judged())
			}
			if p := r.AimPercent(); p >= 0 {
				kept += fmt.Sprintf(", %.0f%% met the aim (%d of %d)", p, r.AimMet, r.AimMet+r.AimMissed)
			}
			fmt.Fprintf(stdout, "  %-20s %s, %d pending; median %s, p80 %s, p95 %s; %d reopened\n", name, kept, r.Pending,
				mailtext.Span(r.Median), mailtext.Span(r.P80), mailtext.Span(r.P95), r.Reopens)
			if len(r.Slowest) > 0 {
				fmt.Fprintf(stdout, "  %-20s slowest tenth: %s\n", "", strings.Join(r.Slowest, ", "))
			}
			if a := r.RatingAverage(); a >= 0 {
				fmt.Fprintf(stdout, "  %-20s satisfaction %.1f of 5 (%d answers, %d low)\n", "", a, r.Rated, r.LowRated)
			}
			if r.Advice != "" {
				fmt.Fprintf(stdout, "  %-20s suggestion: %s\n", "", r.Advice)
			}
		}
		for _, s := range rep.Staff {
			fmt.Fprintf(stdout, "  staff %-30s %d first answers; median %s, p80 %s\n", s.Address, s.Answered,
				mailtext.Span(s.Median), mailtext.Span(s.P80))
		}
		for _, row := range []struct {
			name string
			t    report.Tally
		}{{"dates given", prom.Given}, {"a forecast's", prom.Forecast}} {
			kept := "none judged"
			if p := row.t.KeptPercent(); p >= 0 {
				kept = fmt.Sprintf("%.0f%% kept (%d of %d)", p, row.t.Kept, row.t.Judged)
			}
			fmt.Fprintf(stdout, "  promises: %-12s %s, %d pending; median promised %s, p90 %s\n", row.name, kept, row.t.Pending,
				mailtext.Span(row.t.MedianWait), mailtext.Span(row.t.P90Wait))
		}
	}
	return 0
}
