package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Satisfaction is a department's satisfaction: section, which opts it in
// to asking requesters how we did (issue 16). Nil means never ask.
type Satisfaction struct {
	// Every: at most one question per requester in this period (default
	// DefaultSatisfactionEvery).
	Every time.Duration
	// Low: an answer at or below it (1–5) goes to the leads with the
	// thread (default DefaultSatisfactionLow).
	Low int
}

// The defaults of the satisfaction: keys.
const (
	DefaultSatisfactionEvery = 30 * 24 * time.Hour
	DefaultSatisfactionLow   = 2
)

// satisfaction reads satisfaction: {every: 30d, low: 2}; "satisfaction:
// true" takes the defaults, false (or leaving the key out) never asks.
func (l *loader) satisfaction(n *yaml.Node) *Satisfaction {
	n = followAlias(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		on, ok := l.boolean(n, "satisfaction")
		if !ok || !on {
			return nil
		}
		return &Satisfaction{Every: DefaultSatisfactionEvery, Low: DefaultSatisfactionLow}
	}
	m := l.mapping(n, "satisfaction", "every", "low")
	if m == nil {
		return nil
	}
	s := &Satisfaction{Every: DefaultSatisfactionEvery, Low: DefaultSatisfactionLow}
	if v := m.get("every"); v != nil {
		if d, ok := l.age(v, "every", false); ok {
			s.Every = d
		}
	}
	if v := m.get("low"); v != nil {
		if i, ok := l.integer(v, "low", 0, 4); ok {
			s.Low = int(i)
		}
	}
	return s
}
