package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Move implements Store.Move: the old request is locked, the new one
// recorded in its department with the history and thread keys of the old,
// and the old resolved pointing to it, all in one transaction.
func (s *sqlStore) Move(ctx context.Context, m Move, build func(ref string) ([]NewMail, error)) (Request, Request, error) {
	what := fmt.Sprintf("move request %d to %s", m.RequestID, m.To.Dept)
	r := m.To
	if r.State == "" {
		r.State = StateAcknowledged
	}
	switch {
	case m.MessageKey == "" || r.MessageKey == "" || r.Dept == "":
		return Request{}, Request{}, fmt.Errorf("%s: message keys and the department are required", what)
	case r.ReceivedAt.IsZero() || m.At.IsZero():
		return Request{}, Request{}, fmt.Errorf("%s: received and move times are required", what)
	case !validState(r.State) || r.State == StateResolved:
		return Request{}, Request{}, fmt.Errorf("%s: invalid state %q for the moved request", what, r.State)
	case build == nil:
		return Request{}, Request{}, fmt.Errorf("%s: no build function", what)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: begin: %w", what, err)
	}
	defer func() { _ = tx.Rollback() }()

	cur, err := scanRequest(tx.QueryRowContext(ctx, lockRequest, m.RequestID))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, Request{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: read request: %w", what, err)
	}
	switch {
	case strings.EqualFold(cur.Dept, r.Dept):
		return Request{}, Request{}, fmt.Errorf("%s: the request is in that department already", what)
	case m.Version != 0 && cur.Version != m.Version:
		return Request{}, Request{}, fmt.Errorf("%s: planned from version %d, the request is at %d: %w", what, m.Version, cur.Version, ErrStale)
	}
	for _, d := range []string{cur.Dept, r.Dept} {
		if err := s.checkFence(ctx, tx, d); err != nil {
			return Request{}, Request{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	now := roundTrip(s.opts.Now())
	res, err := tx.ExecContext(ctx, `INSERT INTO processed (dept, message_key, outcome, processed_at, mailbox, uid)
		VALUES ($1, $2, 'followup', $3, $4, $5) ON CONFLICT (dept, message_key) DO NOTHING`,
		cur.Dept, m.MessageKey, now.UnixMilli(), m.Mailbox, int64(m.UID))
	if err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: mark processed: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: mark processed: %w", what, err)
	} else if n == 0 {
		return Request{}, Request{}, fmt.Errorf("%s: %w", what, ErrDuplicate)
	}
	if cur.State == StateResolved || cur.MovedTo != 0 {
		return Request{}, Request{}, fmt.Errorf("%s: %s is %s: %w", what, cur.Ref, cur.State, ErrResolved)
	}

	var seq int64
	err = tx.QueryRowContext(ctx, `INSERT INTO ref_counters (dept, last_seq) VALUES ($1, 1)
		ON CONFLICT (dept) DO UPDATE SET last_seq = ref_counters.last_seq + 1
		RETURNING last_seq`, r.Dept).Scan(&seq)
	if err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: allocate reference: %w", what, err)
	}
	ref := fmt.Sprintf("REQ-%d", seq)
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM processed WHERE dept = $1 AND message_key = $2`, r.Dept, r.MessageKey).Scan(&one)
	switch {
	case err == nil:
		return Request{}, Request{}, fmt.Errorf("%s: %s: %w", what, r.MessageKey, ErrDuplicate)
	case !errors.Is(err, sql.ErrNoRows):
		return Request{}, Request{}, fmt.Errorf("%s: check processed: %w", what, err)
	}
	moved, err := s.recordInTx(ctx, tx, r, seq, ref, build)
	if err != nil {
		return Request{}, Request{}, fmt.Errorf("%s as %s: %w", what, ref, err)
	}
	if !m.CycleStart.IsZero() || m.EscalationLevel != 0 {
		if !m.CycleStart.IsZero() {
			moved.CycleStart = roundTrip(m.CycleStart)
		}
		moved.EscalationLevel = m.EscalationLevel
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET cycle_start = $2, escalation_level = $3 WHERE id = $1`,
			moved.ID, millis(moved.CycleStart), moved.EscalationLevel); err != nil {
			return Request{}, Request{}, fmt.Errorf("%s: start its cycle: %w", what, err)
		}
	}
	// History stays with the request: the old one's, then the move. The
	// old history begins with its own "received"; the one recording the
	// new row wrote would say it twice.
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE request_id = $1`, moved.ID); err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: copy history: %w", what, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (request_id, dept, kind, at, actor, detail, level)
		SELECT $1, $2, kind, at, actor, detail, level FROM events WHERE request_id = $3 ORDER BY at, id`,
		moved.ID, moved.Dept, cur.ID); err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: copy history: %w", what, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO thread_keys (dept, thread_key, request_id)
		SELECT $1, thread_key, $2 FROM thread_keys WHERE request_id = $3 AND dept = $4
		ON CONFLICT (dept, thread_key) DO NOTHING`, moved.Dept, moved.ID, cur.ID, cur.Dept); err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: thread keys: %w", what, err)
	}
	old := cur
	old.State, old.ResolvedAt, old.NextWake, old.MovedTo = StateResolved, roundTrip(m.At), time.Time{}, moved.ID
	old.Version = cur.Version + 1
	if _, err := tx.ExecContext(ctx, `UPDATE requests SET state = $2, resolved_at = $3, next_wake = NULL, moved_to = $4,
			version = $5, updated_at = $6 WHERE id = $1`,
		old.ID, old.State, millis(old.ResolvedAt), old.MovedTo, old.Version, now.UnixMilli()); err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: resolve %s: %w", what, cur.Ref, err)
	}
	if m.Events != nil {
		onOld, onNew := m.Events(ref)
		if err := insertEvents(ctx, tx, old, onOld, now); err != nil {
			return Request{}, Request{}, fmt.Errorf("%s: %w", what, err)
		}
		if err := insertEvents(ctx, tx, moved, onNew, now); err != nil {
			return Request{}, Request{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	s.requestsChanged(ctx)
	if err := tx.Commit(); err != nil {
		return Request{}, Request{}, fmt.Errorf("%s: commit: %w", what, err)
	}
	return old, moved, nil
}
