package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// This file is the I/O of working as a team (issue 15): who is away, read
// before a step and written after it, and the owner a new request gets
// under the department's assign mode. The choices are the lifecycle's.

// awayAt lists who of dept is away at t, for lifecycle.Request.Away.
func awayAt(ctx context.Context, st store.Store, dept string, t time.Time) ([]string, error) {
	list, err := st.AwayAt(ctx, dept, t)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out, nil
}

// storeAway writes what a transition says of who is away.
func storeAway(ctx context.Context, st store.Store, dept string, changes []lifecycle.AwayChange, at time.Time) error {
	for _, c := range changes {
		var err error
		if c.Until.IsZero() {
			err = st.ClearAway(ctx, dept, c.Address)
		} else {
			err = st.SetAway(ctx, store.Away{Dept: dept, Address: c.Address, Until: c.Until, Reason: c.Reason, SetAt: at})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// assignNew gives a new request its owner under d's assign mode
// (lifecycle.PickOwner), skipping who is away, and moves the round-robin
// cursor. A request nobody can take (everyone away) stays unowned: the
// first staff answer or #take will own it.
func (p *Processor) assignNew(ctx context.Context, d *config.Department, req store.Request, at time.Time) (store.Request, error) {
	if d.Assign == config.AssignNone || req.AssignedTo != "" {
		return req, nil
	}
	dept := d.Key()
	away, err := awayAt(ctx, p.store, dept, at)
	if err != nil {
		return req, fmt.Errorf("assign %s: %w", req.Ref, err)
	}
	last, err := p.store.AssignCursor(ctx, dept)
	if err != nil {
		return req, fmt.Errorf("assign %s: %w", req.Ref, err)
	}
	open := map[string]int{}
	if d.Assign == config.AssignLeastOpen {
		reqs, err := p.store.OpenRequests(ctx, dept)
		if err != nil {
			return req, fmt.Errorf("assign %s: %w", req.Ref, err)
		}
		for _, r := range reqs {
			if r.AssignedTo != "" && r.ID != req.ID {
				open[strings.ToLower(r.AssignedTo)]++
			}
		}
	}
	owner := lifecycle.PickOwner(d, last, open, away)
	if owner == "" {
		return req, nil
	}
	got, err := p.store.Apply(ctx, store.Change{RequestID: req.ID,
		Events: []store.Event{{Kind: store.EventAssigned, At: at, Detail: owner + " (" + d.Assign.String() + ")"}},
		Update: func(r *store.Request) ([]store.NewMail, error) {
			if r.AssignedTo != "" {
				return nil, store.ErrNoChange
			}
			r.AssignedTo = owner
			return nil, nil
		}})
	if err != nil {
		return req, fmt.Errorf("assign %s to %s: %w", req.Ref, owner, err)
	}
	if d.Assign == config.AssignRoundRobin {
		if err := p.store.SetAssignCursor(ctx, dept, owner); err != nil {
			return got, fmt.Errorf("assign %s: %w", req.Ref, err)
		}
	}
	return got, nil
}

// awayCommand handles a mail from staff or a lead, on no request's thread,
// that holds only #away or #back (and perhaps a greeting): ok says it was
// one, and why says what became of it, for the skipped record; err is
// a store failure (the message is tried again). It is acted
// on only with proof (aligned authentication, see rules.AuthProof); a
// fresh mail names no thread-only Message-ID. Either way it is no request.
func (p *Processor) awayCommand(ctx context.Context, d *config.Department, m *rules.Message, at time.Time) (string, bool, error) {
	from := m.From.Address
	if !lifecycle.InStaff(d, from) {
		return "", false, nil
	}
	cmds, unknown, stripped := rules.ParseCommands(m.Text, d.Calendar, at)
	if len(cmds) == 0 || len(unknown) > 0 || !rules.SignOffOnly(rules.StripQuoted(stripped), m.From.Name, from, d.Name) {
		return "", false, nil
	}
	for _, c := range cmds {
		if c.Kind != rules.CommandAway && c.Kind != rules.CommandBack {
			return "", false, nil
		}
	}
	how, proven := rules.AuthProof(d, m)
	if !proven {
		return "#away/#back from " + from + " not acted on: " + how, true, nil
	}
	c := cmds[len(cmds)-1] // the last one written counts
	ch := lifecycle.AwayChange{Address: strings.ToLower(from), Reason: c.Raw}
	if c.Kind == rules.CommandAway {
		ch.Until = c.Due
		if ch.Until.IsZero() {
			ch.Until = at.Add(lifecycle.AwayDefault)
		}
	}
	if err := storeAway(ctx, p.store, d.Key(), []lifecycle.AwayChange{ch}, at); err != nil {
		return "", false, fmt.Errorf("record %s from %s: %w", c.Raw, from, err)
	}
	return c.Raw + " from " + from + " (" + how + ")", true, nil
}

// fanOut passes what staff did on a parent request to every open request
// linked under it, each in its own thread. It runs once the parent's
// change is stored (the message is then processed and will not come
// again), so a child that cannot be planned or stored is logged and the
// others still get it.
func (p *Processor) fanOut(ctx context.Context, rt *Runtime, d *config.Department, e lifecycle.ParentAnswer, at time.Time) {
	kids, err := p.store.LinkedRequests(ctx, d.Key(), e.Parent)
	if err != nil {
		p.log.Error("requests linked under a parent were not told", "dept", d.Name, "ref", e.Parent, "err", err)
		return
	}
	for _, kid := range kids {
		if err := p.passOn(ctx, rt, d, kid, e, at); err != nil {
			p.log.Error("a linked request was not told of its parent", "dept", d.Name, "ref", kid.Ref, "parent", e.Parent, "err", err)
		}
	}
	if len(kids) > 0 {
		p.kick()
	}
}

func (p *Processor) passOn(ctx context.Context, rt *Runtime, d *config.Department, kid store.Request, e lifecycle.ParentAnswer, at time.Time) error {
	for attempt := 0; ; attempt++ {
		t := lifecycle.Step(d, toLife(kid), e, at)
		mails, err := renderAll(rt, d, t.Mail, p.composeTime(at))
		if err != nil {
			return err
		}
		_, err = applyTransition(ctx, p.store, kid, t, mails, "", nil, nil)
		if errors.Is(err, store.ErrStale) && attempt < 5 {
			if kid, err = p.store.RequestByID(ctx, kid.ID); err != nil {
				return err
			}
			continue
		}
		if err == nil {
			p.log.Info("passed on", "dept", d.Name, "from", e.Parent, "ref", kid.Ref, "what", t.What)
		}
		return err
	}
}

// burst is what the requests alike before a new one say about it.
type burst struct {
	alike   []store.Request // recent requests alike, within incident.within, oldest first
	alerted bool            // the leads were already told of this burst
	parent  store.Request   // the request whose #incident text applies, if any
	text    string          // that text; "" when none
}

// incidentLookback is how far back an #incident text still reaches new
// requests alike: an outage outlasts the burst that revealed it.
const incidentLookback = 4 * time.Hour

// burstCandidates is how many of the newest requests a burst check reads:
// many times any sensible incident.count, and bounded, so a backlog costs
// each request the same.
const burstCandidates = 200

// burstOf finds the recent requests of d alike a new one (subject, rule)
// arriving at at, whether the leads heard of them, and the latest
// #incident text set on one of them or on the request they are linked
// under.
func (p *Processor) burstOf(ctx context.Context, d *config.Department, subject, rule string, at time.Time) (burst, error) {
	var b burst
	if d.Incident.Count <= 1 {
		return b, nil
	}
	// Only the newest requests count: a burst shows in the last few, and
	// reading the whole window made every request of a backlog of n cost
	// O(n) rows (5,000 requests took 344 s to record).
	since := at.Add(-max(d.Incident.Within, incidentLookback))
	// Requests already recorded may carry a later received time than this
	// one: mail reaches the mailbox out of the order of its Date headers
	// (a second apart, two senders). They are still the same burst, so an
	// alert sent for one of them covers this one too.
	alikeTo := p.subjects.AlikeTo(rule, subject)
	alike, err := p.store.LatestRequests(ctx, d.Key(), since, burstCandidates, func(r store.Request) bool {
		return !r.ReceivedAt.After(at.Add(d.Incident.Within)) && alikeTo(r.Rule, r.Subject)
	})
	if err != nil {
		return b, fmt.Errorf("look for a burst: %w", err)
	}
	ids := make([]int64, 0, len(alike))
	for _, r := range alike {
		ids = append(ids, r.ID)
	}
	evs, err := p.store.EventsOfKinds(ctx, ids, []string{lifecycle.EntryIncident, lifecycle.EntryIncidentAlert})
	if err != nil {
		return b, fmt.Errorf("look for a burst: %w", err)
	}
	byReq := map[int64][]store.Event{}
	for _, e := range evs {
		byReq[e.RequestID] = append(byReq[e.RequestID], e)
	}
	var textAt time.Time
	consider := func(r store.Request, evs []store.Event) {
		for _, e := range evs {
			if e.Kind == lifecycle.EntryIncident && e.Detail != "" && !e.At.Before(textAt) {
				b.parent, b.text, textAt = r, e.Detail, e.At
			}
		}
	}
	parents := map[string]bool{}
	// Oldest first, as the alert lists them.
	slices.Reverse(alike)
	for _, r := range alike {
		if !r.ReceivedAt.Before(at.Add(-d.Incident.Within)) {
			// Counted only up to at, so a burst is still count within one
			// window; told of within a window either side.
			if !r.ReceivedAt.After(at) {
				b.alike = append(b.alike, r)
			}
			for _, e := range byReq[r.ID] {
				if e.Kind == lifecycle.EntryIncidentAlert {
					b.alerted = true
				}
			}
		}
		if r.State != store.StateResolved {
			consider(r, byReq[r.ID])
		}
		if r.ParentRef != "" {
			parents[r.ParentRef] = true
		}
	}
	for ref := range parents {
		if len(parents) > 5 {
			break // a handful of parents is an incident; more is noise
		}
		pr, err := p.store.RequestByRef(ctx, d.Key(), ref)
		if err != nil || pr.State == store.StateResolved {
			continue
		}
		pevs, err := p.store.Events(ctx, pr.ID)
		if err != nil {
			return b, fmt.Errorf("look for a burst: %w", err)
		}
		consider(pr, pevs)
	}
	// The text's request may itself be linked: link under its parent.
	if b.parent.ParentRef != "" {
		if pr, err := p.store.RequestByRef(ctx, d.Key(), b.parent.ParentRef); err == nil && pr.State != store.StateResolved {
			b.parent = pr
		}
	}
	return b, nil
}

// joinBurst links a new request under the request whose #incident text
// its receipt quoted, or, when it completes a burst nobody was told of,
// tells the leads once.
func (p *Processor) joinBurst(ctx context.Context, rt *Runtime, d *config.Department, req store.Request, b burst, at time.Time) (store.Request, error) {
	switch {
	case b.text != "" && b.parent.ID != 0 && b.parent.ID != req.ID:
		return p.store.Apply(ctx, store.Change{RequestID: req.ID,
			Events: []store.Event{{Kind: lifecycle.EntryLinked, At: at, Detail: b.parent.Ref + " (#incident)"}},
			Update: func(r *store.Request) ([]store.NewMail, error) {
				r.ParentRef = b.parent.Ref
				life := toLife(*r)
				r.NextWake = lifecycle.NextWake(d, life)
				return nil, nil
			}})
	case b.alerted || !lifecycle.IsBurst(d, len(b.alike)+1):
		return req, nil
	}
	data := templates.IncidentAlert{Department: d.Name, Window: mailtext.Span(d.Incident.Within), Now: at, Location: d.Calendar.Location()}
	for _, r := range append(b.alike, req) {
		data.Requests = append(data.Requests, templates.IncidentRequest{Ref: r.Ref, Subject: r.Subject, Requester: r.Requester, Received: r.ReceivedAt})
	}
	rendered, err := rt.Templates.IncidentAlert(data)
	if err != nil {
		return req, fmt.Errorf("render incident alert: %w", err)
	}
	leads := lifecycle.Targets(d, toLife(req), "leads", nil)
	mail, err := staffMail(d, toLife(req), string(lifecycle.IncidentAlert), leads, rendered, p.composeTime(at))
	if err != nil {
		return req, err
	}
	got, err := p.store.Apply(ctx, store.Change{RequestID: req.ID,
		Events: []store.Event{{Kind: lifecycle.EntryIncidentAlert, At: at, Detail: fmt.Sprintf("%d requests alike within %s: the leads were told", len(data.Requests), data.Window)}},
		Update: func(r *store.Request) ([]store.NewMail, error) { return []store.NewMail{mail}, nil }})
	if err != nil {
		return req, err
	}
	p.kick()
	return got, nil
}
