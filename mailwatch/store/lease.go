package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Leaser is what replicas sharing one store need to divide the work. The
// stores Open returns implement it; see docs/replicas.md.
type Leaser interface {
	// AcquireLease takes dept's lease for holder until now+ttl when it is
	// free, expired, or already holder's (a renewal), and reports whether
	// holder holds it now. One atomic statement: of two replicas racing
	// for a free lease exactly one wins.
	AcquireLease(ctx context.Context, dept, holder string, ttl time.Duration, now time.Time) (bool, error)
	// ReleaseLease gives dept's lease up if holder holds it, so another
	// replica can take over at once instead of after the ttl.
	ReleaseLease(ctx context.Context, dept, holder string) error
	// ClaimMail claims up to limit (> 0) due pending mails (as DueMail)
	// for holder until now+ttl and returns them, oldest first. A mail
	// claimed by another holder is skipped until its claim lapses, so two
	// replicas never send the same mail while the claim lasts; holder's
	// own claims are renewed.
	ClaimMail(ctx context.Context, holder string, now time.Time, limit int, ttl time.Duration) ([]Mail, error)
	// LiveReplicas lists the replicas whose presence lease (see
	// PresenceLease) is live at now, by ID, each with the number of
	// department leases it holds live at now. Replicas use it to size
	// their share of the departments.
	LiveReplicas(ctx context.Context, now time.Time) ([]ReplicaLoad, error)
}

// ReplicaLoad is one live replica and how many department leases it holds.
type ReplicaLoad struct {
	ID     string
	Leases int
}

// presencePrefix names the lease rows that are replicas' heartbeats, not
// departments. The colon keeps them apart from department keys,
// which are addresses.
const presencePrefix = "replica:"

// PresenceLease is the lease name under which replica id announces that
// it is alive: it takes it with AcquireLease (holder id, the department
// ttl) on every tick and releases it on shutdown, so LiveReplicas counts
// it exactly while it would renew its department leases.
func PresenceLease(id string) string { return presencePrefix + id }

var _ Leaser = (*sqlStore)(nil)

func (s *sqlStore) AcquireLease(ctx context.Context, dept, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if dept == "" || holder == "" || ttl <= 0 {
		return false, errors.New("acquire lease: department, holder and a positive ttl are required")
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	// The conflict branch updates only a row that is ours or expired; on
	// PostgreSQL a concurrent acquirer waits for the row lock and then
	// re-checks the WHERE against the winner's row, so it gets 0 rows.
	res, err := s.w.ExecContext(ctx, `INSERT INTO leases (dept, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (dept) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < $4`,
		dept, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("acquire lease %s for %s: %w", dept, holder, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s for %s: %w", dept, holder, err)
	}
	return n == 1, nil
}

func (s *sqlStore) ReleaseLease(ctx context.Context, dept, holder string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE dept = $1 AND holder = $2`, dept, holder); err != nil {
		return fmt.Errorf("release lease %s for %s: %w", dept, holder, err)
	}
	return nil
}

func (s *sqlStore) LiveReplicas(ctx context.Context, now time.Time) ([]ReplicaLoad, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	// A lease is live while expires_at >= now: AcquireLease takes over
	// only once expires_at < now. substr rather than LIKE: the prefix
	// needs no escaping, and both engines read it the same way.
	n := len(presencePrefix)
	rows, err := s.w.QueryContext(ctx, `SELECT p.holder, (SELECT COUNT(*) FROM leases d
			WHERE d.holder = p.holder AND d.expires_at >= $1 AND substr(d.dept, 1, $2) <> $3)
		FROM leases p
		WHERE substr(p.dept, 1, $2) = $3 AND p.expires_at >= $1
		ORDER BY p.holder`, now.UnixMilli(), n, presencePrefix)
	if err != nil {
		return nil, fmt.Errorf("list live replicas: %w", err)
	}
	defer rows.Close()
	var out []ReplicaLoad
	for rows.Next() {
		var r ReplicaLoad
		if err := rows.Scan(&r.ID, &r.Leases); err != nil {
			return nil, fmt.Errorf("list live replicas: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list live replicas: %w", err)
	}
	return out, nil
}

func (s *sqlStore) ClaimMail(ctx context.Context, holder string, now time.Time, limit int, ttl time.Duration) ([]Mail, error) {
	if holder == "" || limit <= 0 || ttl <= 0 {
		return nil, errors.New("claim mail: holder, a positive limit and a positive ttl are required")
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	// SKIP LOCKED lets two replicas claim side by side, each passing over
	// the rows the other is claiming; SQLite's single writer makes the
	// plain UPDATE atomic already.
	lock := ""
	if s.postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := s.w.QueryContext(ctx, `UPDATE outbox SET claimed_by = $1, claimed_until = $2
		WHERE id IN (SELECT id FROM outbox
			WHERE state = 'pending' AND next_attempt <= $3
				AND (claimed_by = '' OR claimed_by = $1 OR claimed_until < $3)
			ORDER BY next_attempt, id LIMIT $4`+lock+`)
		RETURNING `+mailCols, holder, now.Add(ttl).UnixMilli(), now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("claim mail for %s: %w", holder, err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("claim mail for %s: %w", holder, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim mail for %s: %w", holder, err)
	}
	// RETURNING follows no ORDER BY.
	slices.SortFunc(out, func(a, b Mail) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}
