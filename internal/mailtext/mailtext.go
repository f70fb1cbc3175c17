// Package mailtext holds the small text rules that several packages must
// apply alike: shortening text for display, and the reply and forward
// markers mail clients put in front of a subject.
package mailtext

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Clip shortens s to at most n runes, marking the cut with an ellipsis;
// s is returned whole when it fits or n <= 0.
func Clip(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:n-1]), unicode.IsSpace) + "…"
}

// replyPrefix matches one reply or forward marker as mail clients in
// various languages write them, with an optional counter ("RE[2]:",
// "Re(3):") and an ASCII or full-width colon: English (Re, Fw, Fwd),
// German (AW, WG, Antwort), Nordic (SV, VS, VB), Dutch (Antw, Doorst),
// Polish (Odp), Portuguese (RES, ENC), French (TR), Spanish (RV),
// Italian (R, I). Only markers followed by a colon count, so a subject
// like "Reset my password" is not one.
var replyPrefix = regexp.MustCompile(`(?i)^\s*(?:re|aw|sv|vs|vb|antw|antwort|doorst|odp|res|fwd?|wg|tr|rv|enc|r|i)\s*(?:\[[0-9]+\]|\([0-9]+\))?\s*[:：]`)

// HasReplyPrefix says whether subject starts with a reply or forward
// marker: a person answered or passed the mail on.
func HasReplyPrefix(subject string) bool { return replyPrefix.MatchString(subject) }

// StripReplyPrefixes removes every leading reply or forward marker and
// the surrounding space.
func StripReplyPrefixes(subject string) string {
	for {
		loc := replyPrefix.FindStringIndex(subject)
		if loc == nil {
			return strings.TrimSpace(subject)
		}
		subject = subject[loc[1]:]
	}
}

// Span writes a (business) duration for people, rounded to the minute:
// "45m", "3h", "2h 10m". A negative duration is written as its size.
func Span(d time.Duration) string {
	d = d.Abs().Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	default:
		return fmt.Sprintf("%dh %dm", h, m)
	}
}
