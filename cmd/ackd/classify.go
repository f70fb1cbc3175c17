package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/parse"
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
		c := classifyFile(rt, file, *deptFlag, at)
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

func classifyFile(rt *mailwatch.Runtime, file, deptName string, at time.Time) classification {
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
		dept = addressedDept(cfg, m)
	}
	return classifyMessage(c, rt.Templates, dept, m, rt.Rules.Decide(dept, m, at), at)
}

// classifyMessage fills c with decision d on m, and the receipt it
// would send.
func classifyMessage(c classification, tpl *templates.Set, dept *config.Department, m *rules.Message, d rules.Decision, at time.Time) classification {
	c.decision = d
	c.Department, c.Reply, c.Reason, c.Refusal = dept.Name, d.Reply, d.Reason, d.Refusal
	c.Rule, c.Category, c.From, c.Subject = d.Rule, d.Category, m.From.Address, m.Subject
	if !d.Commitment.IsZero() {
		c.Commitment = d.Commitment.String()
	}
	c.Received = at.In(dept.Calendar.Location()).Format(time.RFC3339)
	if d.Reply {
		c.Due = d.DueAt.In(dept.Calendar.Location()).Format(time.RFC3339)
		r, err := tpl.Receipt(templates.Receipt{
			Department: dept.Name, DepartmentAddress: dept.Address,
			Requester: templates.Person{Name: m.From.Name, Address: m.From.Address},
			Subject:   m.Subject, Ref: placeholderRef, Category: d.Category, Commitment: d.Commitment.String(),
			Received: d.ReceivedAt, Due: d.DueAt, Location: dept.Calendar.Location(),
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

// addressedDept picks the department a message names in its recipient
// headers, else the first one (whose loop protection then says the message
// does not name it).
func addressedDept(cfg *config.Config, m *rules.Message) *config.Department {
	var addrs []string
	for _, a := range append(append([]rules.Address{}, m.To...), m.Cc...) {
		addrs = append(addrs, a.Address)
	}
	for _, h := range []string{"Delivered-To", "X-Original-To"} {
		addrs = append(addrs, m.Values(h)...)
	}
	for _, d := range cfg.Departments {
		for _, a := range addrs {
			if rules.EqualAddress(strings.Trim(a, "<> "), d.Address) {
				return d
			}
			for _, alias := range d.Aliases {
				if rules.EqualAddress(strings.Trim(a, "<> "), alias) {
					return d
				}
			}
		}
	}
	return cfg.Departments[0]
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
	fmt.Fprintf(w, "reply:      yes (%s)\nrule:       %s\ncategory:   %s (commitment %s)\nreceived:   %s\ndue:        %s\n",
		c.Reason, rule, c.Category, c.Commitment, c.Received, c.Due)
	if c.Receipt != nil {
		fmt.Fprintf(w, "\n--- receipt ---\nSubject: %s\n\n%s\n", c.Receipt.Subject, strings.TrimRight(c.Receipt.Text, "\n"))
	}
	fmt.Fprintln(w)
}
