package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// cmdDigest renders (--print) or queues (--send) the digest now. A sent
// digest is that day's digest: the daemon's scheduled one does not follow
// it, and a second --send the same day sends nothing unless --force.
func cmdDigest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("digest", stderr)
	path := fs.String("c", "config.yaml", "config file")
	print := fs.Bool("print", false, "print the digest (text part, then HTML)")
	send := fs.Bool("send", false, "queue the digest in the outbox; the running daemon sends it")
	force := fs.Bool("force", false, "with --send: send even if today's digest already went out")
	only := fs.String("department", "", "only this department")
	at := fs.String("at", "", "the time to assume (RFC 3339), default now")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *print == *send {
		fmt.Fprintln(stderr, "ackd digest: give exactly one of --print and --send")
		return 2
	}
	if *force && !*send {
		fmt.Fprintln(stderr, "ackd digest: --force goes with --send")
		return 2
	}
	now, err := parseAt(*at)
	if err != nil {
		fmt.Fprintln(stderr, "ackd digest:", err)
		return 2
	}
	cfg, st, ok := configAndStore(ctx, "digest", *path, stderr)
	if !ok {
		return 1
	}
	defer st.Close()
	tpl, err := templates.Load(cfg.Templates)
	if err != nil {
		fmt.Fprintln(stderr, "ackd digest:", err)
		return 1
	}
	found := false
	for _, d := range cfg.Departments {
		if *only != "" && d.Name != *only {
			continue
		}
		found = true
		ml, r, _, err := mailwatch.DigestMail(ctx, st, tpl, d, now)
		if err != nil {
			fmt.Fprintln(stderr, "ackd digest:", err)
			return 1
		}
		if *print {
			fmt.Fprintf(stdout, "Subject: %s\n\n%s\n%s", r.Subject, r.Text, r.HTML)
			continue
		}
		day := mailwatch.DigestDay(d, now)
		if *force {
			// On top of whatever went out today; the day's mark is left as is.
			if err := st.QueueMail(ctx, d.Key(), []store.NewMail{ml}); err != nil {
				fmt.Fprintln(stderr, "ackd digest:", err)
				return 1
			}
		} else {
			fresh, err := st.QueueDigest(ctx, d.Key(), day, []store.NewMail{ml})
			if err != nil {
				fmt.Fprintln(stderr, "ackd digest:", err)
				return 1
			}
			if !fresh {
				fmt.Fprintf(stdout, "%s: the digest for %s was already sent; nothing queued (--force sends another)\n", d.Name, day)
				continue
			}
		}
		fmt.Fprintf(stdout, "%s: digest for %s queued for %d recipients\n", d.Name, day, len(ml.Recipients))
	}
	if !found {
		fmt.Fprintf(stderr, "ackd digest: no department %q\n", *only)
		return 1
	}
	return 0
}

// parseAt reads an --at flag: RFC 3339, or now when empty.
func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 like 2026-03-16T08:30:00+01:00", s)
	}
	return t, nil
}
