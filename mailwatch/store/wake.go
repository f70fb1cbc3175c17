package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// inDepts is the SQL condition "dept is one of depts" with its arguments
// numbered from $first; nil depts is every department.
func inDepts(depts []string, first int) (string, []any) {
	if depts == nil {
		return "TRUE", nil
	}
	if len(depts) == 0 {
		return "FALSE", nil
	}
	var b strings.Builder
	args := make([]any, 0, len(depts))
	b.WriteString("dept IN (")
	for i, d := range depts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
		args = append(args, d)
	}
	b.WriteString(")")
	return b.String(), args
}

func (s *sqlStore) NextWake(ctx context.Context, depts []string) (time.Time, bool, error) {
	if depts != nil && len(depts) == 0 {
		return time.Time{}, false, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	// One seek per department in requests_dept_wake: a single ORDER BY
	// over dept IN (…) would sort every waiting row of those departments.
	q := `SELECT next_wake FROM requests WHERE next_wake IS NOT NULL ORDER BY next_wake LIMIT 1`
	var args []any
	if depts != nil {
		parts := make([]string, len(depts))
		for i, d := range depts {
			parts[i] = `SELECT (SELECT MIN(next_wake) FROM requests WHERE dept = $` + strconv.Itoa(i+1) + ` AND next_wake IS NOT NULL) AS w`
			args = append(args, d)
		}
		q = `SELECT MIN(w) FROM (` + strings.Join(parts, " UNION ALL ") + `) AS per_dept`
	}
	var at sql.NullInt64
	err := s.rd(ctx).QueryRowContext(ctx, q, args...).Scan(&at)
	if err == nil && !at.Valid {
		err = sql.ErrNoRows
	}
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, fmt.Errorf("read the next wake-up: %w", err)
	}
	return time.UnixMilli(at.Int64).UTC(), true, nil
}

func (s *sqlStore) DueRequests(ctx context.Context, depts []string, now time.Time, limit int) ([]Request, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list due requests: limit %d must be positive", limit)
	}
	if depts != nil && len(depts) == 0 {
		return nil, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	cond, args := inDepts(depts, 3)
	return s.listRequests(ctx, "list due requests", `SELECT `+requestCols+` FROM requests
		WHERE next_wake IS NOT NULL AND next_wake <= $1 AND `+cond+` ORDER BY next_wake, id LIMIT $2`,
		append([]any{now.UnixMilli(), limit}, args...)...)
}

func (s *sqlStore) OpenRequestsAfter(ctx context.Context, dept string, after int64, limit int) ([]Request, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list open requests: limit %d must be positive", limit)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if dept == "" {
		return s.listRequests(ctx, "list open requests", `SELECT `+requestCols+` FROM requests
		WHERE state <> 'resolved' AND id > $1 ORDER BY id LIMIT $2`, after, limit)
	}
	// A seek in requests_dept_open.
	return s.listRequests(ctx, "list open requests", `SELECT `+requestCols+` FROM requests
		WHERE state <> 'resolved' AND dept = $1 AND id > $2 ORDER BY id LIMIT $3`, dept, after, limit)
}

func (s *sqlStore) listRequests(ctx context.Context, what, q string, args ...any) ([]Request, error) {
	rows, err := s.rd(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (s *sqlStore) WakePlans(ctx context.Context) (map[string]string, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT dept, fingerprint FROM wake_plans`)
	if err != nil {
		return nil, fmt.Errorf("read wake-up plans: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var dept, fp string
		if err := rows.Scan(&dept, &fp); err != nil {
			return nil, fmt.Errorf("read wake-up plans: %w", err)
		}
		out[dept] = fp
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read wake-up plans: %w", err)
	}
	return out, nil
}

func (s *sqlStore) SetWakePlan(ctx context.Context, dept, fingerprint string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.wr(ctx).ExecContext(ctx, `INSERT INTO wake_plans (dept, fingerprint, planned_at) VALUES ($1, $2, $3)
		ON CONFLICT (dept) DO UPDATE SET fingerprint = excluded.fingerprint, planned_at = excluded.planned_at`,
		dept, fingerprint, s.opts.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record the wake-up plan of %s: %w", dept, err)
	}
	return nil
}
