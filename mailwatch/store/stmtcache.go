package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps SQLite's hot statements prepared. database/sql hands a
// query's text to the driver on every call and modernc's SQLite parses it
// again each time: 11.5 % of ackd's CPU in a backlog
// (docs/performance.md). A statement prepared once on a pool is prepared
// per connection on first use and then reused, in a transaction too
// (sql.Tx.StmtContext reuses the statement already prepared on the
// transaction's connection). PostgreSQL's driver (pgx) keeps its own
// statement cache, so only SQLite uses this one.
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[stmtKey]*sql.Stmt
	pending map[stmtKey]bool // asked for inside a transaction, not prepared yet
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// maxCachedStmts bounds the cache: the store's queries are a fixed set,
// but one built from a variable number of placeholders (IN lists) has a
// text per length; past the bound a query is prepared each time, as
// without the cache.
const maxCachedStmts = 256

// get returns query prepared on db, or nil: the caller then runs the
// text. Inside a transaction (inTx) the pool's only connection may be the
// transaction's own (SQLite's writer), so nothing is prepared there: the
// query waits in pending and preparePending prepares it before the next
// transaction begins. Nil too when the cache is full or the statement
// cannot be prepared (the caller gets the error from running the text).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string, inTx bool) *sql.Stmt {
	k := stmtKey{db, query}
	c.mu.Lock()
	if st, ok := c.stmts[k]; ok {
		c.mu.Unlock()
		return st
	}
	full := len(c.stmts)+len(c.pending) >= maxCachedStmts
	if inTx && !full {
		if c.pending == nil {
			c.pending = map[stmtKey]bool{}
		}
		c.pending[k] = true
	}
	c.mu.Unlock()
	if inTx || full {
		return nil
	}
	// Prepared without the lock held: preparing waits for a connection,
	// and the goroutine holding it may be asking the cache for another.
	st, err := db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	return c.keep(k, st)
}

// keep caches st under k, or closes it when another goroutine cached the
// same query meanwhile, and returns the cached one.
func (c *stmtCache) keep(k stmtKey, st *sql.Stmt) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[k]; ok {
		_ = st.Close()
		return old
	}
	if c.stmts == nil {
		c.stmts = map[stmtKey]*sql.Stmt{}
	}
	c.stmts[k] = st
	return st
}

// preparePending prepares on db the queries transactions asked for; the
// caller holds no connection of db (it is about to begin a transaction).
func (c *stmtCache) preparePending(ctx context.Context, db *sql.DB) {
	c.mu.Lock()
	var todo []stmtKey
	for k := range c.pending {
		if k.db == db {
			todo = append(todo, k)
			delete(c.pending, k)
		}
	}
	c.mu.Unlock()
	for _, k := range todo {
		st, err := db.PrepareContext(context.WithoutCancel(ctx), k.query)
		if err != nil {
			continue // run as text; asked for again at its next use
		}
		c.keep(k, st)
	}
}

// close closes every cached statement; the store closes its pools after.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, k)
	}
}

// cached runs single statements on db (a pool) or tx (a transaction of
// the pool w) through s's statement cache; it is a querier.
type cached struct {
	s  *sqlStore
	db *sql.DB // the pool the statements are prepared on
	tx *sql.Tx // nil: run on db
}

// stmt returns query prepared for this querier, or nil to run the text.
func (c cached) stmt(ctx context.Context, query string) *sql.Stmt {
	if c.s.postgres {
		return nil
	}
	st := c.s.stmts.get(ctx, c.db, query, c.tx != nil)
	if st == nil || c.tx == nil {
		return st
	}
	return c.tx.StmtContext(ctx, st)
}

func (c cached) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if c.tx != nil {
		return c.tx.ExecContext(ctx, query, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c cached) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if c.tx != nil {
		return c.tx.QueryContext(ctx, query, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c cached) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if c.tx != nil {
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}
