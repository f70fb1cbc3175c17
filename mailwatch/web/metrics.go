// Package web serves ackd's HTTP endpoints: Prometheus metrics, liveness
// and readiness probes, and a read-only status page of the open requests
// and how often each category's commitment was kept.
package web

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
)

// Sources are what the endpoints read: the store, the configuration in
// force and the state of the mailbox sessions. Config and Mailboxes are
// called at each request, so a reload shows at once.
type Sources struct {
	Store     store.Store
	Config    func() *config.Config
	Mailboxes func() []MailboxStatus
	// Outbox reports why queued mail cannot leave (the SMTP server is
	// unreachable), nil when it can; nil func when unknown.
	Outbox func() error
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Counters, when set, are the ones built before the daemon
	// (NewCounters) whose Observe wraps its store; nil: NewMetrics
	// builds its own from Config.
	Counters *Counters
}

// MailboxStatus is one watched mailbox's IMAP session, for /readyz and
// the connected gauge. The daemon reports its sessions; cmd/ackd hands
// them over in this shape, so web needs nothing of the daemon.
type MailboxStatus struct {
	Name      string // the department, or "<department>/sent"
	Connected bool
	Err       error // the last session error while not connected
}

func (s Sources) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s Sources) mailboxes() []MailboxStatus {
	if s.Mailboxes == nil {
		return nil
	}
	return s.Mailboxes()
}

func (s Sources) calendar(dept string) *calendar.Calendar {
	if s.Config == nil {
		return nil
	}
	cfg := s.Config()
	if cfg == nil {
		return nil
	}
	if d := cfg.DepartmentByKey(dept); d != nil {
		return d.Calendar
	}
	return nil
}

// deptName is the label for a store department key: the configured
// department's display name, or the key for one no longer configured.
func (s Sources) deptName(key string) string {
	if s.Config == nil {
		return key
	}
	if cfg := s.Config(); cfg != nil {
		return cfg.DepartmentName(key)
	}
	return key
}

// scrapeTimeout bounds the store queries one scrape or probe makes.
const scrapeTimeout = 5 * time.Second

// maxLevelLabel caps the escalation level label: a request that stays
// overdue climbs one level per missed due time, and a label per level
// would grow without bound.
const maxLevelLabel = 5

// Metrics are ackd's Prometheus metrics, in a registry of their own:
// the Counters of what this process did and the gauges computed from the
// store and the sessions at each scrape.
type Metrics struct {
	*Counters
	reg *prometheus.Registry
}

// Counters count what this process did since it started (they restart at
// zero, as Prometheus expects). They are fed by wrapping the daemon's
// store with Observe, so they are built before the daemon, from the
// configuration alone (department names, calendars); the gauges, which
// need the daemon's sessions, are built after it by NewMetrics.
type Counters struct {
	src Sources // Config only

	received      *prometheus.CounterVec
	receiptsSent  *prometheus.CounterVec
	mailSent      *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	reminders     *prometheus.CounterVec
	escalations   *prometheus.CounterVec
	lateNotices   *prometheus.CounterVec
	sendRetries   *prometheus.CounterVec
	sendFailed    *prometheus.CounterVec
	sendDropped   *prometheus.CounterVec
	firstResponse *prometheus.HistogramVec
}

// NewCounters builds the counters; cfg is the configuration in force
// (read at each count, for the department's name and calendar).
func NewCounters(cfg func() *config.Config) *Counters {
	m := &Counters{src: Sources{Config: cfg}}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ackd", Name: name, Help: help}, labels)
	}
	m.received = counter("requests_received_total", "New requests recorded (each got a receipt queued; a sending limit may hold it).", "dept", "category")
	m.receiptsSent = counter("receipts_sent_total", "Receipts the SMTP server accepted.", "dept")
	m.mailSent = counter("mail_sent_total", "Outbox mail the SMTP server accepted, by kind.", "dept", "kind")
	m.skipped = counter("messages_skipped_total", "Messages that got no receipt, by refusal reason.", "dept", "reason")
	m.reminders = counter("reminders_total", "Requester follow-ups on unanswered requests.", "dept")
	m.escalations = counter("escalations_total", "Escalations queued, by level (levels above 5 count as \"5+\").", "dept", "level")
	m.lateNotices = counter("late_notices_total", "Late notices queued to requesters.", "dept")
	m.sendRetries = counter("outbox_retries_total", "Delivery attempts that failed temporarily and will be retried.", "dept", "kind")
	m.sendFailed = counter("outbox_failed_total", "Outbox mail given up on (permanent failure or too old).", "dept", "kind")
	m.sendDropped = counter("outbox_dropped_total", "Mail a sending limit held that was closed unsent, no longer useful (answered, past due, replaced).", "dept", "kind")
	m.firstResponse = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ackd", Name: "first_response_business_hours",
		Help:    "Business hours from a request's arrival to the first staff answer, in the department's calendar.",
		Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 16, 24, 40, 80},
	}, []string{"dept", "category"})
	return m
}

func (m *Counters) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.received, m.receiptsSent, m.mailSent, m.skipped, m.reminders, m.escalations,
		m.lateNotices, m.sendRetries, m.sendFailed, m.sendDropped, m.firstResponse}
}

// NewMetrics builds the registry: the counters (src.Counters, or new ones
// reading src.Config), the scrape-time gauges read from src, and the Go
// runtime and process collectors.
func NewMetrics(src Sources) *Metrics {
	c := src.Counters
	if c == nil {
		c = NewCounters(src.Config)
	}
	m := &Metrics{Counters: c, reg: prometheus.NewRegistry()}
	m.reg.MustRegister(c.collectors()...)
	m.reg.MustRegister(&scrapeCollector{src: src})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry the metrics are in (to gather them, or to
// add more).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func levelLabel(level int) string {
	if level >= maxLevelLabel {
		return strconv.Itoa(maxLevelLabel) + "+"
	}
	return strconv.Itoa(level)
}

func (m *Counters) requestRecorded(r store.Request) {
	m.received.WithLabelValues(m.src.deptName(r.Dept), r.Category).Inc()
}

func (m *Counters) skip(s store.Skipped) {
	reason := s.Refusal
	if reason == "" {
		reason = "unknown"
	}
	m.skipped.WithLabelValues(m.src.deptName(s.Dept), reason).Inc()
}

// applied counts the events of a change and, when it carried the first
// staff answer, the first-response time.
func (m *Counters) applied(before, after store.Request, events []store.Event) {
	for _, e := range events {
		switch e.Kind {
		case store.EventReminder:
			m.reminders.WithLabelValues(m.src.deptName(after.Dept)).Inc()
		case store.EventEscalated:
			m.escalations.WithLabelValues(m.src.deptName(after.Dept), levelLabel(e.Level)).Inc()
		case store.EventLateNotice:
			m.lateNotices.WithLabelValues(m.src.deptName(after.Dept)).Inc()
		}
	}
	if before.FirstResponseAt.IsZero() && !after.FirstResponseAt.IsZero() {
		span := after.FirstResponseAt.Sub(after.ReceivedAt)
		if cal := m.src.calendar(after.Dept); cal != nil {
			span = cal.BusinessBetween(after.ReceivedAt, after.FirstResponseAt)
		}
		m.firstResponse.WithLabelValues(m.src.deptName(after.Dept), after.Category).Observe(max(span, 0).Hours())
	}
}

func (m *Counters) sent(dept, kind string) {
	m.mailSent.WithLabelValues(dept, kind).Inc()
	if kind == "receipt" {
		m.receiptsSent.WithLabelValues(dept).Inc()
	}
}

// scrapeCollector reads the gauges from the store and the sessions at
// each scrape, so they are right however many processes share the store.
type scrapeCollector struct {
	src Sources
}

var (
	descOpen = prometheus.NewDesc("ackd_open_requests", "Requests not resolved, by state.",
		[]string{"dept", "state"}, nil)
	descOverdue = prometheus.NewDesc("ackd_overdue_open_requests",
		"Open requests past their due time and not answered (acknowledged, new or overdue).", []string{"dept"}, nil)
	descQueue = prometheus.NewDesc("ackd_outbox_queue_depth", "Outbox mail still to send.", nil, nil)
	descIMAP  = prometheus.NewDesc("ackd_imap_connected", "1 when the mailbox's IMAP session is up.",
		[]string{"mailbox"}, nil)
	descStore  = prometheus.NewDesc("ackd_store_up", "1 when the store answered this scrape's queries.", nil, nil)
	descParked = prometheus.NewDesc("ackd_parked_messages",
		"Messages ackd moved on past because handling them kept failing; they wait for an admin (ackd status lists them).",
		[]string{"dept"}, nil)
)

var descHeld = prometheus.NewDesc("ackd_outbox_held", "Outbox mail a sending limit holds until its window allows it, by kind.",
	[]string{"dept", "kind"}, nil)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descOverdue, descQueue, descHeld, descIMAP, descStore, descParked} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, mb := range c.src.mailboxes() {
		ch <- prometheus.MustNewConstMetric(descIMAP, prometheus.GaugeValue, boolValue(mb.Connected), mb.Name)
	}
	if c.src.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	up := 1.0
	if n, err := c.src.Store.PendingMail(ctx); err != nil {
		up = 0
	} else {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n))
	}
	if held, err := c.src.Store.HeldMail(ctx, ""); err != nil {
		up = 0
	} else {
		type key struct{ dept, kind string }
		byKind := map[key]int{}
		for _, d := range c.depts() {
			byKind[key{d, "receipt"}] = 0 // the one an alert watches, present at 0
		}
		for _, m := range held {
			byKind[key{c.src.deptName(m.Dept), m.Kind}]++
		}
		for k, n := range byKind {
			ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(n), k.dept, k.kind)
		}
	}
	if open, err := c.src.Store.OpenRequests(ctx, ""); err != nil {
		up = 0
	} else {
		now := c.src.now()
		type key struct{ dept, state string }
		states := map[key]int{}
		overdue := map[string]int{}
		for _, d := range c.depts() {
			overdue[d] = 0
		}
		for _, r := range open {
			name := c.src.deptName(r.Dept)
			states[key{name, string(r.State)}]++
			if isOverdue(r, now) {
				overdue[name]++
			}
		}
		for k, n := range states {
			ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(n), k.dept, k.state)
		}
		for d, n := range overdue {
			ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, float64(n), d)
		}
	}
	if parked, err := c.src.Store.ParkedMessages(ctx, ""); err != nil {
		up = 0
	} else {
		per := map[string]int{}
		for _, d := range c.depts() {
			per[d] = 0
		}
		for _, p := range parked {
			per[c.src.deptName(p.Dept)]++
		}
		for d, n := range per {
			ch <- prometheus.MustNewConstMetric(descParked, prometheus.GaugeValue, float64(n), d)
		}
	}
	ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, up)
}

// depts are the configured departments, so a department with nothing
// overdue reports 0 rather than nothing.
func (c *scrapeCollector) depts() []string {
	if c.src.Config == nil {
		return nil
	}
	cfg := c.src.Config()
	if cfg == nil {
		return nil
	}
	var out []string
	for _, d := range cfg.Departments {
		out = append(out, d.Name)
	}
	return out
}

// isOverdue: still waiting for staff, and the due time has passed. An
// answered or waiting request has its clock stopped.
func isOverdue(r store.Request, now time.Time) bool {
	switch r.State {
	case store.StateNew, store.StateAcknowledged, store.StateOverdue:
		return r.State == store.StateOverdue || (!r.DueAt.IsZero() && now.After(r.DueAt))
	}
	return false
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
