package rules

import (
	"slices"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/lang"
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
	if r := s.firstMatch(d, m, v); r != nil {
		dec.Rule, catName = r.Name, r.Category
		dec.Reason = `matched rule "` + r.Name + `"`
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
	r := ruleNamed(d, dec.Rule)
	var ruleLang string
	if r != nil {
		ruleLang = r.Language
	}
	c := ChooseLanguage(d, ruleLang, m)
	dec.Language, dec.LanguageReason = c.Tag, c.Reason
	var items []config.AskItem
	var links []config.Link
	if cat != nil {
		items, links = append(items, cat.AskFor...), append(links, cat.Links...)
	}
	if r != nil {
		items, links = append(items, r.AskFor...), append(links, r.Links...)
	}
	dec.AskFor, dec.Present = s.needs(d, items, m, dec.Language)
	for _, k := range links {
		dec.Links = append(dec.Links, DecisionLink{Title: k.Title.In(dec.Language, d.Language), URL: k.URL})
	}
	return dec
}

// firstMatch is the first of d's rules that matches m (seen as v), nil
// when none does.
func (s *Set) firstMatch(d *config.Department, m *Message, v *view) *config.Rule {
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
			return r
		}
	}
	return nil
}

// Classify is the rule of d that m matches and its category, without the
// refusals and heuristics Decide applies first: for a request that is
// already one (moved here by #forward) and needs only a category in this
// department. A category d does not know is the default.
func (s *Set) Classify(d *config.Department, m *Message) (rule, category string) {
	if m == nil {
		return "", DefaultCategory
	}
	r := s.firstMatch(d, m, newView(m))
	if r == nil {
		return "", DefaultCategory
	}
	if d.Categories[r.Category] == nil {
		return r.Name, DefaultCategory
	}
	return r.Name, r.Category
}

// ChooseLanguage picks the language to answer m in (see package lang):
// ruleLang when set, else Content-Language, else the subject and text,
// else the department's language. Detection is among the built-in
// languages and those the config names (a language an override directory
// adds is used where a department or rule names it).
func ChooseLanguage(d *config.Department, ruleLang string, m *Message) lang.Choice {
	fallback := d.Language
	if fallback == "" {
		fallback = lang.Default
	}
	available := lang.Builtin()
	for _, l := range append([]string{fallback}, ruleLanguages(d)...) {
		if !slices.Contains(available, l) {
			available = append(available, l)
		}
	}
	return lang.Choose(ruleLang, m.Header["Content-Language"], m.Subject+"\n"+m.Text, available, fallback)
}

func ruleLanguages(d *config.Department) []string {
	var out []string
	for _, r := range d.Rules {
		if r != nil && r.Language != "" {
			out = append(out, r.Language)
		}
	}
	return out
}

func ruleNamed(d *config.Department, name string) *config.Rule {
	if name == "" {
		return nil
	}
	for _, r := range d.Rules {
		if r != nil && r.Name == name {
			return r
		}
	}
	return nil
}

// matcher returns r's compiled clause, or nil.
func (s *Set) matcher(r *config.Rule) Matcher {
	if s == nil || r == nil {
		return nil
	}
	return s.match[r]
}
