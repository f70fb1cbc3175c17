package rules

import (
	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/config"
)

// needs returns the lines of items still to ask for, in language l: those
// whose present: clause does not match m; have are the ones left out.
func (s *Set) needs(d *config.Department, items []config.AskItem, m *Message, l string) (ask, have []string) {
	for _, it := range items {
		text := it.Text.In(l, d.Language)
		if p := s.presentMatcher(it.Present); p != nil && p.Match(m) {
			have = append(have, text)
			continue
		}
		ask = append(ask, text)
	}
	return ask, have
}

// presentMatcher returns the compiled present: clause n, or nil.
func (s *Set) presentMatcher(n *yaml.Node) Matcher {
	if s == nil || n == nil {
		return nil
	}
	return s.present[n]
}
