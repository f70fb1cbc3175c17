package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// A batch is one write transaction that several store calls share
// (Store.Batch): every call made with the batch's context reads and writes
// inside it, and each call's own transaction becomes a savepoint of it, so
// a call that fails still writes nothing of its own while the others
// stand. Nothing of the batch is visible to anyone else, the outbox
// sender included, until it commits.
type batch struct {
	s   *sqlStore
	tx  *sql.Tx
	ctx context.Context // the transaction's own context (not cancelled with the caller's)
	seq int64           // names this batch's liveness row (SQLite)
	// waits is the write pool's count of waits for a connection when the
	// batch began (WriterWaiting).
	waits int64

	mu     sync.Mutex
	broken error
	after  []func()
}

type batchKey struct{}

// batchOf returns the batch ctx carries for s, or nil.
func (s *sqlStore) batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	if b == nil || b.s != s {
		return nil
	}
	return b
}

// AfterCommit runs fn once the batch ctx carries (Store.Batch) has
// committed, or at once when ctx carries none. When the batch rolls back
// fn never runs. Callers use it for what must not happen before their
// writes are durable and visible: waking the outbox sender or the
// scheduler, logging that a request was acknowledged, counting it.
func AfterCommit(ctx context.Context, fn func()) {
	b, _ := ctx.Value(batchKey{}).(*batch)
	if b == nil {
		fn()
		return
	}
	b.mu.Lock()
	b.after = append(b.after, fn)
	b.mu.Unlock()
}

// InBatch says whether ctx carries an open batch (Store.Batch).
func InBatch(ctx context.Context) bool {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b != nil
}

// WriterWaiting says whether another write of this process has waited,
// since the batch ctx carries began, for the write connection that batch
// holds: on SQLite every write transaction of the process shares one
// connection, so a long batch holds up the others (the outbox sender's
// marks of sent mail, which bound how far it may send ahead). A batch
// that may commit in parts (the watcher's fetch group, whose checkpoint
// commits with the messages before it) commits what it has and lets the
// waiting write in. False outside a batch and on PostgreSQL, whose writes
// do not queue behind one connection.
func WriterWaiting(ctx context.Context) bool {
	b, _ := ctx.Value(batchKey{}).(*batch)
	if b == nil || b.s.postgres {
		return false
	}
	return b.s.w.Stats().WaitCount > b.waits
}

// nextBatchSeq numbers the store's batches for the SQLite liveness check.
func (s *sqlStore) nextBatchSeq() int64 { return s.batchSeq.Add(1) }

func (s *sqlStore) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.batchOf(ctx) != nil {
		return fn(ctx) // nested: joins the open batch
	}
	// The transaction lives as long as fn runs, not as long as ctx: the
	// caller finishes what it has in hand (a watcher at shutdown) and
	// decides itself when to stop; each statement keeps its own timeout.
	tctx := context.WithoutCancel(ctx)
	if !s.postgres {
		s.stmts.preparePending(tctx, s.w)
	}
	tx, err := s.w.BeginTx(tctx, nil)
	if err != nil {
		return fmt.Errorf("batch: begin: %w", err)
	}
	b := &batch{s: s, tx: tx, ctx: tctx, seq: s.nextBatchSeq(), waits: s.w.Stats().WaitCount}
	committed := false
	if s.recent != nil {
		s.recent.begin(b.seq)
		defer func() {
			if !committed {
				s.recent.end(b.seq, false)
			}
		}()
	}
	if !s.postgres {
		// SQLite rolls a transaction back by itself on some errors (a
		// full disk, an I/O error) and then runs the next statements
		// outside any transaction, each committed at once. A row of a
		// connection-private table, written first, tells whether the
		// transaction is still the batch's (alive): without that, a
		// checkpoint written after such an error would be committed on
		// its own, past writes that were undone.
		qctx, cancel := s.op(tctx)
		_, err := tx.ExecContext(qctx, `CREATE TEMP TABLE IF NOT EXISTS ackd_batch (seq INTEGER NOT NULL)`)
		if err == nil {
			_, err = tx.ExecContext(qctx, `INSERT INTO temp.ackd_batch (seq) VALUES ($1)`, b.seq)
		}
		cancel()
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("batch: begin: %w", err)
		}
	}
	ferr := fn(context.WithValue(ctx, batchKey{}, b))
	if ferr == nil {
		ferr = b.alive()
	}
	if ferr == nil && !s.postgres {
		qctx, cancel := s.op(tctx)
		_, ferr = tx.ExecContext(qctx, `DELETE FROM temp.ackd_batch`)
		cancel()
	}
	if ferr != nil {
		_ = tx.Rollback()
		return ferr
	}
	if s.opts.TestPause != nil {
		s.opts.TestPause("batch-commit")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("batch: commit: %w", err)
	}
	committed = true
	if s.recent != nil {
		// Before the functions after the commit: they may wake a writer
		// whose batch should find this one's requests kept.
		s.recent.end(b.seq, true)
	}
	b.mu.Lock()
	after := b.after
	b.after = nil
	b.mu.Unlock()
	for _, f := range after {
		f()
	}
	return nil
}

// alive fails when the batch can no longer commit what it wrote: a
// savepoint could not be undone or released, or (SQLite) the transaction
// was rolled back under it.
func (b *batch) alive() error {
	b.mu.Lock()
	broken := b.broken
	b.mu.Unlock()
	if broken != nil {
		return broken
	}
	if b.s.postgres {
		// An aborted PostgreSQL transaction refuses every statement
		// until it ends, and its COMMIT rolls back: nothing to check.
		return nil
	}
	qctx, cancel := b.s.op(b.ctx)
	defer cancel()
	var one int
	err := cached{s: b.s, db: b.s.w, tx: b.tx}.QueryRowContext(qctx, `SELECT 1 FROM temp.ackd_batch WHERE seq = $1`, b.seq).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		err = errors.New("the transaction was rolled back")
	}
	if err != nil {
		b.fail(fmt.Errorf("batch: %w", err))
		return b.broken
	}
	return nil
}

func (b *batch) fail(err error) {
	b.mu.Lock()
	if b.broken == nil {
		b.broken = err
	}
	b.mu.Unlock()
}

// txn is one store call's write transaction: a transaction of its own,
// or, inside a batch, a savepoint of the batch's transaction that Commit
// releases and Rollback undoes.
type txn struct {
	tx   *sql.Tx
	q    cached // tx's statements, through the store's statement cache
	b    *batch // nil: a transaction of its own
	done bool
}

// begin starts a store call's write transaction: its own, or a savepoint
// of the batch ctx carries.
func (s *sqlStore) begin(ctx context.Context) (*txn, error) {
	b := s.batchOf(ctx)
	if b == nil {
		if !s.postgres {
			s.stmts.preparePending(ctx, s.w)
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		return &txn{tx: tx, q: cached{s: s, db: s.w, tx: tx}}, nil
	}
	if err := b.alive(); err != nil {
		return nil, err
	}
	// One name for every call's savepoint: calls end in the order they
	// begin, and RELEASE and ROLLBACK TO name the newest savepoint of a
	// name (SQLite and PostgreSQL alike). A constant text is prepared
	// once; a numbered one was parsed anew for every call, 6 % of ackd's
	// CPU in a backlog.
	q := cached{s: s, db: s.w, tx: b.tx}
	if _, err := q.ExecContext(ctx, `SAVEPOINT ackd_call`); err != nil {
		b.fail(fmt.Errorf("batch: savepoint: %w", err))
		return nil, err
	}
	return &txn{tx: b.tx, q: q, b: b}, nil
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.q.ExecContext(ctx, query, args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.q.QueryContext(ctx, query, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.q.QueryRowContext(ctx, query, args...)
}

// Commit commits the transaction, or releases the savepoint (its writes
// then commit with the batch).
func (t *txn) Commit() error {
	if t.b == nil {
		return t.tx.Commit()
	}
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if _, err := t.q.ExecContext(t.b.ctx, `RELEASE SAVEPOINT ackd_call`); err != nil {
		t.b.fail(fmt.Errorf("batch: release savepoint: %w", err))
		return err
	}
	return nil
}

// Rollback undoes the transaction, or what was written since the
// savepoint; after Commit it does nothing (sql.ErrTxDone).
func (t *txn) Rollback() error {
	if t.b == nil {
		return t.tx.Rollback()
	}
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	_, err := t.q.ExecContext(t.b.ctx, `ROLLBACK TO SAVEPOINT ackd_call`)
	if err == nil {
		_, err = t.q.ExecContext(t.b.ctx, `RELEASE SAVEPOINT ackd_call`)
	}
	if err != nil {
		t.b.fail(fmt.Errorf("batch: undo a failed call: %w", err))
	}
	return err
}

// querier reads and writes single statements.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rd is where a read goes: the batch ctx carries, so it sees the batch's
// own writes, else the read pool.
func (s *sqlStore) rd(ctx context.Context) querier {
	if b := s.batchOf(ctx); b != nil {
		return cached{s: s, db: s.w, tx: b.tx}
	}
	return cached{s: s, db: s.r}
}

// wr is where a single-statement write outside begin goes: the batch ctx
// carries, else the write pool.
func (s *sqlStore) wr(ctx context.Context) querier {
	if b := s.batchOf(ctx); b != nil {
		return cached{s: s, db: s.w, tx: b.tx}
	}
	return cached{s: s, db: s.w}
}
