package rules

import (
	"time"

	"github.com/ackd/ackd/config"
)

// DefaultCategory catches every message no rule matched.
const DefaultCategory = config.DefaultCategory

// Decide judges one message that arrived in department d's mailbox at
// `at` (IMAP INTERNALDATE): loop protection first, then content
// heuristics, then d's rules in order, as compiled in s (the first match
// wins), else the default category. A rule s does not hold (a Department
// built after Compile) matches nothing. It is pure: no I/O, no clock, no
// state.
func (s *Set) Decide(d *config.Department, m *Message, at time.Time) Decision {
	dec := Decision{Department: d.Name, ReceivedAt: at}
	if m == nil {
		dec.Refusal, dec.Reason = RefuseNoMessage, "no message"
		return dec
	}
	if r, ok := refuse(d, m); ok {
		dec.Refusal, dec.Reason = r.code, r.reason
		return dec
	}
	v := newView(m)
	if r, ok := heuristicView(v); ok {
		dec.Refusal, dec.Reason = r.code, r.reason
		return dec
	}

	catName := DefaultCategory
	dec.Reason = "no rule matched: default category"
	for _, r := range d.Rules {
		match := s.matcher(r)
		if match == nil {
			continue
		}
		var hit bool
		if c, ok := match.(*compiled); ok {
			hit = c.root.eval(v)
		} else {
			hit = match.Match(m)
		}
		if hit {
			dec.Rule, catName = r.Name, r.Category
			dec.Reason = `matched rule "` + r.Name + `"`
			break
		}
	}
	cat := d.Categories[catName]
	if cat == nil && catName != DefaultCategory {
		// Load rejects rules naming unknown categories; a hand-built
		// Department may not, and a request must still get its receipt.
		dec.Reason += ` (category "` + catName + `" unknown, default used)`
		catName = DefaultCategory
		cat = d.Categories[catName]
	}
	dec.Reply = true
	dec.Category = catName
	if cat != nil {
		dec.Commitment = cat.Commitment
	}
	if d.Calendar != nil {
		dec.DueAt = d.Calendar.Due(at, dec.Commitment)
	}
	return dec
}

// matcher returns r's compiled clause, or nil.
func (s *Set) matcher(r *config.Rule) Matcher {
	if s == nil || r == nil {
		return nil
	}
	return s.match[r]
}
