package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"
)

// now is the fixed clock of the seeded fixture: a Wednesday afternoon.
var now = time.Date(2026, 3, 11, 14, 0, 0, 0, time.UTC)

const hostileSubject = `<script>alert("pwned")</script> & "quotes"`

const fixtureConfig = `smtp: {host: 127.0.0.1, port: 2525, tls: none}
http: {listen: "127.0.0.1:0"}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it, password_file: imap.pw}
    staff: [alice@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin}
    language: de
    categories:
      access: {commitment: 4h, aim: 2h}
      default: {commitment: 3d}
    rules:
      - {name: password, match: {subject: [password]}, category: access}
  - name: Payroll
    address: payroll@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: pay, password_file: imap.pw}
    allowed_senders: ["*"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 1d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
`

func fixtureConfigParsed(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "config.yaml"), []byte(fixtureConfig))
	if err != nil {
		t.Fatalf("fixture config: %v", err)
	}
	return cfg
}

// seed records requests as the daemon would, then answers some of them.
// It returns the store and the refs by subject.
func seed(t *testing.T) (store.Store, map[string]string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	type req struct {
		dept, subject, category, requester string
		received                           time.Duration // before now
		due                                time.Duration // after arrival
		answered                           time.Duration // after arrival; 0 = not answered
		resolve                            bool
		reminders, level                   int
	}
	reqs := []req{
		// access: answered in time, answered late, one open and overdue
		{"it-help@example.test", "password reset", "access", "jane@example.test", 72 * time.Hour, 4 * time.Hour, 2 * time.Hour, true, 0, 0},
		{"it-help@example.test", "locked out again", "access", "max@example.test", 48 * time.Hour, 4 * time.Hour, 6 * time.Hour, false, 0, 0},
		{"it-help@example.test", hostileSubject, "access", "mallory@example.test", 5 * time.Hour, 4 * time.Hour, 0, false, 1, 2},
		// default: answered in time, open and not due yet
		{"it-help@example.test", "new monitor", "default", "li@example.test", 24 * time.Hour, 72 * time.Hour, time.Hour, false, 0, 0},
		{"it-help@example.test", "printer jams", "default", "jane@example.test", 2 * time.Hour, 72 * time.Hour, 0, false, 0, 0},
		// payroll: nothing open, one kept
		{"payroll@example.test", "payslip question", "default", "max@example.test", 30 * time.Hour, 24 * time.Hour, 3 * time.Hour, true, 0, 0},
	}
	refs := map[string]string{}
	for i, r := range reqs {
		at := now.Add(-r.received)
		got, err := st.RecordRequest(ctx, store.NewRequest{
			Dept: r.dept, MessageKey: r.subject + "@seed", MessageID: r.subject + "@seed", Mailbox: "INBOX", UID: uint32(i + 1),
			Requester: r.requester, Subject: r.subject, Category: r.category, Rule: "seed",
			ReceivedAt: at, DueAt: at.Add(r.due), State: store.StateAcknowledged,
		}, func(string) ([]store.NewMail, error) { return nil, nil })
		if err != nil {
			t.Fatalf("seed %q: %v", r.subject, err)
		}
		refs[r.subject] = got.Ref
		if r.answered == 0 && r.reminders == 0 {
			continue
		}
		_, err = st.Apply(ctx, store.Change{RequestID: got.ID, Update: func(q *store.Request) ([]store.NewMail, error) {
			if r.answered > 0 {
				q.FirstResponseAt, q.AnsweredAt, q.State = at.Add(r.answered), at.Add(r.answered), store.StateAnswered
				if r.resolve {
					q.State, q.ResolvedAt = store.StateResolved, at.Add(r.answered)
				}
			}
			q.Reminders, q.EscalationLevel = r.reminders, r.level
			return nil, nil
		}})
		if err != nil {
			t.Fatalf("seed answer to %q: %v", r.subject, err)
		}
	}
	return st, refs
}

func newServer(t *testing.T, st store.Store, mailboxes []web.MailboxStatus, auth web.BasicAuth) *httptest.Server {
	t.Helper()
	cfg := fixtureConfigParsed(t)
	src := web.Sources{
		Store:     st,
		Config:    func() *config.Config { return cfg },
		Mailboxes: func() []web.MailboxStatus { return mailboxes },
		Now:       func() time.Time { return now },
	}
	srv := httptest.NewServer(web.New(src, web.NewMetrics(src), auth, nil).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, auth *[2]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestProbes(t *testing.T) {
	st, _ := seed(t)
	closed, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	up := []web.MailboxStatus{{Name: "IT Help Desk", Connected: true}, {Name: "Payroll", Connected: true}}
	down := []web.MailboxStatus{{Name: "IT Help Desk", Connected: true}, {Name: "Payroll", Err: errors.New("dial tcp 10.1.2.3:993: refused")}}
	tests := []struct {
		name      string
		st        store.Store
		mailboxes []web.MailboxStatus
		path      string
		code      int
		want      []string
		not       []string
	}{
		{"healthz", st, down, "/healthz", 200, []string{"ok"}, nil},
		{"healthz with a dead store", closed, down, "/healthz", 200, []string{"ok"}, nil},
		{"ready", st, up, "/readyz", 200, []string{"ready"}, []string{"not"}},
		{"a mailbox down", st, down, "/readyz", 503, []string{"imap Payroll: not connected"}, []string{"it-help@example.test", "10.1.2.3", "store"}},
		{"store down", closed, up, "/readyz", 503, []string{"store: not answering"}, []string{"imap"}},
		{"both down", closed, down, "/readyz", 503, []string{"imap Payroll: not connected", "store: not answering"}, nil},
		{"unknown path", st, up, "/nope", 404, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.st, tt.mailboxes, web.BasicAuth{})
			code, h, body := get(t, srv.URL+tt.path, nil)
			if code != tt.code {
				t.Fatalf("GET %s = %d, want %d; body:\n%s", tt.path, code, tt.code, body)
			}
			if code != 404 && !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", h.Get("Content-Type"))
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestReadyzReportsHeldOutbox(t *testing.T) {
	st, _ := seed(t)
	cfg := fixtureConfigParsed(t)
	up := []web.MailboxStatus{{Name: "IT Help Desk", Connected: true}}
	for _, tc := range []struct {
		name  string
		fault error
		code  int
	}{
		{"outbox flowing", nil, 200},
		{"smtp unreachable with mail waiting", errors.New("dial tcp 10.9.9.9:587: connection refused"), 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := web.Sources{
				Store:     st,
				Config:    func() *config.Config { return cfg },
				Mailboxes: func() []web.MailboxStatus { return up },
				Outbox:    func() error { return tc.fault },
				Now:       func() time.Time { return now },
			}
			srv := httptest.NewServer(web.New(src, web.NewMetrics(src), web.BasicAuth{}, nil).Handler())
			defer srv.Close()
			code, _, body := get(t, srv.URL+"/readyz", nil)
			if code != tc.code {
				t.Fatalf("/readyz = %d, want %d:\n%s", code, tc.code, body)
			}
			if tc.fault != nil && (!strings.Contains(body, "outbox: mail held") || strings.Contains(body, "10.9.9.9")) {
				t.Errorf("body should name the held outbox but not the server:\n%s", body)
			}
		})
	}
}

func TestStatusPage(t *testing.T) {
	st, refs := seed(t)
	srv := newServer(t, st, nil, web.BasicAuth{})
	code, h, body := get(t, srv.URL+"/", nil)
	if code != 200 {
		t.Fatalf("GET / = %d:\n%s", code, body)
	}
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
	}
	t.Run("open requests listed, closed ones not", func(t *testing.T) {
		for _, s := range []string{"locked out again", hostileSubject, "new monitor", "printer jams"} {
			if !strings.Contains(body, ">"+refs[s]+"<") {
				t.Errorf("open request %s (%q) missing", refs[s], s)
			}
		}
		for _, s := range []string{"password reset", "payslip question"} {
			if strings.Contains(body, ">"+refs[s]+"<") {
				t.Errorf("resolved request %s (%q) listed", refs[s], s)
			}
		}
		if !strings.Contains(body, "All clear: no open requests.") {
			t.Error("Payroll, with nothing open, does not say all clear")
		}
	})
	t.Run("hostile subject escaped", func(t *testing.T) {
		if strings.Contains(body, "<script") {
			t.Errorf("page carries a raw <script> tag:\n%s", body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;") {
			t.Errorf("escaped subject not found:\n%s", body)
		}
	})
	t.Run("columns", func(t *testing.T) {
		// The hostile request: 5h old, due 4h after arrival (overdue),
		// level 2, 1 reminder, in Berlin time.
		// The language requesters are answered in (the department's) and,
		// for access, the 2h aim beside the 4h promise (issue 16).
		for _, w := range []string{`<tr class="overdue">`, "5h 00m", "Wed 11 Mar 14:00 CET", `<td class="num">2</td><td class="num">1</td>`,
			`<span class="aim">aim Wed 11 Mar 12:00 CET</span>`, `<td>de</td>`, `<th>Lang</th>`} {
			if !strings.Contains(body, w) {
				t.Errorf("page lacks %q", w)
			}
		}
	})
	t.Run("on-time chart", func(t *testing.T) {
		// IT: access 1 kept of 3 decided (the hostile one is overdue);
		// default 1 of 1 (printer jams is not due yet): overall 2 of 4.
		for _, w := range []string{"33% (1/3)", "100% (1/1)", "<strong>50%</strong> (2/4)", `style="width: 33%"`} {
			if !strings.Contains(body, w) {
				t.Errorf("chart lacks %q", w)
			}
		}
	})
}

func TestBasicAuth(t *testing.T) {
	st, _ := seed(t)
	up := []web.MailboxStatus{{Name: "IT Help Desk", Connected: true}}
	srv := newServer(t, st, up, web.BasicAuth{User: "staff", Password: "correct horse"})
	tests := []struct {
		name string
		path string
		auth *[2]string
		code int
	}{
		{"page without credentials", "/", nil, 401},
		{"page with the right ones", "/", &[2]string{"staff", "correct horse"}, 200},
		{"wrong password", "/", &[2]string{"staff", "correct hors"}, 401},
		{"wrong user", "/", &[2]string{"staf", "correct horse"}, 401},
		{"empty", "/", &[2]string{"", ""}, 401},
		{"metrics without credentials", "/metrics", nil, 401},
		{"metrics with", "/metrics", &[2]string{"staff", "correct horse"}, 200},
		{"healthz stays open", "/healthz", nil, 200},
		{"readyz stays open", "/readyz", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := get(t, srv.URL+tt.path, tt.auth)
			if code != tt.code {
				t.Fatalf("GET %s = %d, want %d:\n%s", tt.path, code, tt.code, body)
			}
			if code == 401 {
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
				}
				if strings.Contains(body, "REQ-") {
					t.Errorf("refused response leaks data:\n%s", body)
				}
			}
		})
	}
}

// TestShares checks the chart against report.Compute's definitions (see
// the report package doc), the ones the staff digest uses.
func TestShares(t *testing.T) {
	dept := fixtureConfigParsed(t).Departments[0] // IT: access 4h, default 3d
	due := now
	received := now.Add(-10 * time.Hour)
	req := func(id int64, cat string, f func(*store.Request)) store.Request {
		r := store.Request{ID: id, Dept: dept.Key(), Category: cat, State: store.StateAcknowledged, ReceivedAt: received, DueAt: due}
		if f != nil {
			f(&r)
		}
		return r
	}
	answered := func(at time.Time) func(*store.Request) {
		return func(r *store.Request) { r.FirstResponseAt, r.State = at, store.StateAnswered }
	}
	tests := []struct {
		name   string
		reqs   []store.Request
		events []store.Event
		want   []web.CategoryShare
	}{
		{"nothing", nil, nil, []web.CategoryShare{}},
		{"answered at the due time is kept", []store.Request{req(1, "access", answered(due))}, nil,
			[]web.CategoryShare{{Category: "access", Kept: 1}}},
		{"answered a minute late", []store.Request{req(1, "access", answered(due.Add(time.Minute)))}, nil,
			[]web.CategoryShare{{Category: "access", Missed: 1}}},
		{"resolved without an answer counts its resolution", []store.Request{req(1, "access", func(r *store.Request) {
			r.State, r.ResolvedAt = store.StateResolved, due.Add(-time.Hour)
		})}, nil, []web.CategoryShare{{Category: "access", Kept: 1}}},
		{"unanswered and past due", []store.Request{req(1, "access", func(r *store.Request) { r.DueAt = due.Add(-time.Second) })}, nil,
			[]web.CategoryShare{{Category: "access", Missed: 1}}},
		{"unanswered, not yet due, is left out", []store.Request{req(1, "access", func(r *store.Request) { r.DueAt = due.Add(time.Second) })}, nil,
			[]web.CategoryShare{}},
		{"a late notice before the answer is missed", []store.Request{req(1, "access", answered(due.Add(-time.Hour)))},
			[]store.Event{{RequestID: 1, Dept: dept.Key(), Kind: store.EventLateNotice, At: due.Add(-2 * time.Hour)}},
			[]web.CategoryShare{{Category: "access", Missed: 1}}},
		{"received before the window is left out", []store.Request{req(1, "access", func(r *store.Request) {
			r.ReceivedAt = now.Add(-web.OnTimeWindow - time.Hour)
			r.FirstResponseAt, r.State = due, store.StateAnswered
		})}, nil, []web.CategoryShare{}},
		{"sorted by category", []store.Request{
			req(1, "default", answered(due)),
			req(2, "access", answered(due.Add(time.Hour))),
			req(3, "default", func(r *store.Request) { r.DueAt = due.Add(-time.Hour) }),
		}, nil, []web.CategoryShare{{Category: "access", Missed: 1}, {Category: "default", Kept: 1, Missed: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := web.Shares(report.Compute(tt.reqs, tt.events, dept, now, web.OnTimeWindow))
			if len(got) != len(tt.want) {
				t.Fatalf("Shares = %+v, want %+v", got, tt.want)
			}
			kept, missed := 0, 0
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
				kept, missed = kept+tt.want[i].Kept, missed+tt.want[i].Missed
			}
			if total.Kept != kept || total.Missed != missed {
				t.Errorf("total = %+v, want kept %d missed %d", total, kept, missed)
			}
		})
	}
	// Rounded as the digest rounds, so page and mail print the same number.
	for _, tc := range []struct {
		share web.CategoryShare
		want  int
	}{{web.CategoryShare{Kept: 2, Missed: 1}, 67}, {web.CategoryShare{Kept: 1, Missed: 2}, 33}, {web.CategoryShare{}, 0}} {
		if p := tc.share.Percent(); p != tc.want {
			t.Errorf("Percent of %d/%d = %d, want %d", tc.share.Kept, tc.share.Decided(), p, tc.want)
		}
	}
}

// TestStatusChartMatchesDigest reads the seeded store the way the digest
// does and checks the page prints the very same records.
func TestStatusChartMatchesDigest(t *testing.T) {
	st, _ := seed(t)
	srv := newServer(t, st, nil, web.BasicAuth{})
	_, _, body := get(t, srv.URL+"/", nil)
	for _, d := range fixtureConfigParsed(t).Departments {
		reqs, evs, err := report.Gather(context.Background(), st, d.Key(), now, report.DefaultWindow)
		if err != nil {
			t.Fatal(err)
		}
		rep := report.Compute(reqs, evs, d, now, report.DefaultWindow)
		if rep.Overall.Judged() == 0 {
			t.Fatalf("%s: fixture judges nothing; the comparison would be empty", d.Name)
		}
		for _, r := range append(rep.Categories, rep.Overall) {
			if r.Judged() == 0 {
				continue
			}
			figure := fmt.Sprintf("%.0f%%", math.Round(r.KeptPercent()))
			if r.Category == "" {
				figure = "<strong>" + figure + "</strong>"
			}
			want := fmt.Sprintf("%s (%d/%d)", figure, r.Kept, r.Judged())
			if !strings.Contains(body, want) {
				t.Errorf("%s %q: page lacks the digest's %q", d.Name, r.Category, want)
			}
		}
	}
}
