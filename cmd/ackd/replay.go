package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// replayed is one stored request decided again.
type replayed struct {
	req   store.Request
	old   mailwatch.DecideInput // what was decided when it arrived
	new   rules.Decision        // what the new config decides
	exact bool                  // old came from the stored input, not rebuilt
}

// changes lists, in words, what the new decision changes; none means the
// request would be handled as it was.
func (r replayed) changes(loc *time.Location) []string {
	var out []string
	if !r.new.Reply {
		return []string{"no receipt: " + r.new.Reason}
	}
	if r.req.Category != r.new.Category {
		out = append(out, fmt.Sprintf("category %s → %s", r.req.Category, r.new.Category))
	}
	if r.req.Rule != r.new.Rule {
		out = append(out, fmt.Sprintf("rule %s → %s", ruleName(r.req.Rule), ruleName(r.new.Rule)))
	}
	newCommit := ""
	if !r.new.Commitment.IsZero() {
		newCommit = r.new.Commitment.String()
	}
	if r.exact && r.old.Commitment != newCommit {
		out = append(out, fmt.Sprintf("commitment %s → %s", orNone(r.old.Commitment), orNone(newCommit)))
	}
	if !r.old.Due.Equal(r.new.DueAt) && (r.exact || !r.old.Due.IsZero()) {
		out = append(out, fmt.Sprintf("due %s → %s", when(r.old.Due, loc), when(r.new.DueAt, loc)))
	}
	return out
}

func ruleName(s string) string {
	if s == "" {
		return "(default)"
	}
	return `"` + s + `"`
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "none"
	}
	return t.In(loc).Format("Mon 2 Jan 15:04")
}

// cmdReplay decides the stored requests again with another config and
// prints every request whose handling would change, by ref, and only
// those; then what moves per category and the commitment record the
// period would have had. It opens the store read-only.
func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", stderr)
	path := fs.String("c", "config.yaml", "the config to try (its store: is the one read)")
	sinceFlag := fs.String("since", "30d", "replay the requests received this far back")
	at := fs.String("at", "", "the time to assume (RFC 3339), default now")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	window, err := parseSince(*sinceFlag)
	if err != nil {
		fmt.Fprintln(stderr, "ackd replay:", err)
		return 2
	}
	now, err := parseAt(*at)
	if err != nil {
		fmt.Fprintln(stderr, "ackd replay:", err)
		return 2
	}
	cfg, set, st, code := loadReadOnly(ctx, "replay", *path, stderr)
	if code != 0 {
		return code
	}
	defer st.Close()
	since := now.Add(-window)
	for _, d := range cfg.Departments {
		if err := replayDept(ctx, stdout, st, set, d, since, now, window); err != nil {
			fmt.Fprintln(stderr, "ackd replay:", err)
			return 1
		}
	}
	return 0
}

func replayDept(ctx context.Context, w io.Writer, st store.Store, set *rules.Set, d *config.Department, since, now time.Time, window time.Duration) error {
	reqs, err := st.RequestsSince(ctx, d.Key(), since)
	if err != nil {
		return err
	}
	inputs, err := st.DecideInputs(ctx, d.Key(), since)
	if err != nil {
		return err
	}
	loc := d.Calendar.Location()
	fmt.Fprintf(w, "%s: %d request(s) since %s\n", d.Name, len(reqs), since.In(loc).Format("2006-01-02 15:04"))
	var (
		all     []replayed
		changed int
		rebuilt int
	)
	for _, r := range reqs {
		in, exact, err := mailwatch.StoredInput(r, d.Address, inputs[r.ID])
		if err != nil {
			return err
		}
		dec := set.Decide(d, in.Message, r.ReceivedAt)
		if mailwatch.Forwarded(r) {
			// Moved here by #forward: classified by this department's
			// rules, not addressed to it.
			dec = mailwatch.ForwardedDecision(set, d, in.Message, r.ReceivedAt)
		}
		x := replayed{req: r, old: in, new: dec, exact: exact}
		all = append(all, x)
		if !exact {
			rebuilt++
		}
		ch := x.changes(loc)
		if len(ch) == 0 {
			continue
		}
		changed++
		note := ""
		if !exact {
			note = " (approximate: recorded before ackd kept the full message)"
		}
		fmt.Fprintf(w, "  %s  %s: %s%s\n", r.Ref, mailtext.Clip(r.Subject, 40), strings.Join(ch, "; "), note)
	}
	fmt.Fprintf(w, "  %d of %d would change", changed, len(reqs))
	if rebuilt > 0 {
		fmt.Fprintf(w, "; %d decided from their stored excerpt only (no headers)", rebuilt)
	}
	fmt.Fprintln(w)
	moves, err := replaySkipped(ctx, w, st, set, d, since)
	if err != nil {
		return err
	}
	for _, x := range all {
		newCat := x.new.Category
		if !x.new.Reply {
			newCat = noReceipt
		}
		moves = append(moves, [2]string{x.req.Category, newCat})
	}
	printCategoryMoves(w, moves)
	return printRecords(ctx, w, st, d, all, now, window)
}

// noReceipt stands for "skipped" among the categories replay counts.
const noReceipt = "(no receipt)"

// replaySkipped decides again the messages of d that were skipped since
// since and kept what Decide saw, prints those that would now get a
// receipt, and returns each one's move, from noReceipt.
func replaySkipped(ctx context.Context, w io.Writer, st store.Store, set *rules.Set, d *config.Department, since time.Time) ([][2]string, error) {
	skipped, err := st.SkippedInputs(ctx, d.Key(), since)
	if err != nil {
		return nil, err
	}
	if len(skipped) == 0 {
		return nil, nil
	}
	loc := d.Calendar.Location()
	var moves [][2]string
	would, unreadable := 0, 0
	for _, sk := range skipped {
		var in mailwatch.DecideInput
		if err := json.Unmarshal([]byte(sk.DecideInput), &in); err != nil || in.Message == nil {
			unreadable++ // costs replay this message, said in the summary
			continue
		}
		dec := set.Decide(d, in.Message, sk.At)
		if !dec.Reply {
			moves = append(moves, [2]string{noReceipt, noReceipt})
			continue
		}
		would++
		moves = append(moves, [2]string{noReceipt, dec.Category})
		rule := ""
		if dec.Rule != "" {
			rule = `, rule "` + dec.Rule + `"`
		}
		fmt.Fprintf(w, "  skipped %s from %s  %s: would get a receipt, category %s%s, due %s (skipped then: %s)\n",
			sk.At.In(loc).Format("Mon 2 Jan 15:04"), sk.From, mailtext.Clip(sk.Subject, 40), dec.Category, rule, when(dec.DueAt, loc), sk.Reason)
	}
	fmt.Fprintf(w, "  %d of %d skipped messages would get a receipt (their text read up to 8 KiB)", would, len(skipped))
	if unreadable > 0 {
		fmt.Fprintf(w, "; %d not replayed: their stored input cannot be read", unreadable)
	}
	fmt.Fprintln(w)
	return moves, nil
}

// printCategoryMoves prints, per category, how many messages it had and
// would have, and how many leave and join it; each pair is a message's
// category before and after (noReceipt for skipped).
func printCategoryMoves(w io.Writer, pairs [][2]string) {
	type move struct{ before, after, out, in int }
	moves := map[string]*move{}
	get := func(c string) *move {
		if moves[c] == nil {
			moves[c] = &move{}
		}
		return moves[c]
	}
	for _, p := range pairs {
		oldCat, newCat := p[0], p[1]
		get(oldCat).before++
		get(newCat).after++
		if oldCat != newCat {
			get(oldCat).out++
			get(newCat).in++
		}
	}
	names := make([]string, 0, len(moves))
	for n := range moves {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m := moves[n]
		fmt.Fprintf(w, "  category %-16s %d → %d (%d out, %d in)\n", n, m.before, m.after, m.out, m.in)
	}
}

// printRecords prints the department's commitment record over the window
// as it is and as it would have been: the requests carry the new
// category and due time, those the new config would not acknowledge drop
// out, and a late notice sent about a due time that moved no longer
// counts (the request is judged by its response against the new due).
func printRecords(ctx context.Context, w io.Writer, st store.Store, d *config.Department, all []replayed, now time.Time, window time.Duration) error {
	reqs, evs, err := report.Gather(ctx, st, d.Key(), now, window)
	if err != nil {
		return err
	}
	before := report.Compute(reqs, evs, d, now, window)
	byID := make(map[int64]replayed, len(all))
	for _, x := range all {
		byID[x.req.ID] = x
	}
	moved := map[int64]bool{}
	var whatIf []store.Request
	for _, r := range reqs {
		x, ok := byID[r.ID]
		if !ok {
			whatIf = append(whatIf, r)
			continue
		}
		if !x.new.Reply {
			continue
		}
		if !x.new.DueAt.Equal(r.DueAt) {
			moved[r.ID] = true
			r.LateNoticeFor = time.Time{}
		}
		r.Category, r.Rule, r.DueAt = x.new.Category, x.new.Rule, x.new.DueAt
		whatIf = append(whatIf, r)
	}
	var whatIfEvs []store.Event
	for _, e := range evs {
		if moved[e.RequestID] && e.Kind == store.EventLateNotice {
			continue
		}
		whatIfEvs = append(whatIfEvs, e)
	}
	after := report.Compute(whatIf, whatIfEvs, d, now, window)
	fmt.Fprintln(w, "  commitment record (kept of judged): as it was → with this config")
	cats := map[string][2]report.Record{"": {before.Overall, after.Overall}}
	for _, r := range before.Categories {
		p := cats[r.Category]
		p[0] = r
		cats[r.Category] = p
	}
	for _, r := range after.Categories {
		p := cats[r.Category]
		p[1] = r
		cats[r.Category] = p
	}
	names := make([]string, 0, len(cats))
	for n := range cats {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		label := n
		if n == "" {
			label = "overall"
		}
		p := cats[n]
		fmt.Fprintf(w, "    %-20s %s → %s\n", label, keptText(p[0]), keptText(p[1]))
	}
	return nil
}

func keptText(r report.Record) string {
	if r.Judged() == 0 {
		return "none judged"
	}
	return fmt.Sprintf("%.0f%% (%d of %d)", r.KeptPercent(), r.Kept, r.Judged())
}
