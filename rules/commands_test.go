package rules_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/rules"
)

// cmdCalendars are the calendars the command tests resolve "#eta" against:
// Berlin office hours with Good Friday and Easter Monday 2026 (2026-04-03
// and 2026-04-06) as holidays, and the same with split hours closing at
// 16:00. Europe switches to summer time on Sunday 2026-03-29 and back on
// Sunday 2026-10-25; 2026-03-10 is a Tuesday.
func cmdCalendars(t testing.TB) (office, split *calendar.Calendar) {
	t.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load location: %v", err)
	}
	mk := func(h string) *calendar.Calendar {
		spans, err := calendar.ParseHours(h)
		if err != nil {
			t.Fatal(err)
		}
		var hol []calendar.Date
		for _, s := range []string{"2026-04-03", "2026-04-06"} {
			d, err := calendar.ParseDate(s)
			if err != nil {
				t.Fatal(err)
			}
			hol = append(hol, d)
		}
		c, err := calendar.NewCalendar(calendar.CalendarSpec{
			Location: berlin,
			Workdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			Hours:    spans,
			Holidays: hol,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return mk("09:00-17:00"), mk("08:00-12:00,13:00-16:00")
}

// berlinAt reads "2026-03-10 15:00" as wall-clock time in the calendar's zone.
func berlinAt(t testing.TB, c *calendar.Calendar, s string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, c.Location())
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseCommandsKinds(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	tests := []struct {
		line string
		kind rules.CommandKind
		addr string
	}{
		{"#done", rules.CommandDone, ""},
		{"#DONE", rules.CommandDone, ""},
		{"#Done.", rules.CommandDone, ""},
		{"#done!", rules.CommandDone, ""},
		{"#done:", rules.CommandDone, ""},
		{"#done ...", rules.CommandDone, ""},
		{"   #done", rules.CommandDone, ""},
		{"\t#done\t", rules.CommandDone, ""},
		{"\u00a0#done\u00a0", rules.CommandDone, ""},
		{"\ufeff#done", rules.CommandDone, ""},
		{"#resolved", rules.CommandDone, ""},
		{"#Closed", rules.CommandDone, ""},
		{"#waiting", rules.CommandWaiting, ""},
		{"#wait.", rules.CommandWaiting, ""},
		{"#WAITING", rules.CommandWaiting, ""},
		{"#reopen", rules.CommandReopen, ""},
		{"#reopen!", rules.CommandReopen, ""},
		{"#assign bob@example.org", rules.CommandAssign, "bob@example.org"},
		{"#assign <bob@example.org>.", rules.CommandAssign, "bob@example.org"},
		{"#assign Bob Smith <bob@example.org>", rules.CommandAssign, "bob@example.org"},
		{`#assign "Smith, Bob" <bob@example.org>`, rules.CommandAssign, "bob@example.org"},
		{"#assign to bob@example.org", rules.CommandAssign, "bob@example.org"},
		{"#Assign\u00a0\tbob@example.org", rules.CommandAssign, "bob@example.org"},
		{"#assign: bob@example.org", rules.CommandAssign, "bob@example.org"},
		{"#eta 4h", rules.CommandETA, ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmds, unknown, stripped := rules.ParseCommands(tt.line, office, now)
			if len(unknown) != 0 {
				t.Fatalf("unknown = %q", unknown)
			}
			if len(cmds) != 1 {
				t.Fatalf("got %d commands, want 1: %+v", len(cmds), cmds)
			}
			c := cmds[0]
			if c.Kind != tt.kind || c.Address != tt.addr || c.Line != 1 || c.Raw != tt.line {
				t.Errorf("got %+v, want kind %s address %q on line 1 raw %q", c, tt.kind, tt.addr, tt.line)
			}
			if c.Kind != rules.CommandETA && !c.Due.IsZero() {
				t.Errorf("Due = %v on a %s command", c.Due, c.Kind)
			}
			if stripped != "" {
				t.Errorf("stripped = %q, want the command line gone", stripped)
			}
		})
	}
}

func TestParseCommandsUnknown(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	tests := []struct {
		line, want string
	}{
		{"#thanks", "#thanks: unknown command"},
		{"#Thanks to everyone!", "#thanks: unknown command"},
		{"#done-ish", "#done-ish: unknown command"},
		{"#über", "#über: unknown command"},
		{"#eta/friday", `#eta: write the argument after a space, not "/friday"`},
		{"#done now", `#done: takes no argument, got "now"`},
		{"#reopen please", `#reopen: takes no argument, got "please"`},
		{"#wait for it", `#wait: takes no argument, got "for it"`},
		{"#assign", "#assign: needs an address, e.g. #assign bob@example.org"},
		{"#assign bob", `#assign: "bob" is not a mail address`},
		{"#assign bob@", `#assign: "bob@" is not a mail address`},
		{"#assign bob@example.org, eve@example.org", `#assign: "bob@example.org, eve@example.org" is not a mail address`},
		{`#assign "x,y"@example.org`, `#assign: "\"x,y\"@example.org" is not an address ackd can write to`},
		{"#eta next blursday", `#eta: "next blursday" is not a date or duration`},
		{"#eta", "#eta: needs a date or duration, e.g. #eta 4h, #eta 2d, #eta friday or #eta 2026-12-01"},
		{"#eta " + strings.Repeat("x", 2000), "#eta: line too long (over 1000 characters)"},
		{"#eta " + strings.Repeat("y", 100), `#eta: "` + strings.Repeat("y", 60) + `…" is not a date or duration`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			cmds, unknown, stripped := rules.ParseCommands("Hello\n"+tt.line+"\nBye", office, now)
			if len(cmds) != 0 {
				t.Errorf("cmds = %+v, want none", cmds)
			}
			if !slices.Equal(unknown, []string{tt.want}) {
				t.Errorf("unknown = %q, want %q", unknown, tt.want)
			}
			if stripped != "Hello\nBye" {
				t.Errorf("stripped = %q, want the malformed command line gone too", stripped)
			}
		})
	}
}

// TestParseCommandsProse covers lines that look a little like commands and
// are not: they are neither reported nor removed.
func TestParseCommandsProse(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	tests := map[string]string{
		"number":       "#1 priority for us is the printer.",
		"mid-line tag": "We fixed it, see #done in the wiki. #eta friday",
		"heading":      "# Heading\n## done",
		"bare hash":    "#\n#.\n#-done\n##done",
		"quoted":       "Thanks!\n\n> #done\n>#eta 4h\n  > #reopen",
		"attribution":  "Thanks!\n\nOn Tue, 10 Mar 2026, Ann <ann@example.org> wrote:\n> #done",
		"signature":    "Fixed.\n\n-- \n#done\nBob, IT #1 support\n#team-it",
		"outlook":      "Fixed.\n\n-----Original Message-----\n#done\n#eta friday",
		"outlook head": "Fixed.\n\nFrom: Ann\nSent: Tuesday\n#done",
		"forwarded":    "Fixed.\n\nVon: Ann\nGesendet: Dienstag\n#reopen",
		"empty":        "",
		"blank lines":  "\n\n\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			cmds, unknown, stripped := rules.ParseCommands(text, office, now)
			if len(cmds) != 0 || len(unknown) != 0 {
				t.Errorf("cmds = %+v, unknown = %q, want none", cmds, unknown)
			}
			if stripped != text {
				t.Errorf("stripped = %q, want the text unchanged", stripped)
			}
		})
	}
}

func TestParseCommandsETA(t *testing.T) {
	office, split := cmdCalendars(t)
	tests := []struct {
		name, arg, now string
		split          bool
		due            string // wall clock in Berlin; empty when a reason is expected
		offset         string // UTC offset of due, for the DST cases
		reason         string // substring of the unknown entry
	}{
		{name: "business hours", arg: "4h", now: "2026-03-10 10:00", due: "2026-03-10 14:00"},
		{name: "hours spelled out", arg: "4 hours", now: "2026-03-10 10:00", due: "2026-03-10 14:00"},
		{name: "minutes overnight", arg: "90m", now: "2026-03-10 16:30", due: "2026-03-11 10:00"},
		{name: "hours over weekend into summer time", arg: "4h", now: "2026-03-27 15:00", due: "2026-03-30 11:00", offset: "+02:00"},
		{name: "days into summer time", arg: "2d", now: "2026-03-27 10:00", due: "2026-03-31 10:00", offset: "+02:00"},
		{name: "days over Easter", arg: "2d", now: "2026-04-02 10:00", due: "2026-04-08 10:00"},
		{name: "days spelled out", arg: "1 day", now: "2026-04-02 10:00", due: "2026-04-07 10:00"},
		{name: "date", arg: "2026-12-01", now: "2026-03-10 10:00", due: "2026-12-01 17:00", offset: "+01:00"},
		{name: "date split hours", arg: "2026-12-01", now: "2026-03-10 10:00", split: true, due: "2026-12-01 16:00"},
		{name: "date in summer time", arg: "2026-06-01.", now: "2026-03-10 10:00", due: "2026-06-01 17:00", offset: "+02:00"},
		{name: "date holiday", arg: "2026-04-03", now: "2026-03-10 10:00", reason: `"2026-04-03": 2026-04-03 (Friday) is not a working day`},
		{name: "date weekend", arg: "2026-03-14", now: "2026-03-10 10:00", reason: "is not a working day"},
		{name: "date not real", arg: "2026-02-30", now: "2026-03-10 10:00", reason: `"2026-02-30" is not a date or duration`},
		{name: "date and time", arg: "2026-03-30 14:00", now: "2026-03-27 10:00", due: "2026-03-30 14:00", offset: "+02:00"},
		{name: "date and time after clocks go back", arg: "2026-10-26 10:00", now: "2026-10-23 10:00", due: "2026-10-26 10:00", offset: "+01:00"},
		{name: "date T time", arg: "2026-03-12t08:30", now: "2026-03-10 10:00", due: "2026-03-12 08:30"},
		{name: "time the clocks skip", arg: "2026-03-29 02:30", now: "2026-03-27 10:00", reason: "does not exist in Europe/Berlin"},
		{name: "weekday", arg: "friday", now: "2026-03-10 10:00", due: "2026-03-13 17:00"},
		{name: "weekday short capitalised", arg: "Fri", now: "2026-03-10 10:00", due: "2026-03-13 17:00"},
		{name: "weekday is today", arg: "fri", now: "2026-03-13 10:00", due: "2026-03-20 17:00"},
		{name: "weekday after weekend and DST", arg: "monday", now: "2026-03-27 10:00", due: "2026-03-30 17:00", offset: "+02:00"},
		{name: "weekday holiday", arg: "Friday", now: "2026-03-30 10:00", reason: "2026-04-03 (Friday) is not a working day"},
		{name: "weekday weekend", arg: "sat", now: "2026-03-10 10:00", reason: "2026-03-14 (Saturday) is not a working day"},
		{name: "tomorrow", arg: "tomorrow", now: "2026-03-10 10:00", due: "2026-03-11 17:00"},
		{name: "tomorrow split hours", arg: "Tomorrow!", now: "2026-03-10 10:00", split: true, due: "2026-03-11 16:00"},
		{name: "tomorrow over weekend", arg: "tomorrow", now: "2026-03-13 20:00", due: "2026-03-16 17:00"},
		{name: "tomorrow over Easter", arg: "tomorrow", now: "2026-04-02 10:00", due: "2026-04-07 17:00"},
		{name: "today", arg: "today", now: "2026-03-10 10:00", due: "2026-03-10 17:00"},
		{name: "today before opening", arg: "TODAY", now: "2026-03-10 07:00", due: "2026-03-10 17:00"},
		{name: "today after closing", arg: "today", now: "2026-03-10 17:00", reason: `"today": working hours are over for today`},
		{name: "today weekend", arg: "today", now: "2026-03-14 10:00", reason: "2026-03-14 (Saturday) is not a working day"},
		{name: "today holiday", arg: "today", now: "2026-04-06 10:00", reason: "2026-04-06 (Monday) is not a working day"},
		{name: "RFC 3339", arg: "2026-03-12T10:00:00Z", now: "2026-03-10 10:00", due: "2026-03-12 11:00"},
		{name: "RFC 3339 lower case", arg: "2026-03-12t10:00:00+01:00", now: "2026-03-10 10:00", due: "2026-03-12 10:00"},
		{name: "past date", arg: "2026-01-05", now: "2026-03-10 10:00", reason: `"2026-01-05" is in the past`},
		{name: "past time today", arg: "2026-03-10 09:00", now: "2026-03-10 10:00", reason: "in the past"},
		{name: "now is past", arg: "2026-03-10 10:00", now: "2026-03-10 10:00", reason: "in the past"},
		{name: "past RFC 3339", arg: "2020-01-01T00:00:00Z", now: "2026-03-10 10:00", reason: "in the past"},
		{name: "year typo", arg: "2062-12-01", now: "2026-03-10 10:00", reason: "more than two years ahead"},
		{name: "zero", arg: "0h", now: "2026-03-10 10:00", reason: "must be positive"},
		{name: "too many days", arg: "3000d", now: "2026-03-10 10:00", reason: "at most 365d"},
		{name: "mixed units", arg: "1d4h", now: "2026-03-10 10:00", reason: "cannot mix"},
		{name: "next weekday", arg: "next friday", now: "2026-03-10 10:00", reason: `"next friday" is not a date or duration`},
		{name: "time alone", arg: "14:00", now: "2026-03-10 10:00", reason: `"14:00" is not a date or duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := office
			if tt.split {
				c = split
			}
			now := berlinAt(t, c, tt.now)
			text := "Hi Ann,\r\n\r\n#eta " + tt.arg + "\r\n\r\nBob\r\n"
			cmds, unknown, stripped := rules.ParseCommands(text, c, now)
			if stripped != "Hi Ann,\r\n\r\nBob\r\n" {
				t.Errorf("stripped = %q", stripped)
			}
			if tt.reason != "" {
				if len(cmds) != 0 || len(unknown) != 1 || !strings.HasPrefix(unknown[0], "#eta: ") ||
					!strings.Contains(unknown[0], tt.reason) {
					t.Fatalf("cmds = %+v, unknown = %q, want one #eta reason containing %q", cmds, unknown, tt.reason)
				}
				return
			}
			if len(unknown) != 0 || len(cmds) != 1 {
				t.Fatalf("cmds = %+v, unknown = %q, want one #eta", cmds, unknown)
			}
			got := cmds[0]
			if want := berlinAt(t, c, tt.due); !got.Due.Equal(want) {
				t.Errorf("due = %v, want %v", got.Due, want)
			}
			if got.Due.Location() != c.Location() {
				t.Errorf("due in %v, want the calendar's zone %v", got.Due.Location(), c.Location())
			}
			if tt.offset != "" && got.Due.Format("-07:00") != tt.offset {
				t.Errorf("due %v has offset %s, want %s", got.Due, got.Due.Format("-07:00"), tt.offset)
			}
			if got.Kind != rules.CommandETA || got.Line != 3 || got.Raw != "#eta "+tt.arg {
				t.Errorf("got %+v, want #eta on line 3", got)
			}
		})
	}
}

func TestParseCommandsETAWithoutCalendar(t *testing.T) {
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	cmds, unknown, _ := rules.ParseCommands("#done\n#eta 4h\n#eta friday", nil, now)
	if len(cmds) != 1 || cmds[0].Kind != rules.CommandDone {
		t.Errorf("cmds = %+v, want only #done", cmds)
	}
	if len(unknown) != 2 || !strings.Contains(unknown[0], "no business calendar") {
		t.Errorf("unknown = %q, want both #eta lines reported for the missing calendar", unknown)
	}
}

func TestParseCommandsReply(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	text := "Hi Ann,\r\n" + // 1
		"\r\n" + // 2
		"#assign Carl <carl@example.org>\r\n" + // 3
		"  #ETA friday.\r\n" + // 4
		"\r\n" + // 5
		"Carl will bring the new toner on Friday. #1 priority!\r\n" + // 6
		"#tnx\r\n" + // 7
		"\r\n" + // 8
		"#waiting\r\n" + // 9
		"\r\n" + // 10
		"Bob\r\n" + // 11
		"\r\n" + // 12
		"On Mon, 9 Mar 2026 at 08:12, Ann <ann@example.org> wrote:\r\n" + // 13
		"> #done\r\n" + // 14
		"> The printer is out of toner.\r\n" + // 15
		"#reopen\r\n" + // 16: below the quote, still Bob's own line
		"-- \r\n" + // 17
		"#it-team\r\n" // 18
	cmds, unknown, stripped := rules.ParseCommands(text, office, now)
	want := []rules.Command{
		{Kind: rules.CommandAssign, Line: 3, Raw: "#assign Carl <carl@example.org>", Address: "carl@example.org"},
		{Kind: rules.CommandETA, Line: 4, Raw: "  #ETA friday.", Due: berlinAt(t, office, "2026-03-13 17:00")},
		{Kind: rules.CommandWaiting, Line: 9, Raw: "#waiting"},
		{Kind: rules.CommandReopen, Line: 16, Raw: "#reopen"},
	}
	if len(cmds) != len(want) {
		t.Fatalf("cmds = %+v, want %+v", cmds, want)
	}
	for i := range want {
		g, w := cmds[i], want[i]
		if g.Kind != w.Kind || g.Line != w.Line || g.Raw != w.Raw || g.Address != w.Address || !g.Due.Equal(w.Due) {
			t.Errorf("cmds[%d] = %+v, want %+v", i, g, w)
		}
	}
	if !slices.Equal(unknown, []string{"#tnx: unknown command"}) {
		t.Errorf("unknown = %q", unknown)
	}
	wantStripped := "Hi Ann,\r\n" +
		"\r\n" +
		"Carl will bring the new toner on Friday. #1 priority!\r\n" +
		"\r\n" +
		"Bob\r\n" +
		"\r\n" +
		"On Mon, 9 Mar 2026 at 08:12, Ann <ann@example.org> wrote:\r\n" +
		"> #done\r\n" +
		"> The printer is out of toner.\r\n" +
		"-- \r\n" +
		"#it-team\r\n"
	if stripped != wantStripped {
		t.Errorf("stripped =\n%q\nwant\n%q", stripped, wantStripped)
	}
}

func TestParseCommandsStripped(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	tests := []struct{ name, text, want string }{
		{"command first", "#done\n\nFixed it.\n", "Fixed it.\n"},
		{"command last", "Fixed it.\n\n#done\n", "Fixed it.\n"},
		{"command last no newline", "Fixed it.\n#done", "Fixed it.\n"},
		{"only commands", "#done\n\n#reopen\n", ""},
		{"between paragraphs", "Hi,\n\n#eta friday\n\nwe ordered the part.\n\nBob\n", "Hi,\n\nwe ordered the part.\n\nBob\n"},
		{"between lines", "A\n#waiting\nB", "A\nB"},
		{"blank before only", "A\n\n#waiting\nB", "A\n\nB"},
		{"several with blanks", "A\n\n#done\n\n\n#wait\n\nB\n", "A\n\nB\n"},
		{"own double blank kept", "A\n\n\nB\n\n#done\n", "A\n\n\nB\n"},
		{"whitespace-only blank lines", "A\n \t\n#done\n\u00a0\nB", "A\n \t\nB"},
		{"CRLF", "Hi,\r\n\r\n#done\r\n\r\nBye\r\n", "Hi,\r\n\r\nBye\r\n"},
		{"CR", "Hi,\r\r#done\r\rBye\r", "Hi,\r\rBye\r"},
		{"lone CR meets LF", "A\r#done\n\nB", "A\r\r\nB"},
		{"quote kept", "#done\n\nOn Tue, Ann wrote:\n> #eta friday\n", "On Tue, Ann wrote:\n> #eta friday\n"},
		{"signature kept", "Done.\n#done\n-- \nBob\n#1 IT team\n", "Done.\n-- \nBob\n#1 IT team\n"},
		{"prose kept", "#1 priority\n#done\n# heading\n", "#1 priority\n# heading\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, stripped := rules.ParseCommands(tt.text, office, now)
			if stripped != tt.want {
				t.Errorf("stripped = %q, want %q", stripped, tt.want)
			}
		})
	}
}

// TestParseCommandsBounded checks that only the first MaxCommandLines lines
// are searched and that the rest of a long text is passed through whole.
func TestParseCommandsBounded(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	var b strings.Builder
	for range 50_000 {
		b.WriteString("#done\n")
	}
	text := b.String()
	cmds, unknown, stripped := rules.ParseCommands(text, office, now)
	if len(cmds) != rules.MaxCommandLines || len(unknown) != 0 {
		t.Fatalf("got %d commands and %d unknown, want %d commands", len(cmds), len(unknown), rules.MaxCommandLines)
	}
	if last := cmds[len(cmds)-1]; last.Line != rules.MaxCommandLines {
		t.Errorf("last command on line %d, want %d", last.Line, rules.MaxCommandLines)
	}
	if want := text[len("#done\n")*rules.MaxCommandLines:]; stripped != want {
		t.Errorf("stripped has %d bytes, want the %d bytes after the scanned lines", len(stripped), len(want))
	}

	// A command at the boundary with blank lines after it still leaves no gap.
	text = strings.Repeat("x\n", rules.MaxCommandLines-1) + "#done\n\n\n\nmore\n"
	_, _, stripped = rules.ParseCommands(text, office, now)
	if want := strings.Repeat("x\n", rules.MaxCommandLines-1) + "\nmore\n"; stripped != want {
		t.Errorf("stripped ends %q, want it to end %q", stripped[len(stripped)-20:], want[len(want)-20:])
	}

	// One huge line costs one pass and is reported, not parsed.
	huge := "#eta " + strings.Repeat("9", 1<<20)
	cmds, unknown, stripped = rules.ParseCommands(huge+"\nok", office, now)
	if len(cmds) != 0 || len(unknown) != 1 || stripped != "ok" {
		t.Errorf("cmds = %d, unknown = %q, stripped = %q", len(cmds), unknown, stripped)
	}
}

func TestValidCommands(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	usage := rules.ValidCommands()
	seen := map[rules.CommandKind]bool{}
	nameRE := regexp.MustCompile(`#[a-z]+`)
	for _, u := range usage {
		if strings.Contains(u, "\n") {
			t.Errorf("usage %q spans lines", u)
		}
		// Every command the help names, aliases included, must be one
		// ParseCommands knows, or the help would teach a wrong command.
		for _, name := range nameRE.FindAllString(u, -1) {
			_, unknown, _ := rules.ParseCommands(name, office, now)
			for _, r := range unknown {
				if strings.HasSuffix(r, "unknown command") {
					t.Errorf("usage %q names %s, which ParseCommands does not know", u, name)
				}
			}
		}
		cmds, _, _ := rules.ParseCommands(strings.Fields(u)[0], office, now)
		for _, c := range cmds {
			seen[c.Kind] = true
		}
	}
	// #eta and #assign need an argument, so check them by their examples.
	for _, line := range []string{"#same REQ-12", "#incident <text>", "#category <name>", "#forward <department>", "#away until friday", "#eta 4h", "#eta 2d", "#eta 2026-12-01", "#eta 2026-12-01 14:00", "#eta friday", "#eta today", "#eta tomorrow",
		"#assign Bob Smith <bob@example.org>"} {
		found := false
		for _, u := range usage {
			_, arg, _ := strings.Cut(line, " ")
			if strings.HasPrefix(u, strings.Fields(line)[0]) && strings.Contains(u, arg) {
				found = true
			}
		}
		if !found {
			t.Errorf("no usage line shows %q", line)
		}
		cmds, unknown, _ := rules.ParseCommands(line, office, now)
		if len(cmds) != 1 {
			t.Errorf("example %q does not parse: %q", line, unknown)
			continue
		}
		seen[cmds[0].Kind] = true
	}
	for _, k := range []rules.CommandKind{rules.CommandDone, rules.CommandETA, rules.CommandWaiting, rules.CommandAssign, rules.CommandReopen, rules.CommandTake, rules.CommandCategory, rules.CommandAway, rules.CommandBack, rules.CommandSame, rules.CommandIncident, rules.CommandForward} {
		if !seen[k] {
			t.Errorf("no usage line for %s", k)
		}
	}
}

// isCommandShaped is the spec's test for a command line, written
// independently of the parser.
func isCommandShaped(line string) bool {
	s := strings.TrimLeftFunc(line, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b' })
	if !strings.HasPrefix(s, "#") {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[1:])
	return unicode.IsLetter(r)
}

func isBlankLine(s string) bool {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b' }) == ""
}

var eolRE = regexp.MustCompile(`\r\n|\r|\n`)

// splitKeep splits text into lines that keep their endings.
func splitKeep(text string) []string {
	var out []string
	for len(text) > 0 {
		loc := eolRE.FindStringIndex(text)
		if loc == nil {
			out = append(out, text)
			break
		}
		out = append(out, text[:loc[1]])
		text = text[loc[1]:]
	}
	return out
}

func FuzzParseCommands(f *testing.F) {
	office, _ := cmdCalendars(f)
	for _, s := range []string{
		"", "#", "#done", "#DONE.\r\n", "Hi\n\n#eta friday\n\nBob", "#eta 2026-03-29 02:30",
		"#eta 2026-12-01", "#eta 4h", "#eta 2d", "#eta tomorrow", "#eta today", "#eta 2026-03-12T10:00:00Z",
		"#assign Bob <bob@example.org>", "#assign <>", "#assign \"\" <@>", "> #done\n#reopen",
		"On Tue, Ann wrote:\n#done", "Am Di schrieb\n#done:\n#wait", "-- \n#done", "From: a\n#done\nSent: b",
		"\u00a0#waiting\u00a0!", "#\xff\xfe", "#é\r\r\n#done\r", "#eta 9999-12-31 23:59:59", "#eta 99999999999h",
		"#eta 1.5h", "#eta -4h", "#eta 0001-01-01", "#done\n\n\n\n", strings.Repeat("#done\n", 300),
	} {
		f.Add(s, int64(1773133200)) // 2026-03-10 10:00 in Berlin
	}
	f.Add("#eta tomorrow\n#eta fri", int64(-62135596800))
	f.Add("#eta today", int64(253402300799))
	f.Fuzz(func(t *testing.T, text string, unix int64) {
		// Keep now within years a mail server can see, so the target
		// explores the text rather than the calendar's far edges.
		const lo, span = -2208988800, 400 * 366 * 86400 // 1900 for 400 years
		now := time.Unix(lo+((unix%span)+span)%span, 0)
		cmds, unknown, stripped := rules.ParseCommands(text, office, now)
		lines := splitKeep(text)
		if n := len(cmds) + len(unknown); n > rules.MaxCommandLines {
			t.Fatalf("%d command lines reported, over MaxCommandLines", n)
		}
		prev := 0
		for _, c := range cmds {
			if c.Line <= prev || c.Line > rules.MaxCommandLines || c.Line > len(lines) {
				t.Fatalf("command %+v out of order or out of range", c)
			}
			prev = c.Line
			if got := strings.TrimRight(lines[c.Line-1], "\r\n"); got != c.Raw || !isCommandShaped(c.Raw) {
				t.Fatalf("command %+v, but line %d is %q", c, c.Line, got)
			}
			switch c.Kind {
			case rules.CommandETA:
				if !c.Due.After(now) {
					t.Fatalf("#eta due %v not after now %v", c.Due, now)
				}
			case rules.CommandAssign:
				if !strings.Contains(c.Address, "@") {
					t.Fatalf("#assign address %q", c.Address)
				}
			}
		}
		// stripped is text minus some blank and command-shaped lines (line
		// endings may differ only where a lone CR met an LF), and exactly
		// the reported command lines are gone.
		out := splitKeep(stripped)
		k, shapedIn, shapedOut := 0, 0, 0
		for _, l := range lines {
			body := strings.TrimRight(l, "\r\n")
			shaped := isCommandShaped(body)
			if shaped {
				shapedIn++
			}
			if k < len(out) && strings.TrimRight(out[k], "\r\n") == body {
				k++
				if shaped {
					shapedOut++
				}
				continue
			}
			if !shaped && !isBlankLine(body) {
				t.Fatalf("line %q is missing from stripped %q", l, stripped)
			}
		}
		if k != len(out) {
			t.Fatalf("stripped has lines %q that are not in the text", out[k:])
		}
		if removed := shapedIn - shapedOut; removed != len(cmds)+len(unknown) {
			t.Fatalf("%d command lines removed, %d reported", removed, len(cmds)+len(unknown))
		}
	})
}

func TestParseForward(t *testing.T) {
	office, _ := cmdCalendars(t)
	now := berlinAt(t, office, "2026-03-10 10:00")
	tests := []struct {
		line, name, refused string
	}{
		{line: "#forward Payroll", name: "Payroll"},
		{line: "#Forward  Payroll   Office.", name: "Payroll Office"},
		{line: "#forward: <payroll@example.org>", name: "payroll@example.org"},
		{line: "#forward", refused: "needs a department"},
	}
	for _, tc := range tests {
		cmds, unknown, _ := rules.ParseCommands(tc.line, office, now)
		switch {
		case tc.refused != "":
			if len(cmds) != 0 || len(unknown) != 1 || !strings.Contains(unknown[0], tc.refused) {
				t.Errorf("%q: cmds %+v, unknown %q; want refused with %q", tc.line, cmds, unknown, tc.refused)
			}
		case len(cmds) != 1 || cmds[0].Kind != rules.CommandForward || cmds[0].Name != tc.name:
			t.Errorf("%q: cmds %+v, unknown %q; want #forward %q", tc.line, cmds, unknown, tc.name)
		}
	}
}
