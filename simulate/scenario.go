package simulate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/rules"
)

// Scenario is a simulated stretch of a department's life: who writes in
// when, about what, and who answers. Read it with LoadScenario.
type Scenario struct {
	// Config is the ackd config file whose department runs the rules,
	// calendar and lifecycle (relative to the scenario file).
	Config string `yaml:"config"`
	// Department is the address of the department to run; default the
	// config's first.
	Department string `yaml:"department"`
	// Start (a date) and Days: the reported period. WarmupDays are
	// simulated before it, so the record the forecast reads is filled.
	Start      string `yaml:"start"`
	Days       int    `yaml:"days"`
	WarmupDays int    `yaml:"warmup_days"`
	// Seed is the default seed (--seed overrides it).
	Seed uint64 `yaml:"seed"`

	// Requesters and TicketsPerUserPerMonth give the average volume.
	Requesters             int     `yaml:"requesters"`
	TicketsPerUserPerMonth float64 `yaml:"tickets_per_user_per_month"`
	// Weekdays weighs the days ("mon": 1.3 …; missing days get 0) and
	// Hours the 24 hours of a day; both relative.
	Weekdays map[string]float64 `yaml:"weekdays"`
	Hours    []float64          `yaml:"hours"`

	Categories []CategoryLoad `yaml:"categories"`
	Surges     []Surge        `yaml:"surges"`
	Outages    []Outage       `yaml:"outages"`
	Staff      []Staff        `yaml:"staff"`
	Absences   []Absence      `yaml:"absences"`

	// ReminderAfter: a requester whose date passed this long ago without
	// an answer writes a reminder. Default 1h.
	ReminderAfter time.Duration `yaml:"reminder_after"`

	dept  *config.Department
	rules *rules.Set
	start time.Time
}

// CategoryLoad is one kind of request in the scenario.
type CategoryLoad struct {
	// Name is the scenario's name for it; the category the request gets
	// is what the department's rules decide for Subjects.
	Name     string   `yaml:"name"`
	Share    float64  `yaml:"share"`
	Subjects []string `yaml:"subjects"`
	// Answer is the staff time a first answer takes (log-normal).
	Answer Dist `yaml:"answer"`
}

// Dist is a log-normal distribution given by its median and 90th
// percentile.
type Dist struct {
	Median time.Duration `yaml:"median"`
	P90    time.Duration `yaml:"p90"`
}

// Surge multiplies arrivals on a weekday within hours ("08:00-12:00").
type Surge struct {
	Weekday string  `yaml:"weekday"`
	Hours   string  `yaml:"hours"`
	Factor  float64 `yaml:"factor"`

	day   time.Weekday
	spans []calendar.Span
}

// Outage multiplies arrivals From–To (local "2006-01-02 15:04") and takes
// Away off the queue (they fix the outage; ackd's forecast sees them as
// away).
type Outage struct {
	From     string   `yaml:"from"`
	To       string   `yaml:"to"`
	Arrivals float64  `yaml:"arrivals"`
	Away     []string `yaml:"away"`

	from, to time.Time
}

// Staff is one person answering the queue.
type Staff struct {
	Name  string `yaml:"name"`
	Hours string `yaml:"hours"` // "08:00-16:30" on the department's workdays
	// Share of their working time spent on the mailbox (the rest is desk
	// visits, projects); default 1.
	Share float64 `yaml:"share"`

	spans []calendar.Span
}

// Absence takes Who off work From–To (dates, inclusive).
type Absence struct {
	Who  string `yaml:"who"`
	From string `yaml:"from"`
	To   string `yaml:"to"`

	from, to calendar.Date
}

// LoadScenario reads and checks a scenario file and the config it names.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	s, err := ParseScenario(path, data)
	if err != nil {
		return nil, err
	}
	cfgPath := s.Config
	if !filepath.IsAbs(cfgPath) {
		cfgPath = filepath.Join(filepath.Dir(path), cfgPath)
	}
	cfg, set, err := rules.Load(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if err := s.Bind(cfg, set); err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}
	return s, nil
}

// ParseScenario reads a scenario without its config (Bind adds it).
func ParseScenario(file string, data []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var probs []string
	bad := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	if s.Config == "" {
		bad("config: the ackd config to run is required")
	}
	if s.Days <= 0 {
		bad("days: must be positive")
	}
	if s.WarmupDays < 0 {
		bad("warmup_days: must not be negative")
	}
	if s.Requesters <= 0 || s.TicketsPerUserPerMonth <= 0 {
		bad("requesters and tickets_per_user_per_month must be positive")
	}
	if len(s.Hours) != 24 {
		bad("hours: want 24 weights, got %d", len(s.Hours))
	}
	for k, v := range s.Weekdays {
		if _, err := calendar.ParseWeekday(k); err != nil {
			bad("weekdays: %v", err)
		}
		if v < 0 {
			bad("weekdays: %s: negative weight", k)
		}
	}
	if len(s.Categories) == 0 {
		bad("categories: at least one")
	}
	for i, c := range s.Categories {
		if c.Share <= 0 || len(c.Subjects) == 0 {
			bad("categories[%d] %q: share must be positive and subjects given", i, c.Name)
		}
		if c.Answer.Median <= 0 || c.Answer.P90 < c.Answer.Median {
			bad("categories[%d] %q: answer: want 0 < median ≤ p90", i, c.Name)
		}
	}
	for i := range s.Surges {
		sg := &s.Surges[i]
		d, err := calendar.ParseWeekday(sg.Weekday)
		if err != nil {
			bad("surges[%d]: %v", i, err)
		}
		sg.day = d
		if sg.spans, err = calendar.ParseHours(sg.Hours); err != nil {
			bad("surges[%d]: %v", i, err)
		}
		if sg.Factor <= 0 {
			bad("surges[%d]: factor must be positive", i)
		}
	}
	if len(s.Staff) == 0 {
		bad("staff: at least one")
	}
	for i := range s.Staff {
		st := &s.Staff[i]
		if st.Share == 0 {
			st.Share = 1
		}
		if st.Name == "" || st.Share < 0 || st.Share > 1 {
			bad("staff[%d]: a name and 0 < share ≤ 1 are required", i)
		}
		var err error
		if st.spans, err = calendar.ParseHours(st.Hours); err != nil {
			bad("staff[%d]: %v", i, err)
		}
	}
	for i := range s.Absences {
		a := &s.Absences[i]
		var err1, err2 error
		a.from, err1 = calendar.ParseDate(a.From)
		a.to, err2 = calendar.ParseDate(a.To)
		if err := errors.Join(err1, err2); err != nil || a.Who == "" {
			bad("absences[%d]: want who, from and to dates: %v", i, err)
		}
	}
	if s.ReminderAfter == 0 {
		s.ReminderAfter = time.Hour
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%s: %s", file, strings.Join(probs, "; "))
	}
	return &s, nil
}

// Bind attaches the department of cfg the scenario runs, with the rules
// compiled from cfg, and resolves its dates in the department's time zone.
func (s *Scenario) Bind(cfg *config.Config, set *rules.Set) error {
	s.rules = set
	for _, d := range cfg.Departments {
		if s.Department == "" || rules.EqualAddress(d.Address, s.Department) {
			s.dept = d
			break
		}
	}
	if s.dept == nil {
		return fmt.Errorf("department %q not in the config", s.Department)
	}
	loc := s.dept.Calendar.Location()
	day, err := calendar.ParseDate(s.Start)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	s.start = time.Date(day.Year, day.Month, day.Day, 0, 0, 0, 0, loc)
	for i := range s.Outages {
		o := &s.Outages[i]
		var err1, err2 error
		o.from, err1 = time.ParseInLocation("2006-01-02 15:04", o.From, loc)
		o.to, err2 = time.ParseInLocation("2006-01-02 15:04", o.To, loc)
		if err := errors.Join(err1, err2); err != nil || !o.to.After(o.from) || o.Arrivals <= 0 {
			return fmt.Errorf("outages[%d]: want from < to (\"2006-01-02 15:04\") and arrivals > 0: %v", i, err)
		}
	}
	return nil
}

// Dept is the department the scenario runs (after Bind).
func (s *Scenario) Dept() *config.Department { return s.dept }
