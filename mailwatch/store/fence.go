package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrFenced: the write came from work whose lease or claim has passed to
// another replica (a replica that froze and woke after the takeover), and
// was refused. Nothing of it was written. See docs/replicas.md, "What a
// freeze does".
var ErrFenced = errors.New("fenced: the lease or claim has passed to another replica")

// Fence says under which lease generation this replica works for a
// department: held is false for a department it does not hold.
type Fence func(dept string) (generation int64, held bool)

type fenceKey struct{}

// WithFence returns ctx carrying a fence for dept's writes: every store
// write ctx makes for dept (recording a request, a skipped or parked
// message, a checkpoint, a change, queued mail, a digest, thread keys)
// checks, in its own transaction, that dept's lease still has generation
// (the one AcquireLeaseGeneration returned), and fails with ErrFenced
// otherwise. A write for another department fails with ErrFenced too.
func WithFence(ctx context.Context, dept string, generation int64) context.Context {
	return WithFences(ctx, func(d string) (int64, bool) { return generation, d == dept })
}

// WithFences is WithFence for work that spans departments (the scheduler,
// the digester): f gives the generation held for each department, read
// at the time of each write.
func WithFences(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

func fenceOf(ctx context.Context) Fence {
	f, _ := ctx.Value(fenceKey{}).(Fence)
	return f
}

type claimKey struct{}

// WithClaim returns ctx carrying a claim token (Mail.ClaimToken, from
// ClaimMail): MarkSent, MarkRetry, MarkFailed, HoldMail and DropMail made
// with it finish the mail only while the token is still the mail's, and
// fail with ErrFenced once another replica has claimed it.
func WithClaim(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, claimKey{}, token)
}

func claimOf(ctx context.Context) string {
	t, _ := ctx.Value(claimKey{}).(string)
	return t
}

// newClaimToken draws a token no other claim has.
func newClaimToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("draw claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// checkFence refuses, inside tx, a write for dept from work whose lease
// generation is no longer current; without a fence in ctx it passes. On
// PostgreSQL the lease row stays share-locked until tx ends, so a takeover
// (AcquireLease's UPDATE of that row) waits for this write to commit or
// roll back: a write either lands before the new holder starts or is
// refused. SQLite's single writer serialises them already.
func (s *sqlStore) checkFence(ctx context.Context, tx rowQuerier, dept string) error {
	f := fenceOf(ctx)
	if f == nil {
		return nil
	}
	want, held := f(dept)
	if !held {
		return fmt.Errorf("%w (%s is not held here)", ErrFenced, dept)
	}
	q := `SELECT generation FROM leases WHERE dept = $1`
	if s.postgres {
		q += ` FOR SHARE`
	}
	var got int64
	err := tx.QueryRowContext(ctx, q, dept).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w (%s has no lease)", ErrFenced, dept)
	}
	if err != nil {
		return fmt.Errorf("check lease of %s: %w", dept, err)
	}
	if got != want {
		return fmt.Errorf("%w (%s: lease generation %d, this work holds %d)", ErrFenced, dept, got, want)
	}
	return nil
}

// fencedWrite runs a single-statement write for dept: as it is without a
// fence in ctx, else in a transaction behind checkFence.
func (s *sqlStore) fencedWrite(ctx context.Context, dept string, write func(execer) error) error {
	if fenceOf(ctx) == nil && s.batchOf(ctx) == nil {
		return write(s.w)
	}
	return s.fencedTx(ctx, dept, write)
}

// fencedTx runs write, one statement or several, in one transaction
// behind checkFence.
func (s *sqlStore) fencedTx(ctx context.Context, dept string, write func(execer) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkFence(ctx, tx, dept); err != nil {
		return err
	}
	if err := write(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
