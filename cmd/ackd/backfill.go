package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/rules"
)

// cmdBackfill is the dry run of a first start's backfill: it reads each
// department's INBOX read-only and says what ackd would do with every
// message of the window. It opens no store and sends nothing.
func cmdBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("backfill", stderr)
	path := fs.String("c", "config.yaml", "config file")
	sinceFlag := fs.String("since", "", "window to list, like 2d or 36h (default: the department's backfill)")
	deptFlag := fs.String("dept", "", "only this department (name or address)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var since time.Duration
	if *sinceFlag != "" {
		d, err := config.ParseAge(*sinceFlag)
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "ackd backfill: --since %q: want a positive duration like 2d or 36h\n", *sinceFlag)
			return 2
		}
		since = d
	}
	rt, ok := loadAll(*path, stderr)
	if !ok {
		return 1
	}
	cfg := rt.Config
	depts := cfg.Departments
	if *deptFlag != "" {
		d := findDept(cfg, *deptFlag)
		if d == nil {
			d = cfg.DepartmentByKey(strings.ToLower(*deptFlag))
		}
		if d == nil {
			fmt.Fprintf(stderr, "ackd backfill: --dept %q is not in %s\n", *deptFlag, *path)
			return 2
		}
		depts = []*config.Department{d}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	failed := false
	for _, d := range depts {
		window := since
		if window == 0 {
			window = d.Backfill
		}
		if window == 0 {
			fmt.Fprintf(stdout, "== %s <%s>: backfill is not set, so a first start answers nothing; --since lists a window anyway\n\n", d.Name, d.Address)
			continue
		}
		if err := backfillDept(ctx, stdout, rt, d, window, time.Now(), log); err != nil {
			fmt.Fprintf(stderr, "ackd backfill: %s: %v\n", d.Name, err)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// backfillDept lists one department's window.
func backfillDept(ctx context.Context, w io.Writer, rt *mailwatch.Runtime, d *config.Department, window time.Duration, now time.Time, log *slog.Logger) error {
	mb, err := mailwatch.DepartmentMailbox(rt.Config, d, log)
	if err != nil {
		return err
	}
	from := now.Add(-window)
	msgs, err := mailwatch.NewWatcher(mb, nil, nil, log).Window(ctx, from)
	if err != nil {
		return err
	}
	loc := d.Calendar.Location()
	fmt.Fprintf(w, "== %s <%s>: %s since %s (%s)\n", d.Name, d.Address, mb.Mailbox, from.In(loc).Format("Mon 2 Jan 2006 15:04 MST"), config.FormatAge(window))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "UID\tARRIVED\tFROM\tSUBJECT\tRECEIPT\tRULE\tCATEGORY\tDUE\tWHY\n")
	replies := 0
	for _, f := range msgs {
		c := backfillDecision(rt, d, f, now)
		reply, due, rule := "no", "-", c.Rule
		if c.Reply {
			reply, due = "yes", c.Due
			replies++
		}
		if rule == "" {
			rule = "-"
		}
		category := c.Category
		if category == "" {
			category = "-"
		}
		why := c.Reason
		if c.Refusal != "" {
			why = string(c.Refusal) + ": " + why
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.UID, f.InternalDate.In(loc).Format("2006-01-02 15:04"),
			mailtext.Clip(c.From, 40), mailtext.Clip(c.Subject, 50), reply, rule, category, due, mailtext.Clip(why, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d message(s), %d would get a receipt on a first start. Nothing was written or sent.\n\n", len(msgs), replies)
	return nil
}

// backfillDecision is what the daemon's processor would decide for f on a
// first start: too large, malformed and too old first, then Decide at the
// message's INTERNALDATE, exactly as `ackd classify --at` does. A first
// start knows no threads yet, so every message is judged as a new request.
func backfillDecision(rt *mailwatch.Runtime, d *config.Department, f mailwatch.Fetched, now time.Time) classification {
	cfg := rt.Config
	c := classification{File: f.Mailbox + "/" + strconv.FormatUint(uint64(f.UID), 10), Department: d.Name}
	refuse := func(code rules.Refusal, reason string) classification {
		c.Refusal, c.Reason = code, reason
		return c
	}
	if f.TooLarge {
		return refuse(rules.RefuseTooLarge, fmt.Sprintf("message of %d bytes exceeds max_message_bytes (%d)", f.Size, cfg.Limits.MaxMessageBytes))
	}
	m, err := parse.Parse(f.Raw, parse.Options{MaxBytes: cfg.Limits.MaxMessageBytes, MaxTextBytes: cfg.Limits.MaxTextBytes})
	if err != nil {
		code := rules.RefuseMalformed
		if errors.Is(err, parse.ErrTooLarge) {
			code = rules.RefuseTooLarge
		}
		return refuse(code, "malformed message: "+err.Error())
	}
	c.From, c.Subject = m.From.Address, m.Subject
	if d.TooOld(f.InternalDate, now) {
		return refuse(rules.RefuseTooOld, fmt.Sprintf("more than max_age (%s) ago", config.FormatAge(d.MaxAgeOrDefault())))
	}
	return classifyMessage(c, rt.Templates, d, m, rt.Rules.Decide(d, m, f.InternalDate), f.InternalDate, 0)
}
