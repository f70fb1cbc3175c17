package lifecycle

import (
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
)

// This file is burst detection: requests alike that arrive close together
// are likely one incident (the mail server is down, the printer on floor
// 3 is jammed), which the leads should hear of once.

// IncidentAlert is the one mail the leads get about a burst.
const IncidentAlert MailKind = "incident-alert"

// EntryIncidentAlert: the leads were told of a burst this request
// completed.
const EntryIncidentAlert = "incident-alert"

// Alike says whether two requests look like the same incident: the same
// rule matched both (the default category's "no rule" does not count), or
// their subjects share most words: at least half of the words of the
// longer one, with at least two in common (one-word subjects must be
// equal). Numbers tell things apart: subjects that both hold numbers and
// share none ("printer on floor 2", "printer on floor 3"; "request 7",
// "request 8") are not alike.
func Alike(aRule, aSubject, bRule, bSubject string) bool {
	return AlikeTo(aRule, aSubject)(bRule, bSubject)
}

// AlikeTo is Alike with its first request fixed: it splits aSubject into
// words once, for comparing one new request with many recent ones.
func AlikeTo(aRule, aSubject string) func(bRule, bSubject string) bool {
	return (*Subjects)(nil).AlikeTo(aRule, aSubject)
}

// Subjects remembers the words of the subjects it has split: a burst
// check compares each new request with up to 200 recent ones, nearly the
// same ones as the request before, and splitting their subjects again
// each time was half of what the check cost (docs/performance.md). Safe
// for concurrent use; a nil *Subjects remembers nothing.
type Subjects struct {
	mu    sync.Mutex
	words map[string]map[string]bool
}

// maxSubjects bounds what Subjects remembers; past it, it starts over.
const maxSubjects = 4096

// words returns subjectWords(s), remembered. The sets are shared: only
// read them.
func (c *Subjects) wordsOf(s string) map[string]bool {
	if c == nil {
		return subjectWords(s)
	}
	c.mu.Lock()
	w, ok := c.words[s]
	c.mu.Unlock()
	if ok {
		return w
	}
	w = subjectWords(s)
	c.mu.Lock()
	if c.words == nil || len(c.words) >= maxSubjects {
		c.words = make(map[string]map[string]bool)
	}
	c.words[s] = w
	c.mu.Unlock()
	return w
}

// AlikeTo is the package's AlikeTo with the words of subjects remembered.
func (c *Subjects) AlikeTo(aRule, aSubject string) func(bRule, bSubject string) bool {
	var a map[string]bool
	aNums := -1
	return func(bRule, bSubject string) bool {
		if aRule != "" && aRule == bRule {
			return true
		}
		if aNums < 0 {
			a, aNums = c.wordsOf(aSubject), 0
			for w := range a {
				if isNumber(w) {
					aNums++
				}
			}
		}
		b := c.wordsOf(bSubject)
		if len(a) == 0 || len(b) == 0 {
			return false
		}
		common, bNums, commonNums := 0, 0, 0
		for w := range a {
			if b[w] {
				common++
				if isNumber(w) {
					commonNums++
				}
			}
		}
		for w := range b {
			if isNumber(w) {
				bNums++
			}
		}
		if aNums > 0 && bNums > 0 && commonNums == 0 {
			return false
		}
		longer := max(len(a), len(b))
		if longer == 1 {
			return common == 1
		}
		return common >= 2 && 2*common >= longer
	}
}

var refTagRE = regexp.MustCompile(`\[[A-Za-z]+-[0-9]+\]`)

// stopWords are left out of subject comparisons.
var stopWords = map[string]bool{"the": true, "a": true, "an": true, "is": true, "are": true, "to": true, "of": true,
	"in": true, "on": true, "for": true, "and": true, "or": true, "my": true, "our": true, "not": true, "with": true,
	"it": true, "i": true, "we": true, "can": true, "cannot": true, "t": true, "s": true, "again": true,
	"der": true, "die": true, "das": true, "ist": true, "nicht": true, "und": true, "mein": true, "meine": true}

// subjectWords are a subject's words, lower case, without reply prefixes,
// reference tags and stop words.
func subjectWords(s string) map[string]bool {
	s = mailtext.StripReplyPrefixes(s)
	if strings.IndexByte(s, '[') >= 0 {
		s = refTagRE.ReplaceAllString(s, " ")
	}
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !stopWords[w] {
			out[w] = true
		}
	}
	return out
}

// IsBurst says whether n requests alike (the new one included) are a
// possible incident under d's incident settings.
func IsBurst(d *config.Department, n int) bool {
	return d.Incident.Count > 1 && n >= d.Incident.Count
}

func isNumber(w string) bool { return strings.Trim(w, "0123456789") == "" }
