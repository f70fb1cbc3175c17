package rules

import (
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/config"
)

// Matcher is a compiled match expression; see matcher.go.
type Matcher interface {
	Match(m *Message) bool
}

// Set is a config's rules compiled: every rule's match: clause turned into
// a Matcher. Decide judges by it. A Set is immutable once built and safe
// for concurrent readers; it belongs to the Config it was compiled from
// (a reload compiles a new one).
type Set struct {
	match map[*config.Rule]Matcher
	// present holds the compiled present: clauses of ask_for items, by
	// their node.
	present map[*yaml.Node]Matcher
}

// Load reads and validates a config file (config.Load) and compiles its
// rules, in one pass: a bad pattern is reported with every other problem
// of the file, sorted by place, as `ackd check` prints them.
func Load(path string) (*config.Config, *Set, error) {
	c := newCollector()
	cfg, err := config.Load(path, config.CheckMatches(c.check))
	if err != nil {
		return nil, nil, err
	}
	return cfg, c.set(cfg), nil
}

// Parse is Load for config bytes; file names the source in problems.
func Parse(file string, data []byte) (*config.Config, *Set, error) {
	c := newCollector()
	cfg, err := config.Parse(file, data, config.CheckMatches(c.check))
	if err != nil {
		return nil, nil, err
	}
	return cfg, c.set(cfg), nil
}

// CheckMatch is a config.MatchChecker: it compiles a match: clause and
// returns its problems, for config.Load(path, config.CheckMatches(rules.CheckMatch)).
func CheckMatch(n *yaml.Node, file string) config.Problems {
	_, ps := CompileMatcher(n, file)
	return ps
}

// Compile compiles the match: clause of every rule of cfg, a config that
// was loaded without Load (config.Load, or built in code). Problems name
// file:line:col, sorted by place; a rule without a clause matches nothing.
func Compile(cfg *config.Config) (*Set, error) {
	s := &Set{match: map[*config.Rule]Matcher{}, present: map[*yaml.Node]Matcher{}}
	var probs config.Problems
	compile := func(n *yaml.Node) (Matcher, bool) {
		m, ps := CompileMatcher(n, cfg.File)
		for _, p := range ps {
			if p.File == "" {
				p.File = cfg.File
			}
			if p.Line <= 0 {
				p.Line, p.Col = n.Line, n.Column
			}
			probs = append(probs, p)
		}
		return m, len(ps) == 0
	}
	for _, d := range cfg.Departments {
		for _, r := range d.Rules {
			if r == nil || r.Match == nil {
				continue
			}
			if m, ok := compile(r.Match); ok {
				s.match[r] = m
			}
		}
		for _, n := range presentNodes(d) {
			if m, ok := compile(n); ok {
				s.present[n] = m
			}
		}
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool {
			a, b := probs[i], probs[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, probs
	}
	return s, nil
}

// collector compiles match: clauses while config loads a file and keeps
// the matchers by node, so a Load compiles each clause once.
type collector struct {
	byNode map[*yaml.Node]Matcher
}

func newCollector() *collector { return &collector{byNode: map[*yaml.Node]Matcher{}} }

func (c *collector) check(n *yaml.Node, file string) config.Problems {
	if m, ok := c.byNode[n]; ok && m != nil {
		return nil
	}
	m, ps := CompileMatcher(n, file)
	if len(ps) == 0 {
		c.byNode[n] = m
	}
	return ps
}

// set pairs each rule of cfg with the matcher compiled from its clause.
func (c *collector) set(cfg *config.Config) *Set {
	s := &Set{match: map[*config.Rule]Matcher{}, present: map[*yaml.Node]Matcher{}}
	for _, d := range cfg.Departments {
		for _, n := range presentNodes(d) {
			if m, ok := c.byNode[n]; ok {
				s.present[n] = m
			}
		}
		for _, r := range d.Rules {
			if r == nil || r.Match == nil {
				continue
			}
			if m, ok := c.byNode[r.Match]; ok {
				s.match[r] = m
			}
		}
	}
	return s
}

// presentNodes are the present: clauses of d's ask_for items, of its
// categories and rules.
func presentNodes(d *config.Department) []*yaml.Node {
	var out []*yaml.Node
	add := func(items []config.AskItem) {
		for _, it := range items {
			if it.Present != nil {
				out = append(out, it.Present)
			}
		}
	}
	for _, c := range d.Categories {
		if c != nil {
			add(c.AskFor)
		}
	}
	for _, r := range d.Rules {
		if r != nil {
			add(r.AskFor)
		}
	}
	return out
}
