package templates

import (
	"slices"
	"strings"
	"time"

	"github.com/goodsign/monday"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// DefaultLanguage is the language of the flat template files: the
// embedded default/NAME.PART.tmpl and an override directory's top level.
const DefaultLanguage = "en"

// Localised lists the templates written to requesters (and the command
// help, in the department's language): they exist in every language.
// Escalations, digests and notices about unproven mail go to staff and are
// rendered in DefaultLanguage.
func Localised() []string {
	return []string{NameClosing, NameCommandHelp, NameDueUpdate, NameHandover, NameLateNotice, NameRatingThanks, NameReceipt}
}

func isLocalised(name string) bool { return slices.Contains(Localised(), name) }

// locale is how dates and durations read in one language.
type locale struct {
	tag language.Tag
	// mon is the goodsign/monday locale for week-day and month names; ""
	// leaves Go's English names.
	mon monday.Locale
	// layout is the time.Format layout of longdate, names in English
	// (monday translates them).
	layout string
	// firstDay, when set, replaces the day number 1 ("1er" in French).
	firstDay string
	// noSubject stands for an empty subject in our subjects and quotes.
	noSubject string
	printer   *message.Printer
}

// layouts are the date layouts of the built-in languages; other languages
// get their monday locale's names in the English layout.
var layouts = map[string]struct {
	mon                         monday.Locale
	layout, firstDay, noSubject string
}{
	"en": {"", "Monday 2 January 2006, 15:04 MST", "", noSubject},
	"de": {monday.LocaleDeDE, "Monday, 2. January 2006, 15:04 Uhr MST", "", "(ohne Betreff)"},
	"fr": {monday.LocaleFrFR, "Monday 2 January 2006 à 15:04 MST", "1er", "(sans objet)"},
	"es": {monday.LocaleEsES, "Monday 2 de January de 2006, 15:04 MST", "", "(sin asunto)"},
	"nl": {monday.LocaleNlNL, "Monday 2 January 2006, 15:04 MST", "", "(geen onderwerp)"},
}

// durationWords are the plural forms of the units of a commitment, keyed
// by the English message; CLDR plural rules (x/text) pick the form.
var durationWords = map[string]map[string][2]string{
	"%d working days":  {"en": {"%d working day", "%d working days"}, "de": {"%d Arbeitstag", "%d Arbeitstage"}, "fr": {"%d jour ouvré", "%d jours ouvrés"}, "es": {"%d día laborable", "%d días laborables"}, "nl": {"%d werkdag", "%d werkdagen"}},
	"%d working hours": {"en": {"%d working hour", "%d working hours"}, "de": {"%d Arbeitsstunde", "%d Arbeitsstunden"}, "fr": {"%d heure ouvrée", "%d heures ouvrées"}, "es": {"%d hora laborable", "%d horas laborables"}, "nl": {"%d werkuur", "%d werkuren"}},
	"%d minutes":       {"en": {"%d minute", "%d minutes"}, "de": {"%d Minute", "%d Minuten"}, "fr": {"%d minute", "%d minutes"}, "es": {"%d minuto", "%d minutos"}, "nl": {"%d minuut", "%d minuten"}},
	"%d working weeks": {"en": {"%d working week", "%d working weeks"}, "de": {"%d Arbeitswoche", "%d Arbeitswochen"}, "fr": {"%d semaine ouvrée", "%d semaines ouvrées"}, "es": {"%d semana laborable", "%d semanas laborables"}, "nl": {"%d werkweek", "%d werkweken"}},
}

// newLocale builds the locale of a base language code. A language ackd
// has no words for gets its monday names where monday knows it and
// English durations.
func newLocale(lang string) locale {
	tag := language.Make(lang)
	l := locale{tag: tag, layout: layouts["en"].layout, noSubject: noSubject}
	if b, ok := layouts[lang]; ok {
		l.mon, l.layout, l.firstDay, l.noSubject = b.mon, b.layout, b.firstDay, b.noSubject
	} else {
		for _, m := range monday.ListLocales() {
			if strings.HasPrefix(string(m), lang+"_") {
				l.mon = m
				break
			}
		}
	}
	cat := catalog.NewBuilder(catalog.Fallback(language.English))
	for key, byLang := range durationWords {
		for code, forms := range byLang {
			// Set fails only for a malformed message, and these are fixed.
			_ = cat.Set(language.Make(code), key, plural.Selectf(1, "%d", "one", forms[0], "other", forms[1]))
		}
	}
	ptag := tag
	if _, ok := layouts[lang]; !ok {
		ptag = language.English
	}
	l.printer = message.NewPrinter(ptag, message.Catalog(cat))
	return l
}

// longDate writes t in words in loc in this language: "Tuesday 1 December
// 2026, 17:00 CET", "Dienstag, 1. Dezember 2026, 17:00 Uhr CET". Zones
// without an abbreviation print as Go gives them ("+03"). A nil loc keeps
// t's own zone; the zero time gives "".
func (l locale) longDate(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if loc != nil {
		t = t.In(loc)
	}
	var s string
	if l.mon == "" {
		s = t.Format(l.layout)
	} else {
		s = monday.Format(t, l.layout, l.mon)
	}
	if l.firstDay != "" && t.Day() == 1 {
		// Go layouts cannot quote, so "1er" is put in after formatting:
		// the day is the first " 1 " of the result.
		s = strings.Replace(s, " 1 ", " "+l.firstDay+" ", 1)
	}
	return s
}

// duration writes n of a unit message ("%d working hours") in this
// language with its plural form.
func (l locale) duration(key string, n int) string {
	return l.printer.Sprintf(key, n)
}
