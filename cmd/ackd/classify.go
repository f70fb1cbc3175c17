package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/forecast"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// classification is one line of `ackd classify --json`. The keys the
// contract names (file, reply, reason, rule, category, due) are always
// present, empty when they do not apply, so scripts need not guess.
type classification struct {
	File       string         `json:"file"`
	Department string         `json:"department,omitempty"`
	Reply      bool           `json:"reply"`
	Reason     string         `json:"reason"`
	Refusal    rules.Refusal  `json:"refusal,omitempty"`
	Rule       string         `json:"rule"`
	Category   string         `json:"category"`
	Commitment string         `json:"commitment,omitempty"`
	Received   string         `json:"received,omitempty"`
	Due        string         `json:"due"`
	From       string         `json:"from,omitempty"`
	Subject    string         `json:"subject,omitempty"`
	Receipt    *receiptJSON   `json:"receipt,omitempty"`
	Error      string         `json:"error,omitempty"`
	decision   rules.Decision `json:"-"`

	// Promise and Forecast, for a category with promise: forecast: the
	// date the receipt gives and the forecast's inputs and outcome.
	Promise  string   `json:"promise,omitempty"`
	Forecast []string `json:"forecast,omitempty"`

	// Language is the language of the receipt, LanguageWhy why.
	Language    string `json:"language,omitempty"`
	LanguageWhy string `json:"language_reason,omitempty"`
	// AskFor are the ask_for lines the receipt carries; Present the ones
	// left out because the request already holds them.
	AskFor  []string `json:"ask_for,omitempty"`
	Present []string `json:"ask_for_present,omitempty"`
}

type receiptJSON struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// placeholderRef stands in for the reference the store assigns when a
// request is recorded; classify records nothing.
const placeholderRef = "REQ-n"

func cmdClassify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("classify", stderr)
	path := fs.String("c", "config.yaml", "config file")
	atFlag := fs.String("at", "", "arrival time to assume (RFC 3339), default now")
	asJSON := fs.Bool("json", false, "print one JSON object per file")
	deptFlag := fs.String("department", "", "department to decide for (default: the one the message is addressed to)")
	ahead := fs.Int("ahead", 0, "for a category with promise: forecast, the open requests to assume ahead (classify reads no store)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "ackd classify: name at least one message file")
		return 2
	}
	at := time.Now()
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			fmt.Fprintf(stderr, "ackd classify: --at %q: want RFC 3339, e.g. 2026-12-01T10:00:00+01:00\n", *atFlag)
			return 2
		}
		at = t
	}
	rt, ok := loadAll(*path, stderr)
	if !ok {
		return 1
	}
	cfg := rt.Config
	if *deptFlag != "" && findDept(cfg, *deptFlag) == nil {
		fmt.Fprintf(stderr, "ackd classify: --department %q is not in %s\n", *deptFlag, *path)
		return 2
	}
	failed := false
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, file := range fs.Args() {
		c := classifyFile(rt, file, *deptFlag, at, *ahead)
		if c.Error != "" {
			failed = true
			fmt.Fprintf(stderr, "%s: %s\n", file, c.Error)
		}
		if *asJSON {
			if err := enc.Encode(c); err != nil {
				fmt.Fprintln(stderr, "ackd classify:", err)
				return 1
			}
			continue
		}
		if c.Error == "" {
			printClassification(stdout, c)
		}
	}
	if failed {
		return 2
	}
	return 0
}

func classifyFile(rt *mailwatch.Runtime, file, deptName string, at time.Time, ahead int) classification {
	cfg := rt.Config
	c := classification{File: file}
	raw, err := os.ReadFile(file)
	if err != nil {
		c.Error = fmt.Sprintf("read: %v", err)
		return c
	}
	m, err := parse.Parse(raw, parse.Options{MaxBytes: cfg.Limits.MaxMessageBytes, MaxTextBytes: cfg.Limits.MaxTextBytes})
	if err != nil {
		c.Error = fmt.Sprintf("parse: %v", err)
		return c
	}
	var dept *config.Department
	if deptName != "" {
		dept = findDept(cfg, deptName)
	} else {
		dept = rules.AddressedDepartment(cfg, m)
	}
	return classifyMessage(c, rt.Templates, dept, m, rt.Rules.Decide(dept, m, at), at, ahead)
}

// classifyMessage fills c with decision d on m, and the receipt it
// would send.
func classifyMessage(c classification, tpl *templates.Set, dept *config.Department, m *rules.Message, d rules.Decision, at time.Time, ahead int) classification {
	c.decision = d
	c.Department, c.Reply, c.Reason, c.Refusal = dept.Name, d.Reply, d.Reason, d.Refusal
	c.Rule, c.Category, c.From, c.Subject = d.Rule, d.Category, m.From.Address, m.Subject
	if !d.Commitment.IsZero() {
		c.Commitment = d.Commitment.String()
	}
	c.Received = at.In(dept.Calendar.Location()).Format(time.RFC3339)
	if d.Reply {
		loc := dept.Calendar.Location()
		c.Due = d.DueAt.In(loc).Format(time.RFC3339)
		due, later := d.DueAt, false
		if cat := dept.Categories[d.Category]; cat != nil && cat.Promise == config.PromiseForecast && !d.DueAt.IsZero() {
			// No store: the record is empty (the default rate) and the
			// queue is what --ahead says.
			in := forecast.Assemble(report.Desk(dept, nil), nil, at, d.DueAt)
			in.Ahead = ahead
			f := forecast.Expect(in)
			due, later = f.Promise, f.Later
			c.Promise = f.Promise.In(loc).Format(time.RFC3339)
			c.Forecast = append([]string{"(classify reads no store: the queue is --ahead, the record empty)"}, f.Lines(loc)...)
		}
		c.Language, c.LanguageWhy = d.Language, d.LanguageReason
		c.AskFor, c.Present = d.AskFor, d.Present
		r, err := tpl.In(d.Language).Receipt(templates.Receipt{
			Department: dept.Name, DepartmentAddress: dept.Address,
			Requester: templates.Person{Name: m.From.Name, Address: m.From.Address},
			Subject:   m.Subject, Ref: placeholderRef, Category: d.Category, Commitment: d.Commitment.String(),
			Received: d.ReceivedAt, Due: due, Forecast: later, Location: loc,
			AskFor: d.AskFor, Links: mailwatch.ReceiptLinks(d),
		})
		if err != nil {
			c.Error = fmt.Sprintf("render receipt: %v", err)
			return c
		}
		c.Receipt = &receiptJSON{Subject: r.Subject, Text: r.Text}
	}
	return c
}

func findDept(cfg *config.Config, name string) *config.Department {
	for _, d := range cfg.Departments {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}

func printClassification(w io.Writer, c classification) {
	fmt.Fprintf(w, "== %s\n", c.File)
	fmt.Fprintf(w, "department: %s\nfrom:       %s\nsubject:    %s\n", c.Department, c.From, c.Subject)
	if !c.Reply {
		fmt.Fprintf(w, "reply:      no (%s)\n", c.Reason)
		if c.Refusal != "" {
			fmt.Fprintf(w, "refusal:    %s\n", c.Refusal)
		}
		fmt.Fprintln(w)
		return
	}
	rule := c.Rule
	if rule == "" {
		rule = "(none: default category)"
	}
	fmt.Fprintf(w, "reply:      yes (%s)\nrule:       %s\ncategory:   %s (commitment %s)\nreceived:   %s\ndue:        %s\nlanguage:   %s (%s)\n",
		c.Reason, rule, c.Category, c.Commitment, c.Received, c.Due, c.Language, c.LanguageWhy)
	for _, a := range c.AskFor {
		fmt.Fprintf(w, "asks for:   %s\n", a)
	}
	for _, a := range c.Present {
		fmt.Fprintf(w, "has:        %s (left out)\n", a)
	}
	if c.Promise != "" {
		fmt.Fprintf(w, "promise:    %s (promise: forecast)\n", c.Promise)
		for _, l := range c.Forecast {
			fmt.Fprintf(w, "  forecast: %s\n", l)
		}
	}
	if c.Receipt != nil {
		fmt.Fprintf(w, "\n--- receipt ---\nSubject: %s\n\n%s\n", c.Receipt.Subject, strings.TrimRight(c.Receipt.Text, "\n"))
	}
	fmt.Fprintln(w)
}
