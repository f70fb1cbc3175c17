package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *sqlStore) DecideInputs(ctx context.Context, dept string, since time.Time) (map[int64]string, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT id, decide_input FROM requests
		WHERE received_at >= $2 AND ($1 = '' OR dept = $1) AND decide_input <> ''`, dept, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read decide inputs since %v: %w", since, err)
	}
	defer rows.Close()
	out := make(map[int64]string)
	for rows.Next() {
		var id int64
		var in string
		if err := rows.Scan(&id, &in); err != nil {
			return nil, fmt.Errorf("read decide inputs since %v: %w", since, err)
		}
		out[id] = in
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read decide inputs since %v: %w", since, err)
	}
	return out, nil
}

// checkReadOnlySchema refuses, for a read-only open, a database whose
// schema is not exactly the last of ms: older would need a migration
// (a write), newer has columns this ackd does not know.
func checkReadOnlySchema(ctx context.Context, db *sql.DB, ms []migration) error {
	latest := ms[len(ms)-1].version
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	switch {
	case v > latest:
		return tooNew(v, latest)
	case v < latest:
		return fmt.Errorf("database is at schema version %d, this ackd needs %d; a read-only open does not migrate: run `ackd run` (or `ackd status`) once with this version first", v, latest)
	}
	return nil
}

func (s *sqlStore) DecideInputOf(ctx context.Context, requestID int64) (string, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var in string
	err := s.rd(ctx).QueryRowContext(ctx, `SELECT decide_input FROM requests WHERE id = $1`, requestID).Scan(&in)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read the decide input of request %d: %w", requestID, err)
	}
	return in, nil
}

func (s *sqlStore) SkippedInputs(ctx context.Context, dept string, since time.Time) ([]Skipped, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT `+skippedCols+`, decide_input
		FROM skipped WHERE dept = $1 AND skipped_at >= $2 AND decide_input <> '' ORDER BY skipped_at, id`, dept, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read skipped inputs since %v: %w", since, err)
	}
	out, err := scanSkipped(rows)
	if err != nil {
		return nil, fmt.Errorf("read skipped inputs since %v: %w", since, err)
	}
	return out, nil
}
