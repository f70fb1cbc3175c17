package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// AcquireLeaseGeneration is AcquireLease returning the lease's
	// generation when holder holds it, 0 when not. The generation grows
	// by one whenever the lease passes to another holder and stays while
	// the same holder renews or retakes it; a department's work passes it
	// to WithFence so that its writes are refused once the lease moved.
	AcquireLeaseGeneration(ctx context.Context, dept, holder string, ttl time.Duration, now time.Time) (int64, error)
	// ReleaseLease gives dept's lease up if holder holds it, so another
	// replica can take over at once instead of after the ttl. A
	// department's lease keeps its row (expired), so its generation never
	// starts over.
	ReleaseLease(ctx context.Context, dept, holder string) error
	// ClaimMail claims up to limit (> 0) due pending mails (as DueMail)
	// for holder until now+ttl and returns them, oldest first. A mail
	// claimed by another holder is skipped until its claim lapses, so two
	// replicas never send the same mail while the claim lasts; holder's
	// own claims are renewed.
	//
	// Every call draws a new claim token, set on the mails it returns
	// (Mail.ClaimToken): their MarkSent, MarkRetry, MarkFailed, HoldMail
	// and DropMail made under WithClaim(ctx, token) fail with ErrFenced
	// once another claim has taken the mail.
	ClaimMail(ctx context.Context, holder string, now time.Time, limit int, ttl time.Duration) ([]Mail, error)
	// CheckClaim reports whether mail id is still pending under the claim
	// token: nil if so, ErrFenced if another claim took it, ErrNotPending
	// or ErrNotFound otherwise. The sender asks it just before it gives a
	// mail to the SMTP server.
	CheckClaim(ctx context.Context, id int64, token string) error
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
	gen, err := s.AcquireLeaseGeneration(ctx, dept, holder, ttl, now)
	return gen > 0, err
}

func (s *sqlStore) AcquireLeaseGeneration(ctx context.Context, dept, holder string, ttl time.Duration, now time.Time) (int64, error) {
	if dept == "" || holder == "" || ttl <= 0 {
		return 0, errors.New("acquire lease: department, holder and a positive ttl are required")
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	// The conflict branch updates only a row that is ours or expired; on
	// PostgreSQL a concurrent acquirer waits for the row lock and then
	// re-checks the WHERE against the winner's row, so it gets no row. It
	// also waits for the writes that hold the row share-locked under a
	// fence (checkFence), so they land before a new holder starts.
	var gen int64
	err := s.wr(ctx).QueryRowContext(ctx, `INSERT INTO leases (dept, holder, expires_at, generation) VALUES ($1, $2, $3, 1)
		ON CONFLICT (dept) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			generation = CASE WHEN leases.holder = excluded.holder THEN leases.generation ELSE leases.generation + 1 END
		WHERE leases.holder = excluded.holder OR leases.expires_at < $4
		RETURNING generation`,
		dept, holder, now.Add(ttl).UnixMilli(), now.UnixMilli()).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("acquire lease %s for %s: %w", dept, holder, err)
	}
	return gen, nil
}

func (s *sqlStore) ReleaseLease(ctx context.Context, dept, holder string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	// A department's row stays, expired, to keep its generation; a
	// replica's presence row goes (its ids are per process).
	q := `UPDATE leases SET expires_at = 0 WHERE dept = $1 AND holder = $2`
	if strings.HasPrefix(dept, presencePrefix) {
		q = `DELETE FROM leases WHERE dept = $1 AND holder = $2`
	}
	if _, err := s.wr(ctx).ExecContext(ctx, q, dept, holder); err != nil {
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
	rows, err := s.wr(ctx).QueryContext(ctx, `SELECT p.holder, (SELECT COUNT(*) FROM leases d
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
	token, err := newClaimToken()
	if err != nil {
		return nil, fmt.Errorf("claim mail for %s: %w", holder, err)
	}
	rows, err := s.wr(ctx).QueryContext(ctx, `UPDATE outbox SET claimed_by = $1, claimed_until = $2, claim_token = $5
		WHERE id IN (SELECT id FROM outbox
			WHERE state = 'pending' AND next_attempt <= $3
				AND (claimed_by = '' OR claimed_by = $1 OR claimed_until < $3)
			ORDER BY next_attempt, id LIMIT $4`+lock+`)
		RETURNING `+mailCols, holder, now.Add(ttl).UnixMilli(), now.UnixMilli(), limit, token)
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
		m.ClaimToken = token
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
	if s.opts.TestPause != nil && len(out) > 0 {
		s.opts.TestPause("claim")
	}
	return out, nil
}

func (s *sqlStore) CheckClaim(ctx context.Context, id int64, token string) error {
	if token == "" {
		return fmt.Errorf("check claim on mail %d: no claim token", id)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var state, holds string
	err := s.wr(ctx).QueryRowContext(ctx, `SELECT state, claim_token FROM outbox WHERE id = $1`, id).Scan(&state, &holds)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("check claim on mail %d: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("check claim on mail %d: %w", id, err)
	case state != MailPending:
		return fmt.Errorf("check claim on mail %d: %w (it is %s)", id, ErrNotPending, state)
	case holds != token:
		return fmt.Errorf("check claim on mail %d: %w (claimed again by another replica)", id, ErrFenced)
	}
	return nil
}
