package web

import (
	"context"
	"sync"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// Observe wraps st so that every write the daemon makes through it feeds
// the counters: recorded requests and skips, the events of each change
// (reminders, escalations, late notices), first answers, and the outcome
// of each delivery attempt. Counting at the store means the processor and
// the scheduler need no hooks, and a write that failed (a duplicate, a
// stale plan) is not counted. Reads pass through untouched.
func (m *Counters) Observe(st store.Store) store.Store {
	return &observed{Store: st, m: m, inFlight: map[int64]mailLabels{}}
}

type mailLabels struct{ dept, kind string }

type observed struct {
	store.Store
	m *Counters

	mu sync.Mutex
	// inFlight remembers the department and kind of mail handed to the
	// sender, since the Mark calls carry only the id.
	inFlight map[int64]mailLabels
}

func (o *observed) RecordRequest(ctx context.Context, r store.NewRequest, build func(ref string) ([]store.NewMail, error)) (store.Request, error) {
	got, err := o.Store.RecordRequest(ctx, r, build)
	if err == nil {
		store.AfterCommit(ctx, func() { o.m.requestRecorded(got) })
	}
	return got, err
}

func (o *observed) RecordSkipped(ctx context.Context, s store.Skipped) error {
	err := o.Store.RecordSkipped(ctx, s)
	if err == nil {
		store.AfterCommit(ctx, func() { o.m.skip(s) })
	}
	return err
}

func (o *observed) Apply(ctx context.Context, c store.Change) (store.Request, error) {
	var before store.Request
	if update := c.Update; update != nil {
		c.Update = func(r *store.Request) ([]store.NewMail, error) {
			before = *r
			return update(r)
		}
	}
	got, err := o.Store.Apply(ctx, c)
	if err != nil {
		return got, err
	}
	if c.Update == nil {
		before = got
	}
	events := c.Events
	store.AfterCommit(ctx, func() { o.m.applied(before, got, events) })
	return got, nil
}

func (o *observed) DueMail(ctx context.Context, now time.Time, limit int) ([]store.Mail, error) {
	mails, err := o.Store.DueMail(ctx, now, limit)
	o.mu.Lock()
	for _, ml := range mails {
		o.inFlight[ml.ID] = mailLabels{dept: o.m.src.deptName(ml.Dept), kind: ml.Kind}
	}
	o.mu.Unlock()
	return mails, err
}

// labels returns what DueMail said about the mail, asking the store when
// another path handed it out; done forgets it.
func (o *observed) labels(ctx context.Context, id int64, done bool) mailLabels {
	o.mu.Lock()
	l, ok := o.inFlight[id]
	if done {
		delete(o.inFlight, id)
	}
	o.mu.Unlock()
	if ok {
		return l
	}
	if ml, err := o.Store.MailByID(ctx, id); err == nil {
		return mailLabels{dept: o.m.src.deptName(ml.Dept), kind: ml.Kind}
	}
	return mailLabels{dept: "unknown", kind: "unknown"}
}

func (o *observed) MarkSent(ctx context.Context, id int64, at time.Time) error {
	err := o.Store.MarkSent(ctx, id, at)
	if err == nil {
		l := o.labels(ctx, id, true)
		o.m.sent(l.dept, l.kind)
	}
	return err
}

func (o *observed) MarkSentMany(ctx context.Context, marks []store.SentMark) ([]error, error) {
	errs, err := o.Store.MarkSentMany(ctx, marks)
	if err != nil {
		return errs, err
	}
	for i, mk := range marks {
		if errs[i] == nil {
			l := o.labels(ctx, mk.ID, true)
			o.m.sent(l.dept, l.kind)
		}
	}
	return errs, nil
}

func (o *observed) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	err := o.Store.MarkRetry(ctx, id, next, lastErr)
	if err == nil {
		l := o.labels(ctx, id, false)
		o.m.sendRetries.WithLabelValues(l.dept, l.kind).Inc()
	}
	return err
}

func (o *observed) DropMail(ctx context.Context, id int64, at time.Time, reason string) error {
	err := o.Store.DropMail(ctx, id, at, reason)
	if err == nil {
		l := o.labels(ctx, id, true)
		o.m.sendDropped.WithLabelValues(l.dept, l.kind).Inc()
	}
	return err
}

func (o *observed) MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error {
	err := o.Store.MarkFailed(ctx, id, at, lastErr)
	if err == nil {
		l := o.labels(ctx, id, true)
		o.m.sendFailed.WithLabelValues(l.dept, l.kind).Inc()
	}
	return err
}
