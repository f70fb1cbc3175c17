package lifecycle

import (
	"regexp"
	"slices"
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
	words map[string]wordSet
}

// maxSubjects bounds what Subjects remembers; past it, it starts over.
const maxSubjects = 4096

// wordSet is a subject's words (subjectWords), sorted, and how many of
// them are numbers: two sorted lists compare by one merge, without
// hashing or counting numbers again for every pair.
type wordSet struct {
	words []string
	nums  int
}

func newWordSet(subject string) wordSet {
	m := subjectWords(subject)
	ws := wordSet{words: make([]string, 0, len(m))}
	for w := range m {
		ws.words = append(ws.words, w)
		if isNumber(w) {
			ws.nums++
		}
	}
	slices.Sort(ws.words)
	return ws
}

// wordsOf returns the word set of s, remembered. The sets are shared:
// only read them.
func (c *Subjects) wordsOf(s string) wordSet {
	if c == nil {
		return newWordSet(s)
	}
	c.mu.Lock()
	w, ok := c.words[s]
	c.mu.Unlock()
	if ok {
		return w
	}
	w = newWordSet(s)
	c.mu.Lock()
	if c.words == nil || len(c.words) >= maxSubjects {
		c.words = make(map[string]wordSet)
	}
	c.words[s] = w
	c.mu.Unlock()
	return w
}

// AlikeTo is the package's AlikeTo with the words of subjects remembered.
func (c *Subjects) AlikeTo(aRule, aSubject string) func(bRule, bSubject string) bool {
	var a wordSet
	split := false
	return func(bRule, bSubject string) bool {
		if aRule != "" && aRule == bRule {
			return true
		}
		if !split {
			a, split = c.wordsOf(aSubject), true
		}
		return alikeWords(a, c.wordsOf(bSubject))
	}
}

// alikeWords is Alike's comparison of subjects.
func alikeWords(a, b wordSet) bool {
	if len(a.words) == 0 || len(b.words) == 0 {
		return false
	}
	common, commonNums := 0, 0
	for i, j := 0, 0; i < len(a.words) && j < len(b.words); {
		switch c := strings.Compare(a.words[i], b.words[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			common++
			if isNumber(a.words[i]) {
				commonNums++
			}
			i, j = i+1, j+1
		}
	}
	if a.nums > 0 && b.nums > 0 && commonNums == 0 {
		return false
	}
	longer := max(len(a.words), len(b.words))
	if longer == 1 {
		return common == 1
	}
	return common >= 2 && 2*common >= longer
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
