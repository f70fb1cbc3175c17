// Package lang chooses the language a requester is answered in: the
// Content-Language header first, then the request's own words, and the
// department's language when the message is mixed or the guess unsure. It
// is pure: no I/O, the same answer for the same input.
//
// Detection uses github.com/abadojack/whatlanggo, restricted to the
// languages ackd has templates for; docs/language.md says why it was
// chosen over lingua-go and how accurate it is on short requests.
package lang

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/abadojack/whatlanggo"
	"golang.org/x/text/language"
)

// Builtin returns the languages ackd's embedded templates are written in.
func Builtin() []string { return []string{"en", "de", "fr", "es", "nl"} }

// Default is the language of a department that names none.
const Default = "en"

// MinConfidence is the least whatlanggo confidence a text guess needs; a
// lower one counts as unsure. On testdata/requests.tsv it turns 5 wrong
// guesses out of 100 into 1 wrong and 16 unsure (see docs/language.md);
// 0.3 would leave 7 unsure but reads "Printer jams. Paper jam again." as
// French (0.37).
const MinConfidence = 0.5

// MaxDetectBytes is how much of a text Choose reads to detect its
// language: 150 words or so, which trigrams tell as surely as pages, while
// each byte more is paid by every request (2 KiB were a tenth of ackd's
// CPU per receipt in a backlog, docs/performance.md).
const MaxDetectBytes = 1024

// minLetters is the shortest text worth a guess: a few words say nothing.
const minLetters = 12

// Source says where a Choice came from.
type Source int

// The sources of a Choice, in the order they are tried.
const (
	FromRule     Source = iota // the matched rule's language key
	FromHeader                 // the Content-Language header
	FromText                   // detection on the subject and body
	FromFallback               // the department's language: nothing else was sure
)

// Choice is the language chosen for a request and why.
type Choice struct {
	Tag    string // a base language code, "de"
	Source Source
	// Reason says in words why: `Content-Language "de-DE"`, "text reads as
	// German (confidence 0.92)", "text unsure (French 0.12): department's
	// language".
	Reason string
}

// Normalize returns the base language of a BCP 47 tag, lower-cased ("de"
// for "de-AT"), and false when tag is not one.
func Normalize(tag string) (string, bool) {
	t, err := language.Parse(strings.TrimSpace(tag))
	if err != nil {
		return "", false
	}
	b, conf := t.Base()
	if conf == language.No {
		return "", false
	}
	return b.String(), true
}

// Name is the English name of a language code ("German" for "de"), as
// the detection library knows it, or the code itself.
func Name(tag string) string {
	if l, ok := detectable[tag]; ok {
		return l.String()
	}
	return tag
}

// Choose picks the language for a request whose Content-Language header
// values are header and whose subject and body are text. available are the
// languages templates exist for; fallback (one of them) is the department's
// language, or the matched rule's, which callers pass as ruleLang to fix
// the choice. Every result is one of available, or fallback.
func Choose(ruleLang string, header []string, text string, available []string, fallback string) Choice {
	has := func(tag string) bool { return slices.Contains(available, tag) }
	if ruleLang != "" {
		return Choice{Tag: ruleLang, Source: FromRule, Reason: "the rule sets language " + ruleLang}
	}

	// Content-Language (RFC 3282) may list several tags: the message is
	// written for more than one audience, so it says nothing about which.
	var tags []string
	raw := strings.Join(header, ",")
	for _, f := range strings.Split(raw, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if b, ok := Normalize(f); ok && !slices.Contains(tags, b) {
			tags = append(tags, b)
		}
	}
	switch {
	case len(tags) == 1 && has(tags[0]):
		return Choice{Tag: tags[0], Source: FromHeader, Reason: "Content-Language " + strconv.Quote(strings.TrimSpace(raw))}
	case len(tags) > 1:
		return Choice{Tag: fallback, Source: FromFallback,
			Reason: "Content-Language " + strconv.Quote(strings.TrimSpace(raw)) + " names several languages: department's language"}
	}
	// A header naming a language without templates falls through to the text.

	// The opening of a message is what its writer wrote (a quoted thread,
	// a forwarded document or a signature follows), and a few sentences
	// tell a language as well as pages: detection reads at most
	// MaxDetectBytes, so a long body costs no more than a short one.
	if len(text) > MaxDetectBytes {
		cut := MaxDetectBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	letters := 0
	for _, r := range text {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if letters < minLetters {
		return Choice{Tag: fallback, Source: FromFallback, Reason: "too little text to tell: department's language"}
	}
	opts := whatlanggo.Options{Whitelist: make(map[whatlanggo.Lang]bool)}
	for _, a := range available {
		if l, ok := detectable[a]; ok {
			opts.Whitelist[l] = true
		}
	}
	if len(opts.Whitelist) < 2 {
		return Choice{Tag: fallback, Source: FromFallback, Reason: "one language available: department's language"}
	}
	info := whatlanggo.DetectWithOptions(text, opts)
	got := info.Lang.Iso6391()
	conf := strconv.FormatFloat(info.Confidence, 'f', 2, 64)
	if !has(got) || info.Confidence < MinConfidence {
		what := "unknown"
		if got != "" {
			what = Name(got) + " " + conf
		}
		return Choice{Tag: fallback, Source: FromFallback, Reason: "text unsure (" + what + "): department's language"}
	}
	return Choice{Tag: got, Source: FromText, Reason: "text reads as " + Name(got) + " (confidence " + conf + ")"}
}

// detectable maps ISO 639-1 codes to whatlanggo's languages.
var detectable = func() map[string]whatlanggo.Lang {
	m := make(map[string]whatlanggo.Lang)
	for l := whatlanggo.Lang(0); l < 200; l++ {
		if c := l.Iso6391(); c != "" {
			m[c] = l
		}
	}
	return m
}()
