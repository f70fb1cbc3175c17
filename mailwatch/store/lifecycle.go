package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// lockRequest takes the request's row lock and reads the row in one
// statement. A no-op UPDATE … RETURNING instead of SELECT … FOR UPDATE,
// which SQLite lacks: on PostgreSQL (READ COMMITTED) the UPDATE waits for a
// concurrent writer of the row, then returns the row as that writer left
// it, and holds the lock until the transaction ends, so Applies on one
// request take turns there too. On SQLite the single writer connection and
// BEGIN IMMEDIATE already serialise them.
const lockRequest = `UPDATE requests SET updated_at = updated_at WHERE id = $1 RETURNING ` + requestCols

func (s *sqlStore) Apply(ctx context.Context, c Change) (Request, error) {
	what := fmt.Sprintf("apply change to request %d", c.RequestID)
	if c.MessageKey != "" {
		what += " for " + c.MessageKey
	}
	for i, e := range c.Events {
		if strings.TrimSpace(e.Kind) == "" {
			return Request{}, fmt.Errorf("%s: event %d has no kind", what, i)
		}
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return Request{}, fmt.Errorf("%s: begin: %w", what, err)
	}
	defer func() { _ = tx.Rollback() }()

	cur, err := scanRequest(tx.QueryRowContext(ctx, lockRequest, c.RequestID))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("%s: read request: %w", what, err)
	}
	if err := s.checkFence(ctx, tx, cur.Dept); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if c.Version != 0 && cur.Version != c.Version {
		return Request{}, fmt.Errorf("%s: planned from version %d, the request is at %d: %w", what, c.Version, cur.Version, ErrStale)
	}
	now := roundTrip(s.opts.Now())
	if c.MessageKey != "" {
		res, err := tx.ExecContext(ctx, `INSERT INTO processed (dept, message_key, outcome, processed_at, mailbox, uid)
			VALUES ($1, $2, 'followup', $3, $4, $5) ON CONFLICT (dept, message_key) DO NOTHING`,
			cur.Dept, c.MessageKey, now.UnixMilli(), c.Mailbox, int64(c.UID))
		if err != nil {
			return Request{}, fmt.Errorf("%s: mark processed: %w", what, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return Request{}, fmt.Errorf("%s: mark processed: %w", what, err)
		} else if n == 0 {
			return Request{}, fmt.Errorf("%s: %w", what, ErrDuplicate)
		}
	}

	next, mails := cur, []NewMail(nil)
	changed := false
	if c.Update != nil {
		mails, err = c.Update(&next)
		switch {
		case errors.Is(err, ErrNoChange):
			next, mails = cur, nil
		case err != nil:
			return Request{}, fmt.Errorf("%s: %w", what, err)
		default:
			changed = true
		}
	}
	if changed {
		next = roundTripRequest(next)
		if err := checkUpdate(cur, next); err != nil {
			return Request{}, fmt.Errorf("%s: %w", what, err)
		}
		if err := checkMails(mails); err != nil {
			return Request{}, fmt.Errorf("%s: %w", what, err)
		}
		if next.State == StateResolved {
			next.NextWake = time.Time{} // a resolved request never wakes
		}
		next.Version = cur.Version + 1
		_, err := tx.ExecContext(ctx, `UPDATE requests SET state = $2, due_at = $3, cycle_start = $4,
				first_response_at = $5, answered_at = $6, escalation_level = $7, reminders = $8, assigned_to = $9,
				late_notice_for = $10, waiting_since = $11, resolved_at = $12, last_activity_at = $13, updated_at = $14,
				next_wake = $15, version = $16, promised_at = $17, rating_asked_at = $18, rating = $19, rated_at = $20,
				category = $21, parent_ref = $22
			WHERE id = $1`,
			next.ID, next.State, millis(next.DueAt), millis(next.CycleStart),
			millis(next.FirstResponseAt), millis(next.AnsweredAt), next.EscalationLevel, next.Reminders, next.AssignedTo,
			millis(next.LateNoticeFor), millis(next.WaitingSince), millis(next.ResolvedAt), millis(next.LastActivityAt),
			now.UnixMilli(), millis(next.NextWake), next.Version, millis(next.PromisedAt),
			millis(next.RatingAskedAt), next.Rating, millis(next.RatedAt), next.Category, next.ParentRef)
		if err != nil {
			return Request{}, fmt.Errorf("%s: write request: %w", what, err)
		}
		s.requestsChanged(ctx)
	}
	// The message's own keys may already belong to another thread; that
	// owner keeps them. The mail ackd writes gets fresh Message-IDs, so a
	// clash there is a bug and fails.
	if err := insertThreadKeys(ctx, tx, cur.Dept, cur.ID, c.ThreadKeys, false); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	ids := make([]string, 0, len(mails))
	for _, m := range mails {
		ids = append(ids, m.MessageID)
	}
	if err := insertThreadKeys(ctx, tx, cur.Dept, cur.ID, ids, true); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := insertEvents(ctx, tx, cur, c.Events, now); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := queueMails(ctx, tx, cur.Dept, cur.ID, mails, now); err != nil {
		return Request{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return Request{}, fmt.Errorf("%s: commit: %w", what, err)
	}
	return next, nil
}

// roundTripRequest is r as it reads back from the database.
func roundTripRequest(r Request) Request {
	for _, t := range []*time.Time{&r.ReceivedAt, &r.DueAt, &r.CreatedAt, &r.FirstResponseAt, &r.CycleStart,
		&r.AnsweredAt, &r.LateNoticeFor, &r.WaitingSince, &r.ResolvedAt, &r.LastActivityAt, &r.NextWake, &r.PromisedAt,
		&r.RatingAskedAt, &r.RatedAt} {
		*t = roundTrip(*t)
	}
	return r
}

// checkUpdate refuses what an Update may not do. Fields outside the mutable
// set are compared rather than silently reset, so a caller that believes it
// changed, say, the category learns at once that it did not.
func checkUpdate(cur, next Request) error {
	if !validState(next.State) {
		return fmt.Errorf("update set unknown state %q", next.State)
	}
	if next.CycleStart.IsZero() {
		return errors.New("update cleared the cycle start")
	}
	if next.Version != cur.Version {
		return errors.New("update changed the request's version (the store keeps it)")
	}
	if next.Rating < 0 || next.Rating > 5 {
		return fmt.Errorf("update set rating %d (1 to 5, 0 for none)", next.Rating)
	}
	if next.EscalationLevel < 0 || next.Reminders < 0 {
		return fmt.Errorf("update set negative counters (escalation level %d, reminders %d)", next.EscalationLevel, next.Reminders)
	}
	mutable := func(r Request) Request {
		r.State, r.DueAt, r.CycleStart, r.FirstResponseAt, r.AnsweredAt = "", time.Time{}, time.Time{}, time.Time{}, time.Time{}
		r.EscalationLevel, r.Reminders, r.AssignedTo = 0, 0, ""
		r.LateNoticeFor, r.WaitingSince, r.ResolvedAt, r.LastActivityAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		r.NextWake, r.PromisedAt, r.Category, r.ParentRef = time.Time{}, time.Time{}, "", ""
		r.RatingAskedAt, r.Rating, r.RatedAt = time.Time{}, 0, time.Time{}
		return r
	}
	if !slices.Equal(cur.Recipients, next.Recipients) {
		return errors.New("update changed the request's recipients (only the lifecycle fields can change)")
	}
	cur.Recipients, next.Recipients = nil, nil
	// DeepEqual is == here (Recipients, the only slice, is cleared).
	if !reflect.DeepEqual(mutable(cur), mutable(next)) {
		return errors.New("update changed a field that cannot change (only the lifecycle fields can)")
	}
	return nil
}

// cleanText makes s storable as TEXT on every backend: PostgreSQL refuses
// NUL and invalid UTF-8.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// insertEvents appends events to r's history; a zero At is now.
func insertEvents(ctx context.Context, tx *txn, r Request, events []Event, now time.Time) error {
	for _, e := range events {
		at := e.At
		if at.IsZero() {
			at = now
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO events (request_id, dept, kind, at, actor, detail, level)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.ID, r.Dept, cleanText(e.Kind), at.UnixMilli(), cleanText(e.Actor), cleanText(e.Detail), e.Level)
		if err != nil {
			return fmt.Errorf("append %s event: %w", e.Kind, err)
		}
	}
	return nil
}

func (s *sqlStore) RequestByID(ctx context.Context, id int64) (Request, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	r, err := scanRequest(s.rd(ctx).QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("read request %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("read request %d: %w", id, err)
	}
	return r, nil
}

func (s *sqlStore) RequestsSince(ctx context.Context, dept string, since time.Time) ([]Request, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT `+requestCols+` FROM requests
		WHERE received_at >= $2 AND ($1 = '' OR dept = $1) ORDER BY received_at, id`, dept, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list requests since %v: %w", since, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list requests since %v: %w", since, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list requests since %v: %w", since, err)
	}
	return out, nil
}

func (s *sqlStore) LatestRequests(ctx context.Context, dept string, since time.Time, limit int, keep func(Request) bool) ([]Request, error) {
	if dept == "" || limit <= 0 {
		return nil, fmt.Errorf("latest requests: department and a positive limit are required")
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if b := s.batchOf(ctx); b != nil {
		out, ok, err := s.latestKept(ctx, b, dept, since, limit, keep)
		if ok || err != nil {
			return out, err
		}
	}
	rows, err := s.latestRows(ctx, s.rd(ctx), dept, since, limit)
	if err != nil {
		return nil, err
	}
	if keep != nil {
		rows = slices.DeleteFunc(rows, func(r Request) bool { return !keep(r) })
	}
	return rows, nil
}

// latestRows reads LatestRequests' rows, without keep.
func (s *sqlStore) latestRows(ctx context.Context, q querier, dept string, since time.Time, limit int) ([]Request, error) {
	// Only the columns the burst check reads: every new request reads up
	// to limit rows, and the text, recipients and the rest of a full row
	// made this read most of what recording a backlog cost.
	rows, err := q.QueryContext(ctx, `SELECT id, ref, requester, subject, rule, state, received_at, parent_ref FROM requests
		WHERE dept = $1 AND received_at >= $2 ORDER BY received_at DESC, id DESC LIMIT $3`, dept, since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("latest requests of %s: %w", dept, err)
	}
	defer rows.Close()
	out := make([]Request, 0, min(limit, 64))
	for rows.Next() {
		r := Request{Dept: dept}
		var received sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Ref, &r.Requester, &r.Subject, &r.Rule, &r.State, &received, &r.ParentRef); err != nil {
			return nil, fmt.Errorf("latest requests of %s: %w", dept, err)
		}
		r.ReceivedAt = fromMillis(received)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest requests of %s: %w", dept, err)
	}
	return out, nil
}

func (s *sqlStore) EventsOfKinds(ctx context.Context, requestIDs []int64, kinds []string) ([]Event, error) {
	if len(requestIDs) == 0 || len(kinds) == 0 {
		return nil, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	args := make([]any, 0, len(requestIDs)+len(kinds))
	var ids, ks strings.Builder
	for i, id := range requestIDs {
		if i > 0 {
			ids.WriteString(", ")
		}
		args = append(args, id)
		fmt.Fprintf(&ids, "$%d", len(args))
	}
	for i, k := range kinds {
		if i > 0 {
			ks.WriteString(", ")
		}
		args = append(args, k)
		fmt.Fprintf(&ks, "$%d", len(args))
	}
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events
		WHERE request_id IN (`+ids.String()+`) AND kind IN (`+ks.String()+`) ORDER BY at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list events of %d requests: %w", len(requestIDs), err)
	}
	return evs, nil
}

const eventCols = `id, request_id, dept, kind, at, actor, detail, level`

func (s *sqlStore) queryEvents(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := s.rd(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &e.RequestID, &e.Dept, &e.Kind, &at, &e.Actor, &e.Detail, &e.Level); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqlStore) Events(ctx context.Context, requestID int64) ([]Event, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE request_id = $1 ORDER BY at, id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list events of request %d: %w", requestID, err)
	}
	if len(evs) == 0 {
		// Every request has its "received" event; tell a wrong id apart anyway.
		var one int
		err := s.rd(ctx).QueryRowContext(ctx, `SELECT 1 FROM requests WHERE id = $1`, requestID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("list events of request %d: %w", requestID, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("list events of request %d: %w", requestID, err)
		}
	}
	return evs, nil
}

func (s *sqlStore) EventsSince(ctx context.Context, dept string, since time.Time) ([]Event, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM events
		WHERE at >= $2 AND ($1 = '' OR dept = $1) ORDER BY at, id`, dept, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list events since %v: %w", since, err)
	}
	return evs, nil
}

func (s *sqlStore) QueueMail(ctx context.Context, dept string, mails []NewMail) error {
	if dept == "" {
		return errors.New("queue mail: department is required")
	}
	if err := checkMails(mails); err != nil {
		return fmt.Errorf("queue mail of %s: %w", dept, err)
	}
	if len(mails) == 0 {
		return nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("queue mail of %s: begin: %w", dept, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkFence(ctx, tx, dept); err != nil {
		return fmt.Errorf("queue mail of %s: %w", dept, err)
	}
	if err := queueMails(ctx, tx, dept, 0, mails, roundTrip(s.opts.Now())); err != nil {
		return fmt.Errorf("queue mail of %s: %w", dept, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue mail of %s: commit: %w", dept, err)
	}
	return nil
}

func (s *sqlStore) QueueDigest(ctx context.Context, dept, day string, mails []NewMail) (bool, error) {
	if dept == "" || day == "" {
		return false, errors.New("queue digest: department and day are required")
	}
	if err := checkMails(mails); err != nil {
		return false, fmt.Errorf("queue digest of %s: %w", dept, err)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("queue digest of %s: begin: %w", dept, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkFence(ctx, tx, dept); err != nil {
		return false, fmt.Errorf("queue digest of %s: %w", dept, err)
	}
	now := roundTrip(s.opts.Now())
	res, err := tx.ExecContext(ctx, `INSERT INTO digest_sent (dept, day, queued_at) VALUES ($1, $2, $3)
		ON CONFLICT (dept, day) DO NOTHING`, dept, day, now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("queue digest of %s for %s: %w", dept, day, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("queue digest of %s for %s: %w", dept, day, err)
	} else if n == 0 {
		return false, nil
	}
	if err := queueMails(ctx, tx, dept, 0, mails, now); err != nil {
		return false, fmt.Errorf("queue digest of %s: %w", dept, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("queue digest of %s: commit: %w", dept, err)
	}
	return true, nil
}
