package rules

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/internal/addrspec"
	"github.com/ackd/ackd/internal/mailtext"
)

// CommandKind names what a staff command asks ackd to do with a request.
type CommandKind string

// The commands staff may write on lines of their own in a reply.
const (
	// CommandDone marks the request resolved ("#done", "#resolved", "#closed").
	CommandDone CommandKind = "done"
	// CommandETA sets a new expected date ("#eta friday", "#eta 4h").
	CommandETA CommandKind = "eta"
	// CommandWaiting says the request waits on someone else ("#waiting", "#wait").
	CommandWaiting CommandKind = "waiting"
	// CommandAssign hands the request to a colleague ("#assign bob@example.org").
	CommandAssign CommandKind = "assign"
	// CommandReopen opens a closed request again ("#reopen").
	CommandReopen CommandKind = "reopen"
	// CommandTake makes the sender the request's owner ("#take", "#mine").
	CommandTake CommandKind = "take"
	// CommandCategory moves the request to another category
	// ("#category hardware").
	CommandCategory CommandKind = "category"
	// CommandAway marks the sender away: for a day, or until a date
	// ("#away", "#away until friday", "#away 2026-12-07").
	CommandAway CommandKind = "away"
	// CommandBack ends the sender's #away early ("#back").
	CommandBack CommandKind = "back"
	// CommandSame links the request under another one about the same
	// thing ("#same REQ-12"): answers on that one reach this requester.
	CommandSame CommandKind = "same"
	// CommandIncident sets what receipts of a burst of requests like this
	// one say ("#incident The mail server is down, we are on it").
	CommandIncident CommandKind = "incident"
	// CommandForward moves the request to another department ackd serves
	// ("#forward Payroll", "#forward payroll@example.org").
	CommandForward CommandKind = "forward"
)

// Command is one recognised command line of a staff reply.
type Command struct {
	Kind CommandKind
	// Line is the 1-based line of the command in the text given to
	// ParseCommands (CRLF, CR and LF each end a line).
	Line int
	// Raw is the line as written, without its line ending.
	Raw string
	// Due is, for CommandETA, the new due time in the calendar's zone;
	// for CommandAway, when the sender is back (zero: a day from now).
	Due time.Time
	// Address is, for CommandAssign, the addr-spec (the display name, if
	// any, is dropped).
	Address string
	// Name is, for CommandCategory, the category named, lower case; the
	// lifecycle checks that the department has it. For CommandSame, the
	// reference ("REQ-12"); for CommandIncident, the text; for
	// CommandForward, the department's name or address as written (the
	// lifecycle's caller finds the department).
	Name string
}

// Limits that keep ParseCommands cheap on any input.
const (
	// MaxCommandLines is how many lines from the top of a reply are searched
	// for commands. Staff write commands above what they quote; a command
	// further down is left in the text as prose.
	MaxCommandLines = 200
	// maxCommandLen is the longest command line parsed; longer "#…" lines
	// are reported as malformed without looking at their argument.
	maxCommandLen = 1000
	// maxETAAhead bounds how far ahead "#eta" may set a due date, so that a
	// year typo ("2062-12-01") is reported rather than silently accepted.
	maxETAAhead = 2 * 366 * 24 * time.Hour
	// stripLookahead is how many lines after the scanned ones StripQuoted
	// needs to judge the last scanned line (an Outlook "From:" header looks
	// three lines ahead, a wrapped attribution one).
	stripLookahead = 3
)

// commandNames maps every spelling staff may use to its kind.
var commandNames = map[string]CommandKind{
	"done":     CommandDone,
	"resolved": CommandDone,
	"closed":   CommandDone,
	"eta":      CommandETA,
	"waiting":  CommandWaiting,
	"wait":     CommandWaiting,
	"assign":   CommandAssign,
	"reopen":   CommandReopen,
	"take":     CommandTake,
	"mine":     CommandTake,
	"category": CommandCategory,
	"away":     CommandAway,
	"back":     CommandBack,
	"same":     CommandSame,
	"incident": CommandIncident,
	"forward":  CommandForward,
}

// ValidCommands lists the commands with a one-line usage each, for the help
// reply ackd sends when a staff reply holds a command it cannot read.
func ValidCommands() []string {
	return []string{
		"#done - the request is resolved (also #resolved, #closed)",
		"#eta <when> - the new expected date: business time (4h, 90m), working days (2d), " +
			"a date (2026-12-01, end of that working day), a date and time (2026-12-01 14:00), " +
			"a weekday (friday: the next one after today, at closing time), today or tomorrow (at closing time)",
		"#waiting - the request waits for the requester or a third party (also #wait)",
		"#assign <address> - hand the request to a colleague, e.g. #assign Bob Smith <bob@example.org>",
		"#reopen - the request is open again",
		"#take - you own the request: its escalations come to you first (also #mine)",
		"#category <name> - move the request to another category: its commitment is counted again from its arrival",
		"#away until <date> - you are away and get no new requests or escalations until that day, e.g. #away until friday (#away alone: for a day)",
		"#back - you are back before the date you gave",
		"#same REQ-12 - this request is about the same thing as REQ-12: answers and #done there reach this requester too",
		"#forward <department> - move the request to another department (its name or address): the requester gets its new reference and date",
		"#incident <text> - on the request others are linked under: receipts of more requests like it say <text>",
	}
}

// ParseCommands finds the command lines in the text of a staff reply.
//
// A command line is a line whose first non-space character (tabs and NBSP
// count as space) is '#' directly followed by a letter: "#done", "  #ETA
// friday.". "#1 priority", "# heading" and hashtags later in a line are
// prose. Lines StripQuoted drops (quotes, attributions, everything from a
// signature separator or forwarded header on) are never commands, and only
// the first MaxCommandLines lines of text are searched, which bounds the work
// on huge replies. Command names are case-insensitive, arguments follow
// after white space (or a colon), and trailing punctuation is ignored.
//
// cmds are the recognised commands in the order written; when a command is
// repeated the caller decides (the last #eta is the one meant). unknown
// holds one entry per command line that is not a known command or whose
// argument is wrong, each "#name: reason", e.g.
// `#eta: "next blursday" is not a date or duration`.
//
// "#eta" arguments are resolved against cal at now: business time ("4h",
// "90m") and working days ("2d") as cal.Due(now, …) does; "2026-12-01" is the
// end of that day's last working span; "2026-12-01 14:00" is wall-clock time
// in the calendar's zone; RFC 3339 is taken as written; "today" and
// "tomorrow" are the closing time of today (while it has not passed) and of
// the next working day; a weekday name ("friday", "fri") is the closing time
// of the next such day strictly after today, so on a Friday "#eta friday"
// means a week later (write "today" for the same day). A date that is not a
// working day, a due time not after now, or one more than two years ahead is
// reported in unknown. With a nil cal every "#eta" is reported.
//
// stripped is text with every command line found (recognised or not) and
// the blank lines it leaves doubled removed, for the copy the requester
// sees; quotes and signature are kept and line endings are preserved.
func ParseCommands(text string, cal *calendar.Calendar, now time.Time) (cmds []Command, unknown []string, stripped string) {
	lines, tail := splitLines(text, MaxCommandLines+stripLookahead)
	removed := make([]bool, len(lines))
	for _, i := range ownLines(lines) {
		if i >= MaxCommandLines {
			break
		}
		raw := lines[i].text
		name, rest, ok := commandShape(raw)
		if !ok {
			// "# done", "/done": a command mistyped. It is reported so
			// that the sender learns, and kept from the requester's copy.
			if name, why, near := nearCommand(raw); near {
				removed[i] = true
				unknown = append(unknown, "#"+name+": "+why)
			}
			continue
		}
		removed[i] = true
		cmd, reason := parseCommand(name, rest, cal, now)
		if reason != "" {
			unknown = append(unknown, "#"+strings.ToLower(name)+": "+reason)
			continue
		}
		cmd.Line, cmd.Raw = i+1, raw
		cmds = append(cmds, cmd)
	}
	return cmds, unknown, stripLines(lines, removed, tail)
}

// line is one line of text and the ending that followed it ("" for the last
// line of a text without a final newline).
type line struct{ text, eol string }

// splitLines splits the first max lines of s; tail is the rest, untouched.
// CRLF, lone CR and LF each end a line, as in StripQuoted.
func splitLines(s string, max int) (lines []line, tail string) {
	for len(s) > 0 {
		if len(lines) == max {
			return lines, s
		}
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, line{text: s})
			break
		}
		n := 1
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			n = 2
		}
		lines = append(lines, line{text: s[:i], eol: s[i : i+n]})
		s = s[i+n:]
	}
	return lines, ""
}

// ownLines returns the indexes of the lines StripQuoted keeps, in order.
// StripQuoted returns a subsequence of its input lines, so matching each
// kept line to the next equal input line recovers the positions; an earlier
// dropped line equal to a kept command line would have to be quoted, an
// attribution or past the signature, none of which start with '#'.
func ownLines(lines []line) []int {
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.text
	}
	kept := strings.Split(StripQuoted(strings.Join(texts, "\n")), "\n")
	idx := make([]int, 0, len(kept))
	j := 0
	for _, k := range kept {
		for j < len(texts) && texts[j] != k {
			j++
		}
		if j == len(texts) {
			break
		}
		idx = append(idx, j)
		j++
	}
	return idx
}

// isCommandSpace is white space before a command or between its words.
// Besides Unicode spaces (tab, NBSP …) it takes the zero-width characters
// mail clients and editors leave at the start of a line.
func isCommandSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b'
}

// commandShape reports whether raw is a command line and splits it into the
// name after '#' and the rest of the line.
func commandShape(raw string) (name, rest string, ok bool) {
	s := strings.TrimLeftFunc(raw, isCommandSpace)
	if !strings.HasPrefix(s, "#") {
		return "", "", false
	}
	s = s[1:]
	if r, _ := utf8.DecodeRuneInString(s); !unicode.IsLetter(r) {
		return "", "", false
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_')
	})
	if end < 0 {
		end = len(s)
	}
	return s[:end], s[end:], true
}

// nearCommand reports a line that is a known command mistyped: a single
// '#' with space before the name ("# done"), or '/', '!' or a backslash instead
// of '#' ("/done", "!eta friday"). Only known command names count, so "#
// Heading" and "/home" stay prose; "## done" is a heading.
func nearCommand(raw string) (name, why string, ok bool) {
	s := strings.TrimLeftFunc(raw, isCommandSpace)
	if s == "" {
		return "", "", false
	}
	lead := s[0]
	s = s[1:]
	switch lead {
	case '#':
		t := strings.TrimLeftFunc(s, isCommandSpace)
		if t == s || strings.HasPrefix(t, "#") {
			return "", "", false
		}
		s = t
	case '/', '!', '\\':
	default:
		return "", "", false
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(s)
	}
	word := strings.ToLower(s[:end])
	if _, known := commandNames[word]; !known {
		return "", "", false
	}
	if rest := s[end:]; rest != "" {
		r, _ := utf8.DecodeRuneInString(rest)
		if !isCommandSpace(r) && !strings.ContainsRune(trailingPunct, r) {
			return "", "", false
		}
	}
	if lead == '#' {
		return word, fmt.Sprintf("write #%s without a space after the #", word), true
	}
	return word, fmt.Sprintf("commands start with #: write #%s", word), true
}

// trailingPunct is what may follow a command or its argument and is
// dropped: "#done.", "#eta friday!".
const trailingPunct = ".,;:!?"

// argument cleans the text after a command name: a colon right after the
// name, surrounding space and trailing punctuation go, and every run of
// white space inside becomes one space.
func argument(rest string) string {
	rest = strings.TrimPrefix(rest, ":")
	rest = strings.Join(strings.FieldsFunc(rest, isCommandSpace), " ")
	for {
		t := strings.TrimRightFunc(strings.TrimRight(rest, trailingPunct), isCommandSpace)
		if t == rest {
			return rest
		}
		rest = t
	}
}

// parseCommand reads one command line; reason is non-empty when it is not
// a valid command.
func parseCommand(name, rest string, cal *calendar.Calendar, now time.Time) (Command, string) {
	if len(name)+len(rest) > maxCommandLen {
		return Command{}, fmt.Sprintf("line too long (over %d characters)", maxCommandLen)
	}
	kind, ok := commandNames[strings.ToLower(name)]
	if !ok {
		return Command{}, "unknown command"
	}
	if rest != "" {
		// "#done-ish" or "#eta/friday": the name runs into something that
		// is neither space, colon nor trailing punctuation.
		r, _ := utf8.DecodeRuneInString(rest)
		if !isCommandSpace(r) && !strings.ContainsRune(trailingPunct, r) {
			return Command{}, fmt.Sprintf("write the argument after a space, not %s", quoteArg(rest))
		}
	}
	arg := argument(rest)
	cmd := Command{Kind: kind}
	switch kind {
	case CommandETA:
		due, reason := resolveETA(arg, cal, now)
		if reason != "" {
			return Command{}, reason
		}
		cmd.Due = due
	case CommandAssign:
		addr, reason := assignee(arg)
		if reason != "" {
			return Command{}, reason
		}
		cmd.Address = addr
	case CommandAway:
		if arg == "" {
			break // a day: the lifecycle knows when "now" is
		}
		s := arg
		if len(s) > 6 && strings.EqualFold(s[:6], "until ") {
			s = s[6:]
		}
		if cal == nil {
			return Command{}, "no business calendar to resolve it against"
		}
		back, ok := ReturnDate("until "+s, cal.Location(), now)
		if !ok {
			return Command{}, fmt.Sprintf("%s is not a date ahead, e.g. #away until friday or #away until 2026-12-07", quoteArg(arg))
		}
		cmd.Due = back
	case CommandSame:
		ref := strings.ToUpper(strings.Trim(arg, "[]"))
		if !sameRef.MatchString(ref) {
			return Command{}, fmt.Sprintf("%s is not a reference, e.g. #same REQ-12", quoteArg(arg))
		}
		cmd.Name = ref
	case CommandIncident:
		if arg == "" {
			return Command{}, "needs the text receipts should say, e.g. #incident The mail server is down; we are on it"
		}
		cmd.Name = strings.Join(strings.Fields(strings.TrimPrefix(rest, ":")), " ")
	case CommandForward:
		if arg == "" {
			return Command{}, "needs a department, e.g. #forward Payroll or #forward payroll@example.org"
		}
		cmd.Name = strings.TrimSpace(strings.Trim(arg, "<>"))
	case CommandCategory:
		if arg == "" || strings.ContainsFunc(arg, isCommandSpace) {
			return Command{}, "needs one category name, e.g. #category hardware"
		}
		cmd.Name = strings.ToLower(arg)
	default:
		if arg != "" {
			return Command{}, fmt.Sprintf("takes no argument, got %s", quoteArg(arg))
		}
	}
	return cmd, ""
}

// sameRef is a request reference as #same takes it.
var sameRef = regexp.MustCompile(`^REQ-[0-9]{1,18}$`)

// quoteArg quotes an argument for a reason, shortened so that a help reply
// stays readable whatever was written.
func quoteArg(s string) string {
	return fmt.Sprintf("%q", mailtext.Clip(s, 61))
}

// assignee reads "#assign" arguments: "bob@example.org", "<bob@example.org>",
// "Bob Smith <bob@example.org>", optionally after "to".
func assignee(arg string) (string, string) {
	if arg == "" {
		return "", "needs an address, e.g. #assign bob@example.org"
	}
	s := arg
	if len(s) > 3 && strings.EqualFold(s[:3], "to ") {
		s = s[3:]
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Sprintf("%s is not a mail address", quoteArg(arg))
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || domain == "" {
		return "", fmt.Sprintf("%s is not a mail address", quoteArg(arg))
	}
	// Escalations go to the assignee: an address the composer would
	// refuse must not be stored, or every later mail about the request
	// fails.
	addr, err := addrspec.Check(a.Address)
	if err != nil {
		return "", fmt.Sprintf("%s is not an address ackd can write to", quoteArg(arg))
	}
	return addr, ""
}

// Layouts of "#eta" with a date and a wall-clock time in the calendar's zone.
var etaLocalLayouts = []string{
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
}

// resolveETA turns an "#eta" argument into a due time; reason is non-empty
// when it cannot.
func resolveETA(arg string, c *calendar.Calendar, now time.Time) (time.Time, string) {
	if arg == "" {
		return time.Time{}, "needs a date or duration, e.g. #eta 4h, #eta 2d, #eta friday or #eta 2026-12-01"
	}
	if c == nil {
		return time.Time{}, "no business calendar to resolve it against"
	}
	due, reason := etaTime(arg, c, now)
	switch {
	case reason != "":
		return time.Time{}, reason
	case !due.After(now):
		return time.Time{}, fmt.Sprintf("%s is in the past", quoteArg(arg))
	case due.Sub(now) > maxETAAhead:
		return time.Time{}, fmt.Sprintf("%s is more than two years ahead", quoteArg(arg))
	}
	return due.In(c.Location()), ""
}

func etaTime(arg string, c *calendar.Calendar, now time.Time) (time.Time, string) {
	loc := c.Location()
	lower := strings.ToLower(arg)
	today := calendar.DateOf(now, loc)
	notWorking := func(d calendar.Date) string {
		return fmt.Sprintf("%s: %s (%s) is not a working day", quoteArg(arg), d, d.Weekday())
	}
	switch lower {
	case "today":
		closing, ok := c.Closing(today)
		switch {
		case !ok:
			return time.Time{}, notWorking(today)
		case !closing.After(now):
			return time.Time{}, fmt.Sprintf("%s: working hours are over for today", quoteArg(arg))
		}
		return closing, ""
	case "tomorrow":
		d := today
		for range int(calendar.ClosedHorizon / (24 * time.Hour)) {
			d = d.AddDays(1)
			if closing, ok := c.Closing(d); ok {
				return closing, ""
			}
		}
		return time.Time{}, fmt.Sprintf("%s: no working day ahead", quoteArg(arg))
	}
	if wd, err := calendar.ParseWeekday(lower); err == nil {
		d := today.AddDays(1)
		for d.Weekday() != wd {
			d = d.AddDays(1)
		}
		closing, ok := c.Closing(d)
		if !ok {
			return time.Time{}, notWorking(d)
		}
		return closing, ""
	}
	if d, err := calendar.ParseDate(arg); err == nil {
		closing, ok := c.Closing(d)
		if !ok {
			return time.Time{}, notWorking(d)
		}
		return closing, ""
	}
	for _, layout := range etaLocalLayouts {
		t, err := time.ParseInLocation(layout, strings.ToUpper(arg), loc)
		if err != nil {
			continue
		}
		// time.ParseInLocation moves a time the clocks skip; say so
		// rather than set a due time nobody wrote.
		w, _ := time.Parse(layout, strings.ToUpper(arg))
		if !sameWall(t, w) {
			return time.Time{}, fmt.Sprintf("%s does not exist in %s (the clocks skip it)", quoteArg(arg), loc)
		}
		return t, ""
	}
	if t, err := time.Parse(time.RFC3339, strings.ToUpper(arg)); err == nil {
		return t, ""
	}
	if cm, ok, err := etaCommitment(lower); ok {
		if err != nil {
			return time.Time{}, err.Error()
		}
		return c.Due(now, cm), ""
	}
	return time.Time{}, fmt.Sprintf("%s is not a date or duration", quoteArg(arg))
}

func sameWall(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	ah, ai, as := a.Clock()
	bh, bi, bs := b.Clock()
	return ay == by && am == bm && ad == bd && ah == bh && ai == bi && as == bs
}

// etaUnits are the spelled-out units "#eta" accepts after a number and a
// space ("4 hours", "2 days"), with the unit ParseCommitment reads.
var etaUnits = map[string]string{
	"h": "h", "hour": "h", "hours": "h",
	"m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
	"d": "d", "day": "d", "days": "d",
}

// etaCommitment reads a duration argument; ok says the argument looks like
// one (it starts with a digit and is no date), so that err, ParseCommitment's
// explanation, is worth showing.
func etaCommitment(lower string) (cm calendar.Commitment, ok bool, err error) {
	if lower == "" || lower[0] < '0' || lower[0] > '9' || strings.ContainsAny(lower, "-:") {
		return calendar.Commitment{}, false, nil
	}
	if num, unit, found := strings.Cut(lower, " "); found && num != "" && strings.Trim(num, "0123456789") == "" {
		if u, known := etaUnits[unit]; known {
			lower = num + u
		}
	}
	cm, err = calendar.ParseCommitment(lower)
	return cm, true, err
}

// isBlank says a line holds nothing but white space.
func isBlank(s string) bool { return strings.TrimFunc(s, isCommandSpace) == "" }

// stripLines joins the lines not removed, then tail. Where removed lines sit
// among blank lines, the stretch keeps at most one blank line, and none at
// the very start or end of the text, so removing "#done" leaves no gap.
// Blank stretches without a removed line stay as written.
func stripLines(lines []line, removed []bool, tail string) string {
	var b strings.Builder
	last := byte(0)
	put := func(s string) {
		if s == "" {
			return
		}
		// A lone CR ending a line is never followed by LF in the text, but
		// removing lines can bring the two together, merging two line ends
		// into one CRLF; a CR more keeps the kept blank line a line.
		if last == '\r' && s[0] == '\n' {
			b.WriteByte('\r')
		}
		b.WriteString(s)
		last = s[len(s)-1]
	}
	for i := 0; i < len(lines); {
		if !removed[i] && !isBlank(lines[i].text) {
			put(lines[i].text + lines[i].eol)
			i++
			continue
		}
		j, hasRemoved, firstBlank := i, false, -1
		for ; j < len(lines) && (removed[j] || isBlank(lines[j].text)); j++ {
			switch {
			case removed[j]:
				hasRemoved = true
			case firstBlank < 0:
				firstBlank = j
			}
		}
		switch {
		case !hasRemoved:
			for k := i; k < j; k++ {
				put(lines[k].text + lines[k].eol)
			}
		case firstBlank >= 0 && i > 0 && (j < len(lines) || tail != ""):
			put(lines[firstBlank].text + lines[firstBlank].eol)
		}
		i = j
	}
	put(tail)
	return b.String()
}
