package rules

import (
	"fmt"
	"net/textproto"
	"path"
	"sort"
	"strings"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/editdist"
	"gopkg.in/yaml.v3"
)

// A rule's `match:` is a mapping. Text keys take a pattern or a list of
// patterns (a list matches when any pattern does):
//
//	subject, body        words/phrases, or /RE2/ (/RE2/i for case-insensitive)
//	from, to, cc         an address, @domain, a glob (*@hr.example.test),
//	                     a word of the display name, or /RE2/
//	header               {Name: pattern or list}
//	all: [match…]  any: [match…]  not: match
//
// Several keys in one mapping must all match. Plain patterns match
// case-insensitively on word boundaries (see fold and isWordRune); body
// patterns see the text with quotes and signatures removed (StripQuoted).

// maxDepth bounds nesting so a hostile or aliased YAML cannot recurse forever.
const maxDepth = 32

var matchKeys = []string{"subject", "body", "from", "to", "cc", "header", "all", "any", "not"}

// CompileMatcher compiles a rule's `match:` node. config.Problems name file, line
// and column of every bad pattern or key. The returned Matcher is never nil;
// when there are problems it matches nothing.
func CompileMatcher(n *yaml.Node, file string) (Matcher, config.Problems) {
	c := compiler{file: file}
	if n == nil {
		c.add(nil, "match: missing")
		return matchNothing{}, c.ps
	}
	root := c.match(n, 0)
	if len(c.ps) > 0 || root == nil {
		return matchNothing{}, c.ps
	}
	return &compiled{root: root}, nil
}

type matchNothing struct{}

func (matchNothing) Match(*Message) bool { return false }

// compiled is the Matcher CompileMatcher returns. Decide evaluates its tree
// against one shared view per message so folding happens once per message,
// not once per rule.
type compiled struct{ root cond }

// Match reports whether m satisfies the expression.
func (c *compiled) Match(m *Message) bool {
	if m == nil {
		return false
	}
	return c.root.eval(newView(m))
}

type cond interface{ eval(v *view) bool }

type allOf []cond

func (a allOf) eval(v *view) bool {
	for _, c := range a {
		if !c.eval(v) {
			return false
		}
	}
	return true
}

type anyOf []cond

func (a anyOf) eval(v *view) bool {
	for _, c := range a {
		if c.eval(v) {
			return true
		}
	}
	return false
}

type notOf struct{ c cond }

func (n notOf) eval(v *view) bool { return !n.c.eval(v) }

// textPattern is a plain word/phrase or a regular expression.
type textPattern struct {
	w  word
	re *rx
}

type subjectCond []textPattern

func (c subjectCond) eval(v *view) bool {
	for _, p := range c {
		if p.re != nil {
			if p.re.match(v.m.Subject, &v.subjLow) {
				return true
			}
		} else if p.w.in(v.subject()) {
			return true
		}
	}
	return false
}

type bodyCond []textPattern

func (c bodyCond) eval(v *view) bool {
	for _, p := range c {
		if p.re != nil {
			if p.re.match(v.bodyRaw(), &v.bodyLow) {
				return true
			}
		} else if p.w.inGrams(v.body(), v.bodyGrams()) {
			return true
		}
	}
	return false
}

type headerCond struct {
	name string // canonical key
	pats []textPattern
}

func (c headerCond) eval(v *view) bool {
	raw := v.m.Header[c.name]
	if len(raw) == 0 {
		return false
	}
	folded := v.header(c.name)
	for i, r := range raw {
		var low lazyLower
		for _, p := range c.pats {
			if p.re != nil {
				if p.re.match(r, &low) {
					return true
				}
			} else if p.w.in(folded[i]) {
				return true
			}
		}
	}
	return false
}

type addrKind int

const (
	addrExact  addrKind = iota // alice@example.test
	addrDomain                 // @example.test
	addrGlob                   // *@hr.example.test
	addrRegexp                 // /regex/
	addrWord                   // a word of the display name or address
)

type addrPattern struct {
	kind addrKind
	s    string // lower-cased for exact and domain
	g    glob
	re   *rx
	w    word
}

// glob is a lower-cased path.Match pattern. Patterns whose only
// metacharacter is "*" (nearly all: "*@hr.example.test") are split into
// literal parts once, because path.Match retries every position of a
// leading "*" and dominated the cost of a decision.
type glob struct {
	pattern string
	parts   []string // nil when the pattern needs path.Match
	hasAt   bool     // an address pattern; never tried on display names
}

func newGlob(pattern string) glob {
	g := glob{pattern: pattern, hasAt: strings.Contains(pattern, "@")}
	if !strings.ContainsAny(pattern, "?[\\") {
		g.parts = strings.Split(pattern, "*")
	}
	return g
}

func (g glob) match(s string) bool {
	if g.parts == nil {
		ok, _ := path.Match(g.pattern, s)
		return ok
	}
	// path.Match's "*" does not cross "/"; keep that so both paths agree.
	if strings.Contains(s, "/") {
		ok, _ := path.Match(g.pattern, s)
		return ok
	}
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if len(g.parts) == 1 {
		return s == first
	}
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range g.parts[1 : len(g.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

func (p addrPattern) match(a foldedAddr) bool {
	switch p.kind {
	case addrExact:
		return a.addr == p.s
	case addrDomain:
		return strings.HasSuffix(a.addr, p.s)
	case addrGlob:
		if p.g.match(a.addr) {
			return true
		}
		return !p.g.hasAt && a.name != "" && p.g.match(a.name)
	case addrRegexp:
		var la, ln lazyLower
		return p.re.match(a.raw.Address, &la) || a.raw.Name != "" && p.re.match(a.raw.Name, &ln)
	default:
		return p.w.in(a.name) || p.w.in(a.addr)
	}
}

type addrField int

const (
	fieldFrom addrField = iota
	fieldTo
	fieldCc
)

type addrCond struct {
	field addrField
	pats  []addrPattern
}

func (c addrCond) eval(v *view) bool {
	for _, a := range v.addrs(c.field) {
		for _, p := range c.pats {
			if p.match(a) {
				return true
			}
		}
	}
	return false
}

// compiler collects problems while walking one match tree.
type compiler struct {
	file string
	ps   config.Problems
}

func (c *compiler) add(n *yaml.Node, format string, args ...any) {
	p := config.Problem{File: c.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	c.ps = append(c.ps, p)
}

// resolve follows documents and aliases to the node that carries content.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < maxDepth; i++ {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		default:
			return n
		}
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// match compiles one match mapping.
func (c *compiler) match(n *yaml.Node, depth int) cond {
	orig := n
	n = resolve(n)
	if depth > maxDepth {
		c.add(orig, "match: nested more than %d levels deep", maxDepth)
		return nil
	}
	if n == nil || n.Kind != yaml.MappingNode {
		if n == nil {
			n = orig
		}
		c.add(n, "match: want a mapping of match keys (%s), got %s", strings.Join(matchKeys, ", "), kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		c.add(n, "match: empty; give at least one of %s", strings.Join(matchKeys, ", "))
		return nil
	}
	var conds allOf
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		if seen[key] {
			c.add(k, "match: key %q given twice", key)
			continue
		}
		seen[key] = true
		var got cond
		switch key {
		case "subject":
			if ps := c.textPatterns(key, val); ps != nil {
				got = subjectCond(ps)
			}
		case "body":
			if ps := c.textPatterns(key, val); ps != nil {
				got = bodyCond(ps)
			}
		case "from", "to", "cc":
			if ps := c.addrPatterns(key, val); ps != nil {
				got = addrCond{field: map[string]addrField{"from": fieldFrom, "to": fieldTo, "cc": fieldCc}[key], pats: ps}
			}
		case "header":
			got = c.header(val)
		case "all", "any":
			got = c.list(key, val, depth)
		case "not":
			if sub := c.match(val, depth+1); sub != nil {
				got = notOf{sub}
			}
		default:
			if s := suggest(key, matchKeys); s != "" {
				c.add(k, "match: unknown key %q (did you mean %q?)", key, s)
			} else {
				c.add(k, "match: unknown key %q (known: %s)", key, strings.Join(matchKeys, ", "))
			}
		}
		if got != nil {
			conds = append(conds, got)
		}
	}
	if len(conds) == 1 {
		return conds[0]
	}
	return conds
}

func (c *compiler) list(key string, val *yaml.Node, depth int) cond {
	n := resolve(val)
	if n == nil || n.Kind != yaml.SequenceNode {
		c.add(val, "%s: want a list of matches, got %s", key, kindName(orNode(n, val)))
		return nil
	}
	if len(n.Content) == 0 {
		c.add(n, "%s: empty list", key)
		return nil
	}
	var subs []cond
	for _, item := range n.Content {
		if sub := c.match(item, depth+1); sub != nil {
			subs = append(subs, sub)
		}
	}
	if len(subs) != len(n.Content) {
		return nil
	}
	if key == "all" {
		return allOf(subs)
	}
	return anyOf(subs)
}

func (c *compiler) header(val *yaml.Node) cond {
	n := resolve(val)
	if n == nil || n.Kind != yaml.MappingNode {
		c.add(val, "header: want a mapping of header name to pattern, got %s", kindName(orNode(n, val)))
		return nil
	}
	if len(n.Content) == 0 {
		c.add(n, "header: empty mapping")
		return nil
	}
	var conds allOf
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !validHeaderName(k.Value) {
			c.add(k, "header: %q is not a header field name", k.Value)
			continue
		}
		name := textproto.CanonicalMIMEHeaderKey(k.Value)
		if ps := c.textPatterns("header "+name, v); ps != nil {
			conds = append(conds, headerCond{name: name, pats: ps})
		}
	}
	if len(conds) == 0 {
		return nil
	}
	if len(conds) == 1 {
		return conds[0]
	}
	return conds
}

// validHeaderName accepts RFC 5322 field names: printable ASCII but colon.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == ':' {
			return false
		}
	}
	return true
}

func orNode(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

// scalars returns the pattern nodes of a field: one scalar or a list of them.
func (c *compiler) scalars(key string, val *yaml.Node) []*yaml.Node {
	n := resolve(val)
	switch {
	case n == nil:
		c.add(val, "%s: want a pattern or a list of patterns", key)
	case n.Kind == yaml.ScalarNode && n.Tag != "!!null":
		return []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) == 0 {
			c.add(n, "%s: empty list", key)
			return nil
		}
		var out []*yaml.Node
		bad := false
		for _, item := range n.Content {
			it := resolve(item)
			if it == nil || it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
				c.add(item, "%s: list items must be patterns, got %s", key, kindName(orNode(it, item)))
				bad = true
				continue
			}
			out = append(out, it)
		}
		if bad {
			return nil
		}
		return out
	default:
		c.add(n, "%s: want a pattern or a list of patterns, got %s", key, kindName(n))
	}
	return nil
}

// splitRegexp recognises /expr/ and /expr/flags (flags from "imsU").
func splitRegexp(s string) (expr, flags string, ok bool) {
	if len(s) < 3 || s[0] != '/' {
		return "", "", false
	}
	end := strings.LastIndexByte(s, '/')
	if end <= 1 {
		return "", "", false
	}
	flags = s[end+1:]
	if strings.Trim(flags, "imsU") != "" {
		return "", "", false
	}
	return s[1:end], flags, true
}

func (c *compiler) regexp(key string, n *yaml.Node, expr, flags string) *rx {
	src := expr
	if flags != "" {
		src = "(?" + flags + ")" + expr
	}
	re, err := compileRx(src)
	if err != nil {
		c.add(n, "%s: bad regular expression %s: %v", key, n.Value, err)
		return nil
	}
	return re
}

func (c *compiler) textPatterns(key string, val *yaml.Node) []textPattern {
	nodes := c.scalars(key, val)
	if nodes == nil {
		return nil
	}
	out := make([]textPattern, 0, len(nodes))
	for _, n := range nodes {
		if expr, flags, ok := splitRegexp(n.Value); ok {
			if re := c.regexp(key, n, expr, flags); re != nil {
				out = append(out, textPattern{re: re})
			}
			continue
		}
		w := newWord(n.Value)
		if w.text == "" {
			c.add(n, "%s: empty pattern", key)
			continue
		}
		out = append(out, textPattern{w: w})
	}
	if len(out) != len(nodes) {
		return nil
	}
	return out
}

func (c *compiler) addrPatterns(key string, val *yaml.Node) []addrPattern {
	nodes := c.scalars(key, val)
	if nodes == nil {
		return nil
	}
	out := make([]addrPattern, 0, len(nodes))
	for _, n := range nodes {
		s := strings.TrimSpace(n.Value)
		if expr, flags, ok := splitRegexp(s); ok {
			if re := c.regexp(key, n, expr, flags); re != nil {
				out = append(out, addrPattern{kind: addrRegexp, re: re})
			}
			continue
		}
		switch {
		case s == "":
			c.add(n, "%s: empty pattern", key)
		case strings.ContainsAny(s, "*?["):
			g := strings.ToLower(s)
			if _, err := path.Match(g, ""); err != nil {
				c.add(n, "%s: bad glob %q: %v", key, s, err)
				continue
			}
			out = append(out, addrPattern{kind: addrGlob, g: newGlob(g)})
		case strings.HasPrefix(s, "@"):
			out = append(out, addrPattern{kind: addrDomain, s: strings.ToLower(s)})
		case strings.Contains(s, "@"):
			out = append(out, addrPattern{kind: addrExact, s: strings.ToLower(s)})
		default:
			out = append(out, addrPattern{kind: addrWord, w: newWord(s)})
		}
	}
	if len(out) != len(nodes) {
		return nil
	}
	return out
}

// suggest returns the candidate closest to s when it is a plausible typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, cand := range candidates {
		d := editdist.Levenshtein(ls, cand)
		if d < bestD {
			best, bestD = cand, d
		}
	}
	limit := 2
	if len(best) <= 3 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	// "headers", "subjects", "From_address": the candidate is a prefix.
	cands := append([]string(nil), candidates...)
	sort.Slice(cands, func(i, j int) bool { return len(cands[i]) > len(cands[j]) })
	for _, cand := range cands {
		if len(cand) >= 4 && strings.HasPrefix(ls, cand) {
			return cand
		}
	}
	return ""
}

// view is one message prepared for matching: folded fields computed on
// first use and kept for the remaining rules. It belongs to one Decide call.
type view struct {
	m *Message

	subj, bodyF, bodyR string
	haveSubj, haveBody bool
	haveBodyR          bool
	subjLow, bodyLow   lazyLower
	textLow            lazyLower // of heuristicText, for heuristics
	grams              *grams    // of the folded body, when it is long
	haveGrams          bool

	hdr map[string][]string

	addr     [3][]foldedAddr
	haveAddr [3]bool
}

type foldedAddr struct {
	raw  Address
	addr string // lower-cased addr-spec
	name string // folded display name
}

func newView(m *Message) *view { return &view{m: m} }

func (v *view) subject() string {
	if !v.haveSubj {
		v.subj, v.haveSubj = fold(v.m.Subject), true
	}
	return v.subj
}

func (v *view) bodyRaw() string {
	if !v.haveBodyR {
		v.bodyR, v.haveBodyR = StripQuoted(v.m.Text), true
	}
	return v.bodyR
}

func (v *view) body() string {
	if !v.haveBody {
		v.bodyF, v.haveBody = fold(v.bodyRaw()), true
	}
	return v.bodyF
}

func (v *view) bodyGrams() *grams {
	if !v.haveGrams {
		if b := v.body(); len(b) >= minGramText {
			v.grams = newGrams(b)
		}
		v.haveGrams = true
	}
	return v.grams
}

func (v *view) header(name string) []string {
	if f, ok := v.hdr[name]; ok {
		return f
	}
	if v.hdr == nil {
		v.hdr = map[string][]string{}
	}
	raw := v.m.Header[name]
	f := make([]string, len(raw))
	for i, r := range raw {
		f[i] = fold(r)
	}
	v.hdr[name] = f
	return f
}

func (v *view) addrs(f addrField) []foldedAddr {
	if v.haveAddr[f] {
		return v.addr[f]
	}
	var src []Address
	switch f {
	case fieldFrom:
		if v.m.From != (Address{}) {
			src = []Address{v.m.From}
		}
	case fieldTo:
		src = v.m.To
	case fieldCc:
		src = v.m.Cc
	}
	out := make([]foldedAddr, len(src))
	for i, a := range src {
		out[i] = foldedAddr{raw: a, addr: strings.ToLower(strings.TrimSpace(a.Address)), name: fold(a.Name)}
	}
	v.addr[f], v.haveAddr[f] = out, true
	return out
}
