package rules

import (
	"slices"
	"time"

	"github.com/ackd/ackd/lang"
)

// DefaultCategory catches every message no rule matched.
const DefaultCategory = "default"

// Decide judges one message that arrived in the department's mailbox at
// `at` (IMAP INTERNALDATE): loop protection first, then content
// heuristics, then the rules in order (the first match wins), else the
// default category. It is pure: no I/O, no clock, no state.
func (d *Department) Decide(m *Message, at time.Time) Decision {
	dec := Decision{Department: d.Name, ReceivedAt: at}
	if m == nil {
		dec.Refusal, dec.Reason = RefuseNoMessage, "no message"
		return dec
	}
	if r, ok := d.refuse(m); ok {
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
		if r == nil || r.Match == nil {
			continue
		}
		var hit bool
		if c, ok := r.Match.(*compiled); ok {
			hit = c.root.eval(v)
		} else {
			hit = r.Match.Match(m)
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
	r := ruleNamed(d, dec.Rule)
	var ruleLang string
	if r != nil {
		ruleLang = r.Language
	}
	c := d.ChooseLanguage(ruleLang, m)
	dec.Language, dec.LanguageReason = c.Tag, c.Reason
	var items []AskItem
	var links []Link
	if cat != nil {
		items, links = append(items, cat.AskFor...), append(links, cat.Links...)
	}
	if r != nil {
		items, links = append(items, r.AskFor...), append(links, r.Links...)
	}
	dec.AskFor, dec.Present = d.needs(items, m, dec.Language)
	for _, k := range links {
		dec.Links = append(dec.Links, DecisionLink{Title: localText(k.Title, dec.Language, d.Language), URL: k.URL})
	}
	return dec
}

// ChooseLanguage picks the language to answer m in (see package lang):
// ruleLang when set, else Content-Language, else the subject and text,
// else the department's language. Detection is among the built-in
// languages and those the config names (a language an override directory
// adds is used where a department or rule names it).
func (d *Department) ChooseLanguage(ruleLang string, m *Message) lang.Choice {
	fallback := d.Language
	if fallback == "" {
		fallback = lang.Default
	}
	available := lang.Builtin()
	for _, l := range append([]string{fallback}, d.ruleLanguages()...) {
		if !slices.Contains(available, l) {
			available = append(available, l)
		}
	}
	return lang.Choose(ruleLang, m.Header["Content-Language"], m.Subject+"\n"+m.Text, available, fallback)
}

func (d *Department) ruleLanguages() []string {
	var out []string
	for _, r := range d.Rules {
		if r != nil && r.Language != "" {
			out = append(out, r.Language)
		}
	}
	return out
}

func ruleNamed(d *Department, name string) *Rule {
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
