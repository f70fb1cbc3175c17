package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (s *sqlStore) SetAway(ctx context.Context, a Away) error {
	addr := strings.ToLower(strings.TrimSpace(a.Address))
	if a.Dept == "" || addr == "" || a.Until.IsZero() {
		return fmt.Errorf("set away: department, address and until are required")
	}
	at := a.SetAt
	if at.IsZero() {
		at = s.opts.Now()
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.fencedTx(ctx, a.Dept, func(w execer) error {
		if _, err := w.ExecContext(ctx, `INSERT INTO staff_away (dept, address, until_at, reason, set_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (dept, address) DO UPDATE SET until_at = excluded.until_at, reason = excluded.reason, set_at = excluded.set_at`,
			a.Dept, addr, a.Until.UnixMilli(), cleanText(a.Reason), at.UnixMilli()); err != nil {
			return err
		}
		// The log: an absence still running when this one starts ends
		// here (a new out-of-office replaces the old one).
		if _, err := w.ExecContext(ctx, `UPDATE staff_away_log SET until_at = $3
			WHERE dept = $1 AND address = $2 AND from_at < $3 AND until_at > $3`, a.Dept, addr, at.UnixMilli()); err != nil {
			return err
		}
		_, err := w.ExecContext(ctx, `INSERT INTO staff_away_log (dept, address, from_at, until_at, reason)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (dept, address, from_at) DO UPDATE SET until_at = excluded.until_at, reason = excluded.reason`,
			a.Dept, addr, at.UnixMilli(), a.Until.UnixMilli(), cleanText(a.Reason))
		return err
	})
	if err != nil {
		return fmt.Errorf("set %s away: %w", addr, err)
	}
	return nil
}

func (s *sqlStore) ClearAway(ctx context.Context, dept, address string) error {
	addr := strings.ToLower(strings.TrimSpace(address))
	now := s.opts.Now()
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.fencedTx(ctx, dept, func(w execer) error {
		if _, err := w.ExecContext(ctx, `DELETE FROM staff_away WHERE dept = $1 AND address = $2`, dept, addr); err != nil {
			return err
		}
		_, err := w.ExecContext(ctx, `UPDATE staff_away_log SET until_at = $3
			WHERE dept = $1 AND address = $2 AND until_at > $3`, dept, addr, now.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("clear away of %s: %w", address, err)
	}
	return nil
}

func (s *sqlStore) AwayDuring(ctx context.Context, dept string, from, to time.Time) ([]Away, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT dept, address, until_at, reason, from_at FROM staff_away_log
		WHERE dept = $1 AND until_at > $2 AND from_at < $3 ORDER BY from_at, address`, dept, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list who was away: %w", err)
	}
	return scanAway(rows)
}

func (s *sqlStore) AwayAt(ctx context.Context, dept string, t time.Time) ([]Away, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT dept, address, until_at, reason, set_at FROM staff_away
		WHERE dept = $1 AND until_at > $2 ORDER BY address`, dept, t.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list who is away: %w", err)
	}
	return scanAway(rows)
}

// scanAway reads rows of dept, address, until, reason and the start
// (SetAt), and closes rows.
func scanAway(rows *sql.Rows) ([]Away, error) {
	defer rows.Close()
	var out []Away
	for rows.Next() {
		var a Away
		var until, set int64
		if err := rows.Scan(&a.Dept, &a.Address, &until, &a.Reason, &set); err != nil {
			return nil, fmt.Errorf("list who is away: %w", err)
		}
		a.Until = fromMillis(sql.NullInt64{Int64: until, Valid: true})
		a.SetAt = fromMillis(sql.NullInt64{Int64: set, Valid: true})
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list who is away: %w", err)
	}
	return out, nil
}

func (s *sqlStore) AssignCursor(ctx context.Context, dept string) (string, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var last string
	err := s.r.QueryRowContext(ctx, `SELECT last FROM assign_cursor WHERE dept = $1`, dept).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the assignment cursor of %s: %w", dept, err)
	}
	return last, nil
}

func (s *sqlStore) SetAssignCursor(ctx context.Context, dept, address string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.fencedWrite(ctx, dept, func(w execer) error {
		_, err := w.ExecContext(ctx, `INSERT INTO assign_cursor (dept, last, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (dept) DO UPDATE SET last = excluded.last, updated_at = excluded.updated_at`,
			dept, strings.ToLower(address), s.opts.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("write the assignment cursor of %s: %w", dept, err)
	}
	return nil
}

func (s *sqlStore) LinkedRequests(ctx context.Context, dept, parentRef string) ([]Request, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT `+requestCols+` FROM requests
		WHERE dept = $1 AND parent_ref = $2 AND parent_ref <> '' AND state <> 'resolved' ORDER BY received_at, id`, dept, parentRef)
	if err != nil {
		return nil, fmt.Errorf("list requests linked under %s: %w", parentRef, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list requests linked under %s: %w", parentRef, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list requests linked under %s: %w", parentRef, err)
	}
	return out, nil
}
