// Package templates renders every mail ackd sends to a subject, a text
// part and an HTML part.
//
// Each template name has three files: NAME.subject.tmpl and NAME.txt.tmpl
// (text/template) and NAME.html.tmpl (html/template). The defaults are
// embedded; an override directory may replace any subset of the files.
//
// The templates written to requesters (Localised) exist in several
// languages: the flat files are English, default/LANG/ holds the built-in
// translations (de, fr, es, nl), and an override directory's LANG/
// subdirectory replaces them or, for a language not built in, adds it
// (then with every Localised file). Set.In picks the language; dates and
// durations read in it.
// Every template is test-rendered with sample data when loaded, so a broken
// override is refused at load, naming its file and line, rather than when
// the first mail goes out.
//
// The renderer, not the template, enforces what must always hold: the
// subject is one line of bounded length whatever the template or the data
// contain, and text parts are wrapped at 72 columns (write one paragraph
// per line in a text template).
package templates

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/ackd/ackd/lang"
)

// The template names.
const (
	NameReceipt     = "receipt"
	NameEscalation  = "escalation"
	NameLateNotice  = "late-notice"
	NameDueUpdate   = "due-update"
	NameClosing     = "closing"
	NameCommandHelp = "command-help"
	NameUnproven    = "unproven"
	// NameRatingThanks thanks a requester for answering how we did.
	NameRatingThanks  = "rating-thanks"
	NameOwnerNotice   = "owner-notice"
	NameIncidentAlert = "incident-alert"
	// NameHandover tells the requester another department has their
	// request now (#forward).
	NameHandover = "handover"
)

// The three parts of a template name, as file name suffixes.
const (
	partSubject = ".subject.tmpl"
	partText    = ".txt.tmpl"
	partHTML    = ".html.tmpl"
)

//go:embed default/*.tmpl default/*/*.tmpl
var defaultFS embed.FS

// dataTypes maps each name to the type its templates are rendered with.
var dataTypes = map[string]reflect.Type{
	NameReceipt:       reflect.TypeFor[Receipt](),
	NameEscalation:    reflect.TypeFor[Escalation](),
	NameLateNotice:    reflect.TypeFor[LateNotice](),
	NameDueUpdate:     reflect.TypeFor[DueUpdate](),
	NameClosing:       reflect.TypeFor[Closing](),
	NameCommandHelp:   reflect.TypeFor[CommandHelp](),
	NameUnproven:      reflect.TypeFor[Unproven](),
	NameRatingThanks:  reflect.TypeFor[RatingThanks](),
	NameOwnerNotice:   reflect.TypeFor[OwnerNotice](),
	NameIncidentAlert: reflect.TypeFor[IncidentAlert](),
	NameHandover:      reflect.TypeFor[Handover](),
	NameDigest:        reflect.TypeFor[Digest](),
}

// Names lists the template names, sorted.
func Names() []string {
	names := make([]string, 0, len(dataTypes))
	for n := range dataTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Files lists the file names an override directory may hold, sorted.
func Files() []string {
	var files []string
	for _, n := range Names() {
		files = append(files, n+partSubject, n+partText, n+partHTML)
	}
	slices.Sort(files)
	return files
}

// Rendered is one mail's content. Subject is a single line without control
// characters; Text ends in a newline and is wrapped; HTML is a complete
// document.
type Rendered struct {
	Subject, Text, HTML string
}

// set is the three parsed templates of one name.
type set struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Set holds parsed templates: the embedded defaults overlaid with an
// optional override directory. It is immutable and safe for concurrent use.
type Set struct {
	byLang    map[string]map[string]set // language → name → templates
	lang      string                    // the language In chose; DefaultLanguage at first
	overrides []string
	err       error // only from Default, which must not fail
}

// Error is a problem with one template file.
type Error struct {
	File string // the path as shown to the admin ("default/receipt.txt.tmpl" for an embedded one)
	Line int    // 0 when unknown
	Msg  string
}

// Error formats the problem as "file:line: message", the form ackd check
// prints.
func (e *Error) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ": " + e.Msg
}

// templateError turns an error of text/template or html/template about the
// template named file into an *Error with the line the library reports.
func templateError(file string, err error) *Error {
	msg := err.Error()
	for _, p := range []string{"html/template:", "template:"} {
		msg = strings.TrimPrefix(msg, p)
	}
	msg = strings.TrimSpace(msg)
	e := &Error{File: file}
	if rest, ok := strings.CutPrefix(msg, file+":"); ok {
		digits := rest
		if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = rest[:i]
		}
		if n, err := strconv.Atoi(digits); err == nil {
			e.Line = n
			rest = rest[len(digits):]
			// html/template and exec errors add a column: "3:14: ".
			if r, ok := strings.CutPrefix(rest, ":"); ok {
				j := strings.IndexFunc(r, func(c rune) bool { return c < '0' || c > '9' })
				if j > 0 {
					rest = r[j:]
				}
			}
			msg = strings.TrimSpace(strings.TrimPrefix(rest, ":"))
		} else {
			msg = strings.TrimSpace(rest)
		}
	}
	// Exec errors repeat the template name; the file is already in front.
	e.Msg = strings.Replace(msg, "executing "+strconv.Quote(file)+" ", "", 1)
	return e
}

// Load parses the embedded defaults and, when overrideDir is not empty,
// the files of that directory, which replace the defaults of the same
// name; a subdirectory named by a language code ("de", "pt") holds that
// language's Localised files. Every template is then rendered with sample
// data in every language. A file name that is not one of Files, a
// language directory that is not a base language code, a non-Localised
// file in one, a parse error or a render error is reported as an *Error
// naming the file; all problems are joined into one error. Dot-files
// (editor droppings) in overrideDir are ignored.
func Load(overrideDir string) (*Set, error) {
	type source struct{ shown, body string }
	// sources[lang][file]; "" is the flat (English) files.
	sources := map[string]map[string]source{DefaultLanguage: {}}
	for _, f := range Files() {
		b, err := defaultFS.ReadFile("default/" + f)
		if err != nil {
			return nil, fmt.Errorf("load default template %s: %w", f, err)
		}
		sources[DefaultLanguage][f] = source{"default/" + f, string(b)}
	}
	builtin, err := fs.ReadDir(defaultFS, "default")
	if err != nil {
		return nil, fmt.Errorf("load default templates: %w", err)
	}
	for _, d := range builtin {
		if !d.IsDir() {
			continue
		}
		lang := d.Name()
		sources[lang] = make(map[string]source)
		for _, f := range localisedFiles() {
			b, err := defaultFS.ReadFile("default/" + lang + "/" + f)
			if err != nil {
				return nil, fmt.Errorf("load default template %s/%s: %w", lang, f, err)
			}
			sources[lang][f] = source{"default/" + lang + "/" + f, string(b)}
		}
	}

	var errs []error
	var overrides []string
	if overrideDir != "" {
		entries, err := os.ReadDir(overrideDir)
		if err != nil {
			return nil, fmt.Errorf("load templates: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			path := filepath.Join(overrideDir, name)
			if e.IsDir() {
				if b, ok := lang.Normalize(name); !ok || b != name {
					errs = append(errs, &Error{File: path, Msg: fmt.Sprintf("unknown template file %q: a directory must be named by a language code such as \"de\" or \"pt\"", name)})
					continue
				}
				sub, err := os.ReadDir(path)
				if err != nil {
					errs = append(errs, &Error{File: path, Msg: err.Error()})
					continue
				}
				added := sources[name] == nil
				if added {
					sources[name] = make(map[string]source)
				}
				for _, se := range sub {
					sname := se.Name()
					if strings.HasPrefix(sname, ".") {
						continue
					}
					spath := filepath.Join(path, sname)
					if se.IsDir() || !slices.Contains(localisedFiles(), sname) {
						errs = append(errs, &Error{File: spath, Msg: unknownFileMsg(sname, localisedFiles())})
						continue
					}
					b, err := fs.ReadFile(os.DirFS(path), sname)
					if err != nil {
						errs = append(errs, &Error{File: spath, Msg: err.Error()})
						continue
					}
					sources[name][sname] = source{spath, string(b)}
					overrides = append(overrides, spath)
				}
				if added {
					complete := true
					for _, f := range localisedFiles() {
						if _, ok := sources[name][f]; !ok {
							complete = false
							errs = append(errs, &Error{File: filepath.Join(path, f), Msg: "missing: a language that is not built in needs every file of " + strings.Join(Localised(), ", ")})
						}
					}
					if !complete {
						delete(sources, name)
					}
				}
				continue
			}
			if _, ok := sources[DefaultLanguage][name]; !ok {
				errs = append(errs, &Error{File: path, Msg: unknownFileMsg(name, Files())})
				continue
			}
			b, err := fs.ReadFile(os.DirFS(overrideDir), name)
			if err != nil {
				errs = append(errs, &Error{File: path, Msg: err.Error()})
				continue
			}
			sources[DefaultLanguage][name] = source{path, string(b)}
			overrides = append(overrides, path)
		}
	}
	s := &Set{byLang: make(map[string]map[string]set), lang: DefaultLanguage, overrides: overrides}
	broken := make(map[string]bool) // "lang/name"
	for _, lang := range sortedKeys(sources) {
		l := newLocale(lang)
		s.byLang[lang] = make(map[string]set)
		for _, n := range Names() {
			if lang != DefaultLanguage && !isLocalised(n) {
				continue
			}
			var ts set
			var err error
			src := sources[lang][n+partSubject]
			if ts.subject, err = texttemplate.New(src.shown).Funcs(funcs(l)).Option("missingkey=error").Parse(src.body); err != nil {
				errs = append(errs, templateError(src.shown, err))
				broken[lang+"/"+n] = true
			}
			src = sources[lang][n+partText]
			if ts.text, err = texttemplate.New(src.shown).Funcs(funcs(l)).Option("missingkey=error").Parse(src.body); err != nil {
				errs = append(errs, templateError(src.shown, err))
				broken[lang+"/"+n] = true
			}
			src = sources[lang][n+partHTML]
			if ts.html, err = htmltemplate.New(src.shown).Funcs(funcs(l)).Option("missingkey=error").Parse(src.body); err != nil {
				errs = append(errs, templateError(src.shown, err))
				broken[lang+"/"+n] = true
			}
			s.byLang[lang][n] = ts
		}
	}

	// Render what parsed, so that one run reports every problem.
	for _, lang := range sortedKeys(s.byLang) {
		ls := s.In(lang)
		for _, n := range Names() {
			if broken[lang+"/"+n] || (lang != DefaultLanguage && !isLocalised(n)) {
				continue
			}
			for _, d := range samples(n) {
				if _, err := ls.Render(n, d); err != nil {
					errs = append(errs, err)
					break // the same fault would repeat with the next sample
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// localisedFiles are the file names of the Localised templates, sorted.
func localisedFiles() []string {
	var files []string
	for _, n := range Localised() {
		files = append(files, n+partSubject, n+partText, n+partHTML)
	}
	slices.Sort(files)
	return files
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Languages lists the languages the Localised templates exist in, sorted.
func (s *Set) Languages() []string {
	return sortedKeys(s.byLang)
}

// In returns the same templates rendering in lang (a base language code
// such as "de"); a language without templates keeps the receiver's. Only
// the Localised templates have languages; the others are always in
// DefaultLanguage.
func (s *Set) In(lang string) *Set {
	if s.err != nil || s.byLang[lang] == nil || lang == s.lang {
		return s
	}
	c := *s
	c.lang = lang
	return &c
}

// Language is the language In chose.
func (s *Set) Language() string { return s.lang }

// ReplySubject is ReplySubject in the set's language: an empty subject
// is that language's "(no subject)".
func (s *Set) ReplySubject(subject, ref string) string {
	none := noSubject
	if l, ok := layouts[s.lang]; ok && l.noSubject != "" {
		none = l.noSubject
	}
	return replySubjectOr(subject, ref, none)
}

// unknownFileMsg explains a file name Load does not know, suggesting the
// closest known one: a typo must not silently do nothing.
func unknownFileMsg(name string, known []string) string {
	best, bestD := "", 4
	for _, f := range known {
		if d := editDistance(name, f); d < bestD {
			best, bestD = f, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown template file %q (did you mean %q?)", name, best)
	}
	return fmt.Sprintf("unknown template file %q (known: %s)", name, strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Default returns the embedded templates. They are known-good (a test
// renders every one), so it does not fail; should that ever be broken, the
// returned Set reports the load error from every Render instead of
// panicking.
func Default() *Set {
	s, err := Load("")
	if err != nil {
		return &Set{err: fmt.Errorf("load default templates: %w", err)}
	}
	return s
}

// Overrides lists the override files in use, as paths.
func (s *Set) Overrides() []string {
	return slices.Clone(s.overrides)
}

// Render renders the template name with data, which must be the type that
// name takes (Receipt for "receipt" …), as a value or a pointer.
func (s *Set) Render(name string, data any) (Rendered, error) {
	if s.err != nil {
		return Rendered{}, s.err
	}
	lang := s.lang
	if !isLocalised(name) {
		lang = DefaultLanguage
	}
	ts, ok := s.byLang[lang][name]
	want := dataTypes[name]
	if !ok || want == nil {
		return Rendered{}, fmt.Errorf("render %q: no such template", name)
	}
	v := reflect.ValueOf(data)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() || v.Type() != want {
		return Rendered{}, fmt.Errorf("render %s: data is %T, want %v", name, data, want)
	}
	data = v.Interface()

	var subj, text, html strings.Builder
	if err := ts.subject.Execute(&subj, data); err != nil {
		return Rendered{}, templateError(ts.subject.Name(), err)
	}
	if err := ts.text.Execute(&text, data); err != nil {
		return Rendered{}, templateError(ts.text.Name(), err)
	}
	if err := ts.html.Execute(&html, data); err != nil {
		return Rendered{}, templateError(ts.html.Name(), err)
	}
	r := Rendered{
		Subject: capSubject(OneLine(subj.String())),
		Text:    finishText(text.String()),
		HTML:    strings.TrimSpace(cleanBody(html.String())) + "\n",
	}
	switch {
	case r.Subject == "":
		return Rendered{}, &Error{File: ts.subject.Name(), Msg: "rendered an empty subject"}
	case strings.TrimSpace(r.Text) == "":
		return Rendered{}, &Error{File: ts.text.Name(), Msg: "rendered an empty text part"}
	case strings.TrimSpace(r.HTML) == "":
		return Rendered{}, &Error{File: ts.html.Name(), Msg: "rendered an empty HTML part"}
	}
	return r, nil
}

// Receipt renders the acknowledgement to the requester.
func (s *Set) Receipt(d Receipt) (Rendered, error) { return s.Render(NameReceipt, d) }

// Escalation renders the notice to staff or leads.
func (s *Set) Escalation(d Escalation) (Rendered, error) { return s.Render(NameEscalation, d) }

// LateNotice renders the mail telling the requester the date will slip.
func (s *Set) LateNotice(d LateNotice) (Rendered, error) { return s.Render(NameLateNotice, d) }

// DueUpdate renders the mail giving the requester a new expected date.
func (s *Set) DueUpdate(d DueUpdate) (Rendered, error) { return s.Render(NameDueUpdate, d) }

// Handover renders the mail telling the requester which department has
// their request now (#forward), its new reference and date.
func (s *Set) Handover(d Handover) (Rendered, error) { return s.Render(NameHandover, d) }

// Closing renders the mail telling the requester the request is resolved.
func (s *Set) Closing(d Closing) (Rendered, error) { return s.Render(NameClosing, d) }

// RatingThanks renders the thanks for an answer to "how did we do?".
func (s *Set) RatingThanks(d RatingThanks) (Rendered, error) { return s.Render(NameRatingThanks, d) }

// CommandHelp renders the reply to staff listing the valid commands.
func (s *Set) CommandHelp(d CommandHelp) (Rendered, error) { return s.Render(NameCommandHelp, d) }

// Unproven renders the notice to a staff member that a mail in their name
// was not acted on.
func (s *Set) Unproven(d Unproven) (Rendered, error) { return s.Render(NameUnproven, d) }

// OwnerNotice renders the mail telling a request's owner that someone
// else answered or took it.
func (s *Set) OwnerNotice(d OwnerNotice) (Rendered, error) { return s.Render(NameOwnerNotice, d) }

// IncidentAlert renders the mail telling the leads of a burst of requests
// alike.
func (s *Set) IncidentAlert(d IncidentAlert) (Rendered, error) { return s.Render(NameIncidentAlert, d) }
