package lifecycle

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ackd/ackd/config"
)

// History kinds of asking how we did.
const (
	EntryRatingAsked = "rating-asked"
	EntryRated       = "rated"
)

// closeLoop sends the closing mail of a request resolved at `at`, when the
// category sends one or the department asks how we did; it asks when the
// department opted in, the request was not asked before and the requester
// was not asked within the department's period.
func closeLoop(d *config.Department, t *Transition, r Request, at time.Time, cat *config.Category) {
	ask := d.Satisfaction != nil && r.RatingAskedAt.IsZero() &&
		(r.LastAsked.IsZero() || !at.Before(r.LastAsked.Add(d.Satisfaction.Every)))
	if !cat.Closing && !ask {
		return
	}
	t.Mail = append(t.Mail, Intent{Kind: Closing, To: []string{r.Requester}, Request: r, At: at, AskRating: ask})
	if ask {
		t.Next.RatingAskedAt = at
		t.entry(EntryRatingAsked, at, "", "", 0)
	}
}

// rate handles the requester's mail on a resolved request that was asked
// how we did: an answer of one word or number is recorded once and
// thanked, a low one goes to the leads with the thread; a second answer
// is kept as information. Anything else is not an answer and rate returns
// false (the mail then reopens the request as any reply does).
func rate(d *config.Department, t *Transition, r Request, m *Message, at time.Time) bool {
	if r.RatingAskedAt.IsZero() {
		return false
	}
	n, ok := ParseRating(m.Text)
	if !ok {
		return false
	}
	from := m.From.Address
	if r.Rating != 0 {
		t.entry(EntryActivity, at, from, fmt.Sprintf("answered how we did again (%d of 5): the first answer stands", n), 0)
		t.What = "rated-again"
		return true
	}
	t.Next.Rating, t.Next.RatedAt = n, at
	t.entry(EntryRated, at, from, fmt.Sprintf("%d of 5", n), 0)
	t.What = "rated"
	t.Mail = append(t.Mail, Intent{Kind: RatingThanks, To: []string{r.Requester}, Request: t.Next, Rating: n, At: at})
	if d.Satisfaction != nil && n <= d.Satisfaction.Low {
		leads := Targets(d, r, "leads", validAddress)
		level := r.EscalationLevel + 1
		t.Mail = append(t.Mail, Intent{Kind: Escalation, To: leads, Request: t.Next, Level: level, Rating: n,
			Reason: fmt.Sprintf("the requester rated the resolved request %d of 5", n), At: at})
		t.entry(EntryEscalated, at, "", fmt.Sprintf("level %d to leads: rated %d of 5", level, n), level)
		t.Next.EscalationLevel = level
	}
	return true
}

// ratingWords are the one-word answers understood besides the numbers
// 1–5, in the languages ackd writes, lower case.
var ratingWords = map[string]int{
	// 5
	"excellent": 5, "great": 5, "perfect": 5, "super": 5, "top": 5, "ausgezeichnet": 5, "hervorragend": 5,
	"parfait": 5, "excelente": 5, "perfecto": 5, "genial": 5, "uitstekend": 5, "perfect!": 5,
	// 4
	"good": 4, "gut": 4, "bien": 4, "bon": 4, "bueno": 4, "buena": 4, "goed": 4, "prima": 4,
	// 3
	"ok": 3, "okay": 3, "fine": 3, "average": 3, "mittel": 3, "passable": 3, "moyen": 3, "correct": 3,
	"regular": 3, "normal": 3, "redelijk": 3, "oké": 3,
	// 2
	"poor": 2, "mäßig": 2, "schwach": 2, "médiocre": 2, "decevant": 2, "décevant": 2, "deficiente": 2, "matig": 2,
	// 1
	"bad": 1, "terrible": 1, "awful": 1, "schlecht": 1, "mauvais": 1, "nul": 1, "malo": 1, "mal": 1, "slecht": 1,
}

// ParseRating reads an answer to "how did we do?": the first line the
// requester wrote (above any quote) must be a number from 1 to 5 ("4",
// "4/5", "4 of 5") or one of the rating words, and nothing else.
func ParseRating(text string) (int, bool) {
	var first string
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, ">") {
			return 0, false // a quote before any answer: nothing was written
		}
		first = l
		break
	}
	if first == "" {
		return 0, false
	}
	s := strings.ToLower(strings.TrimRightFunc(first, func(r rune) bool { return unicode.IsPunct(r) && r != '/' }))
	for _, sep := range []string{"/5", " of 5", " von 5", " sur 5", " de 5", " van 5"} {
		s = strings.TrimSuffix(s, sep)
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 1 && n <= 5 {
			return n, true
		}
		return 0, false
	}
	if n, ok := ratingWords[s]; ok {
		return n, true
	}
	return 0, false
}
