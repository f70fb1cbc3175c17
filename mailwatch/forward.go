package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// maxMoves bounds how many #forward hops a thread is followed through.
const maxMoves = 8

// movedTo follows a request moved by #forward to the request it became
// and that request's department; a request whose new department is no
// longer configured stays where it is.
func (p *Processor) movedTo(ctx context.Context, rt *Runtime, dept *config.Department, req store.Request) (store.Request, *config.Department, error) {
	for i := 0; req.MovedTo != 0 && i < maxMoves; i++ {
		next, err := p.store.RequestByID(ctx, req.MovedTo)
		if err != nil {
			return req, dept, fmt.Errorf("follow %s to the request it became: %w", req.Ref, err)
		}
		d := rt.Department(next.Dept)
		if d == nil {
			break
		}
		req, dept = next, d
	}
	return req, dept, nil
}

// forwardKeyPrefix starts the message key of a request #forward moved
// here: "forward:<old department's key>/<old ref>".
const forwardKeyPrefix = "forward:"

// Forwarded says whether r was moved here by #forward.
func Forwarded(r store.Request) bool { return strings.HasPrefix(r.MessageKey, forwardKeyPrefix) }

// ForwardedDecision is what department d decides for m, a request moved
// there by #forward that arrived at receivedAt: the category its rules
// give (Classify: the refusals and address checks of Decide were passed
// where it first came in), and that category's commitment and due time
// counted from the arrival.
func ForwardedDecision(set *rules.Set, d *config.Department, m *rules.Message, receivedAt time.Time) rules.Decision {
	dec := rules.Decision{Department: d.Name, ReceivedAt: receivedAt, Reply: true}
	dec.Rule, dec.Category = set.Classify(d, m)
	if cat := d.Categories[dec.Category]; cat != nil {
		dec.Commitment = cat.Commitment
		if d.Calendar != nil {
			dec.DueAt = d.Calendar.Due(receivedAt, cat.Commitment)
		}
	}
	return dec
}

// forward records t, a #forward on req, as a move to the department it
// names: the old request is resolved, the new one recorded there with the
// old one's history and thread keys, and the requester told by the new
// department (one handover mail with the new reference and date). Mail
// the old transition asked for (words passed on with the command) is
// queued with it.
func (p *Processor) forward(ctx context.Context, rt *Runtime, dept *config.Department, req store.Request, t lifecycle.Transition, m *rules.Message, f Fetched, key string, at time.Time) (Outcome, error) {
	nd := rt.Department(t.Forward.Key)
	if nd == nil {
		return Outcome{}, fmt.Errorf("forward %s: no department %s", req.Ref, t.Forward.Key)
	}
	// The new department's rules classify what the requester wrote, as
	// they would have had it come there first.
	raw, err := p.store.DecideInputOf(ctx, req.ID)
	if err != nil {
		return Outcome{}, fmt.Errorf("forward %s: %w", req.Ref, err)
	}
	input, _, err := StoredInput(req, dept.Address, raw)
	if err != nil {
		return Outcome{}, fmt.Errorf("forward %s: %w", req.Ref, err)
	}
	dec := ForwardedDecision(rt.Rules, nd, input.Message, req.ReceivedAt)
	nt := lifecycle.Step(nd, toLife(req), lifecycle.Forwarded{From: dept.Name, OldRef: req.Ref, By: t.Forward.By, Category: dec.Category}, at)
	// The new request keeps the message it was decided from, with what
	// the new department decides for it, so that ackd replay there
	// compares like with like.
	newInput := ""
	if raw != "" {
		if newInput, err = EncodeDecideInput(input.Message, dec); err != nil {
			return Outcome{}, fmt.Errorf("forward %s: %w", req.Ref, err)
		}
	}
	n := nt.Next
	compose := p.composeTime(at)
	old, moved, err := p.store.Move(ctx, store.Move{
		RequestID: req.ID, Version: req.Version, MessageKey: key, Mailbox: f.Mailbox, UID: f.UID, At: at,
		To: store.NewRequest{
			Dept: nd.Key(), MessageKey: forwardKeyPrefix + dept.Key() + "/" + req.Ref, MessageID: req.MessageID,
			Mailbox: req.Mailbox, UID: req.UID, Requester: n.Requester, RequesterName: n.RequesterName, Subject: n.Subject,
			Category: n.Category, Language: n.Language, ReceivedAt: req.ReceivedAt, DueAt: n.DueAt,
			Text: n.Text, ThreadKeys: threadKeys(m), State: n.State, Recipients: n.Recipients, NextWake: nt.Wake,
			DecideInput: newInput, Rule: dec.Rule,
		},
		CycleStart: n.CycleStart, EscalationLevel: n.EscalationLevel,
		Events: func(ref string) ([]store.Event, []store.Event) {
			var onOld, onNew []store.Event
			for _, e := range t.History {
				if e.Kind == lifecycle.EntryForwarded {
					e.Detail += " " + ref
				}
				onOld = append(onOld, store.Event{Kind: e.Kind, At: e.At, Actor: e.Actor, Detail: e.Detail, Level: e.Level})
			}
			for _, e := range nt.History {
				onNew = append(onNew, store.Event{Kind: e.Kind, At: e.At, Actor: e.Actor, Detail: e.Detail, Level: e.Level})
			}
			return onOld, onNew
		},
	}, func(ref string) ([]store.NewMail, error) {
		intents := slices.Clone(nt.Mail)
		for i := range intents {
			intents[i].Request.Ref = ref
		}
		mails, err := renderAll(rt, nd, intents, compose)
		if err != nil {
			return nil, err
		}
		said, err := renderAll(rt, dept, t.Mail, compose)
		return append(mails, said...), err
	})
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return Outcome{Key: key, Action: "duplicate"}, nil
	case err != nil:
		return Outcome{}, fmt.Errorf("forward %s to %s: %w", req.Ref, nd.Name, err)
	}
	if moved, err = p.assignNew(ctx, nd, moved, at); err != nil {
		p.log.Warn("forwarded request left without an owner", "dept", nd.Name, "ref", moved.Ref, "err", err)
	}
	store.AfterCommit(ctx, func() {
		p.log.Info("request forwarded", "dept", dept.Name, "ref", old.Ref, "to", nd.Name, "new_ref", moved.Ref,
			"by", strings.ToLower(t.Forward.By), "due", moved.DueAt)
		p.kick()
		p.wake()
	})
	return Outcome{Key: key, Action: "forwarded", Ref: moved.Ref, Request: moved}, nil
}
