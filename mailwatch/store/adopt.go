package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// deptTables are the tables that hold a department's state in a dept
// column. A new table keyed by department must be added here, or
// AdoptDepartment leaves its rows behind.
var deptTables = []string{
	"sync_state", "ref_counters", "processed", "requests", "thread_keys",
	"skipped", "outbox", "events", "digest_sent", "parked", "wake_plans",
}

func (s *sqlStore) AdoptDepartment(ctx context.Context, oldKey, newKey string) (bool, error) {
	if oldKey == "" || newKey == "" {
		return false, errors.New("adopt department: old and new keys are required")
	}
	if oldKey == newKey {
		return false, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("adopt department %s as %s: begin: %w", oldKey, newKey, err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.postgres {
		// Two replicas starting at once: the second waits here and then
		// finds the rows already under newKey.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE ref_counters IN EXCLUSIVE MODE`); err != nil {
			return false, fmt.Errorf("adopt department %s as %s: lock: %w", oldKey, newKey, err)
		}
	}
	has := func(key string) (bool, error) {
		for _, t := range deptTables {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+t+` WHERE dept = $1 LIMIT 1`, key).Scan(&one)
			if err == nil {
				return true, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("look for %s in %s: %w", key, t, err)
			}
		}
		return false, nil
	}
	if taken, err := has(newKey); err != nil || taken {
		return false, wrapAdopt(oldKey, newKey, err)
	}
	if found, err := has(oldKey); err != nil || !found {
		return false, wrapAdopt(oldKey, newKey, err)
	}
	// requests and skipped reference processed by (dept, message_key),
	// and PostgreSQL checks that at once: the marks are copied first and
	// the old ones dropped once nothing points at them.
	if _, err := tx.ExecContext(ctx, `INSERT INTO processed (dept, message_key, outcome, processed_at, mailbox, uid)
		SELECT $1, message_key, outcome, processed_at, mailbox, uid FROM processed WHERE dept = $2`, newKey, oldKey); err != nil {
		return false, fmt.Errorf("adopt department %s as %s: copy processed: %w", oldKey, newKey, err)
	}
	for _, t := range deptTables {
		if t == "processed" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET dept = $1 WHERE dept = $2`, newKey, oldKey); err != nil {
			return false, fmt.Errorf("adopt department %s as %s: move %s: %w", oldKey, newKey, t, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM processed WHERE dept = $1`, oldKey); err != nil {
		return false, fmt.Errorf("adopt department %s as %s: drop old processed marks: %w", oldKey, newKey, err)
	}
	// A lease is a claim for the next few seconds, not state: one under
	// the old key belongs to a replica that still runs the old config.
	if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE dept = $1`, oldKey); err != nil {
		return false, fmt.Errorf("adopt department %s as %s: drop old lease: %w", oldKey, newKey, err)
	}
	s.requestsChanged(ctx)
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("adopt department %s as %s: commit: %w", oldKey, newKey, err)
	}
	return true, nil
}

func wrapAdopt(oldKey, newKey string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("adopt department %s as %s: %w", oldKey, newKey, err)
}
