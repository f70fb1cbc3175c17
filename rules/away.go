package rules

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ackd/ackd/calendar"
)

// MaxAwayAhead bounds how far ahead a return date may lie: a date further
// off in an out-of-office text is more likely a typo or an event.
const MaxAwayAhead = 120 * 24 * time.Hour

var monthNames = map[string]time.Month{
	"jan": time.January, "january": time.January, "januar": time.January, "janvier": time.January,
	"feb": time.February, "february": time.February, "februar": time.February, "février": time.February,
	"mar": time.March, "march": time.March, "märz": time.March, "mars": time.March,
	"apr": time.April, "april": time.April, "avril": time.April,
	"may": time.May, "mai": time.May,
	"jun": time.June, "june": time.June, "juni": time.June, "juin": time.June,
	"jul": time.July, "july": time.July, "juli": time.July, "juillet": time.July,
	"aug": time.August, "august": time.August, "août": time.August,
	"sep": time.September, "sept": time.September, "september": time.September, "septembre": time.September,
	"oct": time.October, "october": time.October, "okt": time.October, "oktober": time.October, "octobre": time.October,
	"nov": time.November, "november": time.November, "novembre": time.November,
	"dec": time.December, "december": time.December, "dez": time.December, "dezember": time.December, "décembre": time.December,
}

const monthAlt = `jan(?:uary|uar)?|janvier|feb(?:ruary|ruar)?|février|mar(?:ch)?|märz|mars|apr(?:il)?|avril|may|mai|` +
	`jun[ei]?|juin|jul[iy]?|juillet|aug(?:ust)?|août|sept?(?:ember|embre)?|oct(?:ober|obre)?|okt(?:ober)?|` +
	`nov(?:ember|embre)?|dec(?:ember)?|dez(?:ember)?|décembre`

// awayDate finds dates in an out-of-office text: ISO (2026-12-07),
// German (07.12.2026, 7.12.), "7 December [2026]", "December 7[, 2026]"
// and weekday names.
var awayDate = regexp.MustCompile(`(?i)\b(?:` +
	`(\d{4})-(\d{1,2})-(\d{1,2})|` +
	`(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})?|` +
	`(\d{1,2})(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(` + monthAlt + `)\.?(?:\s+(\d{4}))?|` +
	`(` + monthAlt + `)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?|` +
	`(monday|tuesday|wednesday|thursday|friday|saturday|sunday|montag|dienstag|mittwoch|donnerstag|freitag|lundi|mardi|mercredi|jeudi|vendredi)` +
	`)`)

// awayKeyword: words that put the return date right after them.
var awayKeyword = regexp.MustCompile(`(?i)(?:\bback\b|\breturn(?:ing)?\b|\buntil\b|\btill\b|\bbis\b|\bzurück\b|` +
	`\bwieder\b|\bretour\b|\bjusqu'au\b|\bthrough\b)[^.\n]{0,30}$`)

var germanWeekdays = map[string]string{"montag": "monday", "dienstag": "tuesday", "mittwoch": "wednesday",
	"donnerstag": "thursday", "freitag": "friday", "lundi": "monday", "mardi": "tuesday", "mercredi": "wednesday",
	"jeudi": "thursday", "vendredi": "friday"}

// ReturnDate reads when the writer of an out-of-office text is back:
// midnight, in loc, at the start of the date it names after "back",
// "return", "until", "bis", "zurück" …, or failing that of the latest
// date it names. Only dates after today and within MaxAwayAhead count;
// ok is false when none does (callers then assume a day).
func ReturnDate(text string, loc *time.Location, now time.Time) (time.Time, bool) {
	if len(text) > 8<<10 {
		text = text[:8<<10]
	}
	today := calendar.DateOf(now, loc)
	var keyed, latest time.Time
	for _, m := range awayDate.FindAllStringSubmatchIndex(text, 50) {
		d, ok := awayMatch(text, m, today)
		if !ok {
			continue
		}
		at := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
		if !at.After(now) || at.Sub(now) > MaxAwayAhead {
			continue
		}
		if keyed.IsZero() && awayKeyword.MatchString(text[max(0, m[0]-40):m[0]]) {
			keyed = at
		}
		if at.After(latest) {
			latest = at
		}
	}
	switch {
	case !keyed.IsZero():
		return keyed, true
	case !latest.IsZero():
		return latest, true
	}
	return time.Time{}, false
}

// awayMatch turns one awayDate match into a date; a date without a year
// is the next such date from today on.
func awayMatch(text string, m []int, today calendar.Date) (calendar.Date, bool) {
	g := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return text[m[2*i]:m[2*i+1]]
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	var y, d int
	var mo time.Month
	switch {
	case g(1) != "":
		y, mo, d = num(g(1)), time.Month(num(g(2))), num(g(3))
	case g(4) != "":
		d, mo, y = num(g(4)), time.Month(num(g(5))), num(g(6))
		if y > 0 && y < 100 {
			y += 2000
		}
	case g(7) != "":
		d, mo, y = num(g(7)), monthNames[strings.ToLower(g(8))], num(g(9))
	case g(10) != "":
		mo, d, y = monthNames[strings.ToLower(g(10))], num(g(11)), num(g(12))
	case g(13) != "":
		name := strings.ToLower(g(13))
		if en, ok := germanWeekdays[name]; ok {
			name = en
		}
		wd, err := calendar.ParseWeekday(name)
		if err != nil {
			return calendar.Date{}, false
		}
		next := today.AddDays(1)
		for next.Weekday() != wd {
			next = next.AddDays(1)
		}
		return next, true
	}
	if mo < time.January || mo > time.December || d < 1 || d > 31 {
		return calendar.Date{}, false
	}
	if y == 0 {
		y = today.Year
		if time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Before(time.Date(today.Year, today.Month, today.Day, 0, 0, 0, 0, time.UTC)) {
			y++
		}
	}
	date := calendar.Date{Year: y, Month: mo, Day: d}
	if time.Date(y, mo, d, 12, 0, 0, 0, time.UTC).Day() != d {
		return calendar.Date{}, false // 31 February
	}
	return date, true
}
