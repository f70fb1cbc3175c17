package rules

import (
	"strings"
	"time"

	"github.com/ackd/ackd/config"
)

// Hit is one pattern of a rule's match that a message satisfied.
type Hit struct {
	// Key is where it matched: "subject", "body", "from", "to", "cc",
	// "header X-Foo", or "not" for a not: whose patterns all missed.
	Key string
	// Pattern is the pattern as it matched: the (case-folded) word or
	// phrase, /RE/ with the text it found, or the address pattern.
	Pattern string
}

func (h Hit) String() string { return h.Key + ": " + h.Pattern }

// Explain is Decide that also returns the patterns of the matching rule
// that the message satisfied (none when no rule matched or no receipt is
// sent). It is pure like Decide.
func (s *Set) Explain(d *config.Department, m *Message, at time.Time) (Decision, []Hit) {
	dec := s.Decide(d, m, at)
	if !dec.Reply || dec.Rule == "" {
		return dec, nil
	}
	for _, r := range d.Rules {
		if r == nil || r.Name != dec.Rule {
			continue
		}
		if c, ok := s.matcher(r).(*compiled); ok {
			return dec, hitsOf(c.root, newView(m))
		}
		break
	}
	return dec, nil
}

// hitsOf lists the leaves of c that v satisfies, in the order written.
func hitsOf(c cond, v *view) []Hit {
	var out []Hit
	switch c := c.(type) {
	case allOf:
		for _, x := range c {
			out = append(out, hitsOf(x, v)...)
		}
	case anyOf:
		for _, x := range c {
			if x.eval(v) {
				out = append(out, hitsOf(x, v)...)
			}
		}
	case notOf:
		if !c.c.eval(v) {
			out = append(out, Hit{Key: "not", Pattern: "none of its patterns matched"})
		}
	case subjectCond:
		for _, p := range c {
			if p.re != nil {
				if p.re.match(v.m.Subject, &v.subjLow) {
					out = append(out, Hit{"subject", rxHit(p.re, v.m.Subject)})
				}
			} else if p.w.in(v.subject()) {
				out = append(out, Hit{"subject", `"` + p.w.text + `"`})
			}
		}
	case bodyCond:
		for _, p := range c {
			if p.re != nil {
				if p.re.match(v.bodyRaw(), &v.bodyLow) {
					out = append(out, Hit{"body", rxHit(p.re, v.bodyRaw())})
				}
			} else if p.w.inGrams(v.body(), v.bodyGrams()) {
				out = append(out, Hit{"body", `"` + p.w.text + `"`})
			}
		}
	case headerCond:
		raw := v.m.Header[c.name]
		folded := v.header(c.name)
		for _, p := range c.pats {
			for i, r := range raw {
				var low lazyLower
				if p.re != nil && p.re.match(r, &low) {
					out = append(out, Hit{"header " + c.name, rxHit(p.re, r)})
					break
				}
				if p.re == nil && p.w.in(folded[i]) {
					out = append(out, Hit{"header " + c.name, `"` + p.w.text + `"`})
					break
				}
			}
		}
	case addrCond:
		key := [...]string{fieldFrom: "from", fieldTo: "to", fieldCc: "cc"}[c.field]
		for _, p := range c.pats {
			for _, a := range v.addrs(c.field) {
				if p.match(a) {
					out = append(out, Hit{key, p.String() + " (" + a.raw.Address + ")"})
					break
				}
			}
		}
	default:
		if c != nil && c.eval(v) {
			out = append(out, Hit{Key: "match", Pattern: "matched"})
		}
	}
	return out
}

// rxHit renders a regular expression and the text it found.
func rxHit(r *rx, s string) string {
	src := "/" + r.re.String() + "/"
	if f := r.re.FindString(s); f != "" {
		return src + ` found "` + strings.TrimSpace(f) + `"`
	}
	return src
}

// String renders the address pattern as written (lower-cased).
func (p addrPattern) String() string {
	switch p.kind {
	case addrGlob:
		return p.g.pattern
	case addrRegexp:
		return "/" + p.re.re.String() + "/"
	case addrWord:
		return `"` + p.w.text + `"`
	default:
		return p.s
	}
}
