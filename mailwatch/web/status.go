package web

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// OnTimeWindow is how far back the status page's on-time chart looks, the
// same 30 days as the staff digest's record.
const OnTimeWindow = 30 * 24 * time.Hour

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
}

type openView struct {
	Ref, Subject, Requester, Category, Age, Due, State string
	Level, Reminders                                   int
	Overdue                                            bool
}

// CategoryShare is how often one category's commitment was kept: the
// first staff answer (or the resolution, when there was none) came at or
// before the due time. Requests not yet answered and not yet due count
// neither way.
type CategoryShare struct {
	Category     string
	Kept, Missed int
}

// Decided is Kept + Missed.
func (c CategoryShare) Decided() int { return c.Kept + c.Missed }

// Percent is the share kept, rounded down, 0 when nothing was decided.
func (c CategoryShare) Percent() int {
	if c.Decided() == 0 {
		return 0
	}
	return c.Kept * 100 / c.Decided()
}

// OnTime computes the per-category on-time share of reqs at now, sorted by
// category, and the total over all of them. Requests without a commitment
// are left out.
func OnTime(reqs []store.Request, now time.Time) ([]CategoryShare, CategoryShare) {
	by := map[string]*CategoryShare{}
	total := CategoryShare{Category: "all"}
	for _, r := range reqs {
		if r.DueAt.IsZero() {
			continue
		}
		first := r.FirstResponseAt
		if first.IsZero() {
			first = r.ResolvedAt
		}
		var kept bool
		switch {
		case !first.IsZero():
			kept = !first.After(r.DueAt)
		case now.After(r.DueAt):
			kept = false
		default:
			continue // still in time
		}
		c := by[r.Category]
		if c == nil {
			c = &CategoryShare{Category: r.Category}
			by[r.Category] = c
		}
		if kept {
			c.Kept++
			total.Kept++
		} else {
			c.Missed++
			total.Missed++
		}
	}
	out := make([]CategoryShare, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Category < out[j].Category })
	return out, total
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
		open, err := s.src.Store.OpenRequests(ctx, d.Name)
		if err != nil {
			return page, fmt.Errorf("list open requests of %s: %w", d.Name, err)
		}
		recent, err := s.src.Store.RequestsSince(ctx, d.Name, now.Add(-OnTimeWindow))
		if err != nil {
			return page, fmt.Errorf("list recent requests of %s: %w", d.Name, err)
		}
		dv := deptView{Name: d.Name}
		dv.OnTime, dv.Total = OnTime(recent, now)
		for _, r := range open {
			dv.Open = append(dv.Open, openRow(d, r, now))
		}
		page.Departments = append(page.Departments, dv)
	}
	return page, nil
}

func openRow(d *rules.Department, r store.Request, now time.Time) openView {
	loc := d.Calendar.Location()
	due := "—"
	if !r.DueAt.IsZero() {
		due = r.DueAt.In(loc).Format("Mon 2 Jan 15:04 MST")
	}
	who := r.Requester
	if r.RequesterName != "" {
		who = r.RequesterName + " <" + r.Requester + ">"
	}
	return openView{
		Ref: r.Ref, Subject: r.Subject, Requester: who, Category: r.Category,
		Age: age(now.Sub(r.ReceivedAt)), Due: due, State: r.State,
		Level: r.EscalationLevel, Reminders: r.Reminders, Overdue: isOverdue(r, now),
	}
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
