package config

import (
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Text is a text an admin wrote for requesters, by language code; the
// key "" holds a text written without a language.
type Text map[string]string

// In picks the text for language l: its own, else the one written without
// a language, else the department's (dept), else the first by code.
func (t Text) In(l, dept string) string {
	for _, k := range []string{l, "", dept} {
		if s, ok := t[k]; ok {
			return s
		}
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return ""
	}
	return t[keys[0]]
}

// AskItem is one thing a category or rule asks the requester for in the
// receipt (config key ask_for): "the name of the shared drive".
type AskItem struct {
	Text Text
	// Present is the item's present: clause as written (a match: clause,
	// compiled by package rules), nil when it has none. When it matches,
	// the request already holds what is asked for and the line is left
	// out of the receipt.
	Present *yaml.Node
}

// Link is a form or how-to the receipt points to (config key links).
type Link struct {
	Title Text
	URL   string // http or https
}

// askFor reads an ask_for list: each item a string, a mapping of language
// codes to strings, or {ask: TEXT, present: MATCH}.
func (l *loader) askFor(n *yaml.Node, what string) []AskItem {
	items, ok := l.list(n, what+": ask_for")
	if !ok {
		return nil
	}
	var out []AskItem
	for _, it := range items {
		it = followAlias(it)
		var item AskItem
		if it.Kind == yaml.MappingNode && it.Content != nil && hasKey(it, "ask") {
			m := l.mapping(it, what+": ask_for item", "ask", "present")
			if m == nil {
				continue
			}
			l.require(m, what+": ask_for item", "ask")
			if v := m.get("ask"); v != nil {
				item.Text = l.localised(v, "ask")
			}
			if v := m.get("present"); v != nil {
				item.Present = followAlias(v)
				l.checkMatch(item.Present)
			}
		} else {
			item.Text = l.localised(it, "ask_for")
		}
		if item.Text != nil {
			out = append(out, item)
		}
	}
	return out
}

// links reads a links list of {title: TEXT, url: URL}.
func (l *loader) links(n *yaml.Node, what string) []Link {
	items, ok := l.list(n, what+": links")
	if !ok {
		return nil
	}
	var out []Link
	for _, it := range items {
		m := l.mapping(it, what+": link", "title", "url")
		if m == nil {
			continue
		}
		l.require(m, what+": link", "title", "url")
		var k Link
		if v := m.get("title"); v != nil {
			k.Title = l.localised(v, "title")
		}
		if v := m.get("url"); v != nil {
			if s, ok := l.str(v, "url"); ok {
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
					l.at(v, "url: %q is not an http or https address", s)
				} else {
					k.URL = s
				}
			}
		}
		if k.Title != nil && k.URL != "" {
			out = append(out, k)
		}
	}
	return out
}

// localised reads a text written as a string or as a mapping of language
// codes to strings ({en: "…", de: "…"}).
func (l *loader) localised(n *yaml.Node, key string) Text {
	n = followAlias(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		out := make(Text)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := followAlias(n.Content[i]), n.Content[i+1]
			code, ok := l.language(k)
			if !ok {
				continue
			}
			if s, ok := l.str(v, key); ok && strings.TrimSpace(s) != "" {
				out[code] = strings.TrimSpace(s)
			} else if ok {
				l.at(v, "%s: empty", key)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	s, ok := l.str(n, key)
	if !ok {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		l.at(n, "%s: empty", key)
		return nil
	}
	return Text{"": strings.TrimSpace(s)}
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}
