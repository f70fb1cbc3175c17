package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/internal/editdist"
)

// This file holds the generic node-walking helpers of the config loader:
// problem collection, strict mappings with "did you mean" hints, and typed
// scalars. The schema itself lives in load.go.

// loader collects every problem found in one config file.
type loader struct {
	file  string
	dir   string // base for relative paths
	probs Problems
	// topHistory is where the top-level backfill and max_age were written.
	topHistory historyNodes
	// matchCheck checks rules' match: clauses; nil leaves them unchecked.
	matchCheck MatchChecker
}

// at records a problem at n's position. A problem never goes without a line:
// when the node has none (an empty document), line 1 column 1 stands in.
func (l *loader) at(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
		if col <= 0 {
			col = 1
		}
	}
	l.probs = append(l.probs, Problem{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// yamlErrLine pulls the line number out of a yaml.v3 error such as
// "yaml: line 3: mapping values are not allowed in this context".
var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax turns a yaml.v3 parse error into a problem with a line.
func (l *loader) syntax(err error) {
	msg := err.Error()
	line := 1
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
			line = n
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	l.probs = append(l.probs, Problem{File: l.file, Line: line, Msg: "yaml syntax: " + msg})
}

// sorted orders problems by place so output is stable and reads top down,
// and drops repeats: a node reached through several aliases is checked once
// per alias but reported once.
func (l *loader) sorted() Problems {
	sort.SliceStable(l.probs, func(i, j int) bool {
		a, b := l.probs[i], l.probs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	// An inline password is the whole story at its key; another message
	// there (the matcher's "unknown key") would only repeat it.
	refused := map[[2]int]bool{}
	for _, p := range l.probs {
		if p.Msg == inlinePassword {
			refused[[2]int{p.Line, p.Col}] = true
		}
	}
	out := l.probs[:0]
	seen := map[Problem]bool{}
	for _, p := range l.probs {
		if seen[p] || (p.Msg != inlinePassword && refused[[2]int{p.Line, p.Col}]) {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	l.probs = out
	return out
}

// followAlias follows YAML aliases (*name) to the anchored node. yaml.v3 rejects
// an anchor that contains itself, so this always ends; the bound is only a
// guard against a malformed tree.
func followAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// yamlKind names a node's kind for "expected X, got Y" messages.
func yamlKind(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		// Values are not quoted here: a misplaced one might be a secret.
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true or false"
		case "!!timestamp":
			return "a date"
		}
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!") + " value"
	case yaml.DocumentNode:
		return "a document"
	}
	return "an unknown node"
}

// cfgField is one key of a mapping with its value.
type cfgField struct {
	key, val *yaml.Node
}

// cfgMapping is a checked YAML mapping: known keys only, no duplicates, merge
// keys (<<) expanded.
type cfgMapping struct {
	node   *yaml.Node
	fields map[string]cfgField
	// hinted holds keys offered as "did you mean"; a missing required key
	// already hinted at is not reported a second time.
	hinted map[string]bool
}

// get returns the value of key, or nil when it is absent.
func (m *cfgMapping) get(key string) *yaml.Node {
	if m == nil {
		return nil
	}
	f, ok := m.fields[key]
	if !ok {
		return nil
	}
	return f.val
}

// keyNode returns the key node of key, or nil when it is absent.
func (m *cfgMapping) keyNode(key string) *yaml.Node {
	if m == nil {
		return nil
	}
	return m.fields[key].key
}

// has says whether key was written.
func (m *cfgMapping) has(key string) bool { return m.get(key) != nil }

// inlinePassword is the one message for a password written into the file.
// It never includes the value.
const inlinePassword = "inline password refused: use password_env or password_file"

// mapping checks that n is a mapping whose keys are all in keys. what names
// the section for messages ("smtp", "imap", "rule"). It returns nil when n is
// not a mapping at all.
func (l *loader) mapping(n *yaml.Node, what string, keys ...string) *cfgMapping {
	n = followAlias(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.at(n, "%s: expected a mapping, got %s", what, yamlKind(n))
		return nil
	}
	m := &cfgMapping{node: n, fields: map[string]cfgField{}, hinted: map[string]bool{}}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := followAlias(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			l.at(n.Content[i], "%s: keys must be plain words, got %s", what, yamlKind(k))
			continue
		}
		name := k.Value
		switch {
		case name == "<<" && k.ShortTag() == "!!merge":
			merges = append(merges, v)
			continue
		case name == "password":
			l.at(k, inlinePassword)
			continue
		case what == "config" && strings.HasPrefix(name, "x-"):
			// Extension keys hold anchors shared by several sections,
			// as in Compose files; the loader ignores them.
			continue
		case !slices.Contains(keys, name):
			if hint := nearestKey(name, keys); hint != "" {
				m.hinted[hint] = true
				l.at(k, "%s: unknown key %q (did you mean %q?)", what, name, hint)
			} else {
				l.at(k, "%s: unknown key %q (valid keys: %s)", what, name, strings.Join(keys, ", "))
			}
			continue
		}
		if prev, dup := m.fields[name]; dup {
			l.at(k, "duplicate key %q in %s (first set at line %d)", name, what, prev.key.Line)
			continue
		}
		m.fields[name] = cfgField{key: k, val: v}
	}
	// Merged keys fill in only what the mapping does not set itself, as
	// YAML's merge key specifies; their own problems are reported at the
	// anchored mapping's lines.
	for _, v := range merges {
		srcs := []*yaml.Node{followAlias(v)}
		if s := followAlias(v); s != nil && s.Kind == yaml.SequenceNode {
			srcs = s.Content
		}
		for _, src := range srcs {
			sub := l.mapping(src, what, keys...)
			if sub == nil {
				continue
			}
			for name, f := range sub.fields {
				if _, set := m.fields[name]; !set {
					m.fields[name] = f
				}
			}
		}
	}
	return m
}

// require reports every key of keys missing from m.
func (l *loader) require(m *cfgMapping, what string, keys ...string) {
	if m == nil {
		return
	}
	for _, k := range keys {
		if !m.has(k) && !m.hinted[k] {
			l.at(m.node, "%s: missing required key %q", what, k)
		}
	}
}

// str reads a string scalar. Numbers are accepted as their text (a username
// may well be digits); null and collections are not.
func (l *loader) str(n *yaml.Node, key string) (string, bool) {
	n = followAlias(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.at(n, "%s: expected a string, got %s", key, yamlKind(n))
		return "", false
	}
	return n.Value, true
}

// boolean reads true or false.
func (l *loader) boolean(n *yaml.Node, key string) (bool, bool) {
	n = followAlias(n)
	if n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		l.at(n, "%s: expected true or false, got %s", key, yamlKind(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		l.at(n, "%s: expected true or false", key)
		return false, false
	}
	return b, true
}

// integer reads an integer in [lo, hi].
func (l *loader) integer(n *yaml.Node, key string, lo, hi int64) (int64, bool) {
	n = followAlias(n)
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		l.at(n, "%s: expected an integer, got %s", key, yamlKind(n))
		return 0, false
	}
	var v int64
	if err := n.Decode(&v); err != nil {
		l.at(n, "%s: %q is not an integer that fits", key, n.Value)
		return 0, false
	}
	if v < lo || v > hi {
		l.at(n, "%s: %d is out of range %d-%d", key, v, lo, hi)
		return 0, false
	}
	return v, true
}

// list reads a sequence and returns its items (aliases followed).
func (l *loader) list(n *yaml.Node, key string) ([]*yaml.Node, bool) {
	n = followAlias(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		l.at(n, "%s: expected a list, got %s", key, yamlKind(n))
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = followAlias(c)
	}
	return items, true
}

// choice reads a string that must be one of choices; a different one is
// reported as "key: "x" is not a, b or c" and gives false.
func (l *loader) choice(n *yaml.Node, key string, choices ...string) (string, bool) {
	s, ok := l.str(n, key)
	if !ok {
		return "", false
	}
	if slices.Contains(choices, s) {
		return s, true
	}
	list := strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
	l.at(n, "%s: %q is not %s", key, s, list)
	return s, false
}

// strs reads a list of strings, skipping (and reporting) bad items.
func (l *loader) strs(n *yaml.Node, key string) ([]string, []*yaml.Node) {
	return l.listOf(n, key, l.str)
}

// listOf reads a list whose items item reads, skipping (and reporting)
// bad ones; it returns the values and the node of each.
func (l *loader) listOf(n *yaml.Node, key string, item func(*yaml.Node, string) (string, bool)) ([]string, []*yaml.Node) {
	items, ok := l.list(n, key)
	if !ok {
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, it := range items {
		if s, ok := item(it, key); ok {
			out = append(out, s)
			nodes = append(nodes, it)
		}
	}
	return out, nodes
}

// nearestKey returns the key in keys closest to s by edit distance, or "" when
// none is close enough to be a plausible typo.
func nearestKey(s string, keys []string) string {
	best, bestD := "", -1
	for _, k := range keys {
		d := editdist.Levenshtein(strings.ToLower(s), k)
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > max(2, (len(best)+2)/3) || bestD >= len(s) {
		return ""
	}
	return best
}
