package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// History settings: how far into a mailbox's past ackd ever reaches.
const (
	// DefaultMaxAge is max_age when the config leaves it out: mail that
	// arrived longer ago never gets a receipt, notice or escalation.
	DefaultMaxAge = 4 * 24 * time.Hour
	// maxAgeWarn is the max_age above which `ackd check` warns.
	maxAgeWarn = 14 * 24 * time.Hour
)

// Key is the department's stable identity in the store: its address,
// lower-cased. The display name may change without losing the
// department's requests, references and mailbox checkpoints; an address
// change makes a new department (see README, "Renaming a department").
func (d *Department) Key() string { return strings.ToLower(d.Address) }

// DepartmentByKey returns the configured department whose Key is key, or
// nil.
func (c *Config) DepartmentByKey(key string) *Department {
	for _, d := range c.Departments {
		if d.Key() == key {
			return d
		}
	}
	return nil
}

// DepartmentName is how a store department key is shown to people: the
// configured department's display name, or the key itself for state of a
// department no longer configured.
func (c *Config) DepartmentName(key string) string {
	if d := c.DepartmentByKey(key); d != nil {
		return d.Name
	}
	return key
}

// HistoryWarnings are `ackd check` warnings about history settings that
// let old mail be answered.
func (c *Config) HistoryWarnings() []string {
	var out []string
	for _, d := range c.Departments {
		if d.MaxAge > maxAgeWarn {
			out = append(out, fmt.Sprintf("department %q: max_age %s lets mail older than two weeks get receipts and escalations; the default is %s",
				d.Name, FormatAge(d.MaxAge), FormatAge(DefaultMaxAge)))
		}
		if d.Backfill > 0 {
			out = append(out, fmt.Sprintf("department %q: backfill %s: on its first start ackd answers the mail of the last %s; run `ackd backfill` to see which",
				d.Name, FormatAge(d.Backfill), FormatAge(d.Backfill)))
		}
	}
	return out
}

// FormatAge writes a history duration the way the config accepts it:
// whole days as "4d", anything else as Go writes it.
func FormatAge(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// historyNodes are where backfill and max_age were written, for problems
// found when a department's values are put together.
type historyNodes struct{ backfill, maxAge *yaml.Node }

// history reads backfill and max_age from m into the values given, which
// hold the inherited defaults, and returns where they were written.
func (l *loader) history(m *cfgMapping, backfill, maxAge *time.Duration) historyNodes {
	var at historyNodes
	if v := m.get("backfill"); v != nil {
		at.backfill = v
		if d, ok := l.age(v, "backfill", true); ok {
			*backfill = d
		}
	}
	if v := m.get("max_age"); v != nil {
		at.maxAge = v
		if d, ok := l.age(v, "max_age", false); ok {
			*maxAge = d
		}
	}
	return at
}

// checkHistory reports a department whose backfill reaches past its
// max_age. That is an error, not a silent clamp: the messages between the
// two would be read only to be refused as too old, which is not what
// whoever wrote the larger backfill expects, and one edit fixes it.
func (l *loader) checkHistory(d *Department, own, top historyNodes, deptNode *yaml.Node) {
	if d.Backfill <= d.MaxAge {
		return
	}
	at := own.backfill
	for _, n := range []*yaml.Node{top.backfill, own.maxAge, top.maxAge, deptNode} {
		if at == nil {
			at = n
		}
	}
	l.at(at, "backfill %s is longer than max_age %s: nothing older than max_age is ever answered; shorten backfill or raise max_age",
		FormatAge(d.Backfill), FormatAge(d.MaxAge))
}

// ParseAge reads a history duration as backfill and max_age take it: a Go
// duration (36h, 90m), whole days ("4d", 24 hours each: calendar time, not
// business days) or "0".
func ParseAge(s string) (time.Duration, error) {
	if num, isDays := strings.CutSuffix(s, "d"); isDays {
		days, err := strconv.Atoi(num)
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("%q is not a duration like 4d, 36h or 90m", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return 0, fmt.Errorf("%q needs a unit, like %sd or %sh", s, s, s)
		}
		return 0, fmt.Errorf("%q is not a duration like 4d, 36h or 90m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	return d, nil
}

// age reads a history duration (see ParseAge); zeroOK allows 0 to mean
// "none".
func (l *loader) age(n *yaml.Node, key string, zeroOK bool) (time.Duration, bool) {
	s, ok := l.str(n, key)
	if !ok {
		return 0, false
	}
	d, err := ParseAge(s)
	switch {
	case err != nil:
		l.at(n, "%s: %v", key, err)
		return 0, false
	case d == 0 && !zeroOK:
		l.at(n, "%s: must be positive, got %s", key, s)
		return 0, false
	}
	return d, true
}

// MaxAgeOrDefault is the department's max_age, DefaultMaxAge when a
// Department built in code left it zero.
func (d *Department) MaxAgeOrDefault() time.Duration {
	if d.MaxAge > 0 {
		return d.MaxAge
	}
	return DefaultMaxAge
}

// TooOld says whether something that happened at at lies more than the
// department's max_age before now: ackd sends no mail about it.
func (d *Department) TooOld(at, now time.Time) bool {
	return !at.IsZero() && at.Before(now.Add(-d.MaxAgeOrDefault()))
}
