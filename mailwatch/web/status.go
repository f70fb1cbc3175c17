package web

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
)

// OnTimeWindow is how far back the status page's on-time chart looks: the
// staff digest's record window, so both show the same figures.
const OnTimeWindow = report.DefaultWindow

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusPage is everything the page shows: per department the open
// requests and the on-time record, the same figures the staff digest
// mails, nothing more (no message text, no skipped mail).
type statusPage struct {
	Generated   string
	Departments []deptView
}

type deptView struct {
	Name   string
	Open   []openView
	OnTime []CategoryShare
	Total  CategoryShare
	// HeldReceipts counts the open requests whose receipt a sending
	// limit holds.
	HeldReceipts int
}

type openView struct {
	Ref, Subject, Requester, Category, Age, Due, State string
	// Owner is who owns the request; "" when nobody does.
	Owner            string
	Level, Reminders int
	Overdue          bool
	// HeldReason is why a sending limit holds the request's receipt, ""
	// when none does.
	HeldReason string
	// Aim is the team's own deadline when the category has one ("" when
	// none); Language the language the requester is answered in.
	Aim, Language string
}

// CategoryShare is one bar of the on-time chart: a category's record (or
// the department's, as "all") from report.Compute, which the staff digest
// mails too. Kept and Missed follow the report's definitions (see its
// package doc): a request counts once its first answer came or its due
// time in force passed.
type CategoryShare struct {
	Category     string
	Kept, Missed int
}

// Decided is Kept + Missed.
func (c CategoryShare) Decided() int { return c.Kept + c.Missed }

// Percent is the share kept, rounded to the nearest whole number as the
// digest rounds it; 0 when nothing was decided.
func (c CategoryShare) Percent() int {
	if c.Decided() == 0 {
		return 0
	}
	return int(math.Round(report.Record{Kept: c.Kept, Missed: c.Missed}.KeptPercent()))
}

// Shares turns a report's record into the chart: one bar per category
// with anything kept or missed, by category name, and the overall bar.
func Shares(rep report.Report) ([]CategoryShare, CategoryShare) {
	out := make([]CategoryShare, 0, len(rep.Categories))
	for _, r := range rep.Categories {
		if r.Judged() == 0 {
			continue
		}
		out = append(out, CategoryShare{Category: r.Category, Kept: r.Kept, Missed: r.Missed})
	}
	return out, CategoryShare{Category: "all", Kept: rep.Overall.Kept, Missed: rep.Overall.Missed}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	page, err := s.buildStatus(r.Context())
	if err != nil {
		s.log.Error("status page", "err", err)
		plain(w)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "status unavailable: the store did not answer")
		return
	}
	var buf bytes.Buffer
	if err := s.page.Execute(&buf, page); err != nil {
		s.log.Error("render status page", "err", err)
		http.Error(w, "status page failed to render", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// No script, no outside resource: the page's own style is all it uses.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	_, _ = buf.WriteTo(w)
}

func (s *Server) buildStatus(ctx context.Context) (statusPage, error) {
	if s.src.Store == nil || s.src.Config == nil {
		return statusPage{}, fmt.Errorf("status page: no store or config")
	}
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	now := s.src.now()
	cfg := s.src.Config()
	page := statusPage{Generated: now.UTC().Format("2006-01-02 15:04 UTC")}
	for _, d := range cfg.Departments {
		open, err := s.src.Store.OpenRequests(ctx, d.Key())
		if err != nil {
			return page, fmt.Errorf("list open requests of %s: %w", d.Name, err)
		}
		reqs, evs, err := report.Gather(ctx, s.src.Store, d.Key(), now, OnTimeWindow)
		if err != nil {
			return page, fmt.Errorf("status page: %w", err)
		}
		held, err := report.HeldReceipts(ctx, s.src.Store, d.Key())
		if err != nil {
			return page, fmt.Errorf("status page: %w", err)
		}
		dv := deptView{Name: d.Name}
		dv.OnTime, dv.Total = Shares(report.Compute(reqs, evs, d, now, OnTimeWindow))
		for _, r := range open {
			row := openRow(d, r, now)
			if why, ok := held[r.ID]; ok {
				row.HeldReason = why
				dv.HeldReceipts++
			}
			dv.Open = append(dv.Open, row)
		}
		page.Departments = append(page.Departments, dv)
	}
	return page, nil
}

func openRow(d *config.Department, r store.Request, now time.Time) openView {
	loc := d.Calendar.Location()
	due := "—"
	if !r.DueAt.IsZero() {
		due = r.DueAt.In(loc).Format("Mon 2 Jan 15:04 MST")
	}
	aim := ""
	if a := report.AimAt(d, r); !a.Equal(r.DueAt) {
		aim = a.In(loc).Format("Mon 2 Jan 15:04 MST")
	}
	who := r.Requester
	if r.RequesterName != "" {
		who = r.RequesterName + " <" + r.Requester + ">"
	}
	return openView{
		Ref: r.Ref, Subject: r.Subject, Requester: who, Category: r.Category,
		Age: report.Age(now.Sub(r.ReceivedAt)), Due: due, Aim: aim, Language: report.Language(d, r), State: string(r.State),
		Level: r.EscalationLevel, Reminders: r.Reminders, Overdue: isOverdue(r, now), Owner: r.AssignedTo,
	}
}
