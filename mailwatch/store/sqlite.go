package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// sqliteBusyTimeoutMS is how long a connection waits for another process's
// lock (an `ackd status` reading during a checkpoint, a second ackd) before
// SQLITE_BUSY.
const sqliteBusyTimeoutMS = 10000

// sqliteReaders bounds the read pool; WAL lets readers run beside the writer.
const sqliteReaders = 4

// openSQLite opens dsn (a file path, or ":memory:") with two pools: one
// writer connection and a few read-only readers.
//
// The single writer serialises every write transaction of this process in
// database/sql's pool instead of in SQLite's lock, where concurrent writers
// would fail with SQLITE_BUSY (a deferred transaction cannot always wait for
// the lock it upgrades to). _txlock=immediate additionally takes the write
// lock at BEGIN, so a second process writing the same file waits under
// busy_timeout instead of failing mid-transaction.
//
// synchronous=FULL: in WAL mode NORMAL keeps the database consistent but a
// power cut may roll back the last commits. The outbox sender may already
// have sent a receipt recorded by such a commit; after the rollback the
// mailbox sync re-reads the request and acknowledges it a second time. FULL
// makes every commit durable before RecordRequest returns, for one fsync per
// request, which a mailbox's rate of mail affords easily.
func openSQLite(ctx context.Context, dsn string, opts Options) (Store, error) {
	if dsn == "" {
		return nil, errors.New("open sqlite: empty dsn, want a file path")
	}
	if strings.HasPrefix(dsn, "file:") || strings.Contains(dsn, "?") {
		return nil, fmt.Errorf("open sqlite %q: dsn must be a plain file path (ackd sets the connection options itself)", dsn)
	}
	memory := dsn == ":memory:"
	if opts.ReadOnly {
		return openSQLiteReadOnly(ctx, dsn, opts)
	}
	if !memory {
		// SQLite would create the file with 0644; it holds mail, so create
		// it private first. The WAL and shared-memory files copy its mode.
		f, err := os.OpenFile(dsn, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", sqliteBusyTimeoutMS)
	wdsn := dsn + "?" + common + "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	registered, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	// The writer's connections are counted (recent.go). sql.Open opened
	// nothing yet; only its driver is taken.
	var conns atomic.Int64
	w := sql.OpenDB(countingConnector{drv: registered.Driver(), dsn: wdsn, opened: &conns})
	if err := registered.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	w.SetMaxOpenConns(1)
	// An in-memory database lives as long as its connection: never let the
	// pool close it.
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	ctx, cancel := context.WithTimeout(ctx, opts.QueryTimeout)
	defer cancel()
	fail := func(err error) (Store, error) {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	if !memory {
		var mode string
		if err := w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			return fail(err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fail(fmt.Errorf("journal mode is %q, want wal", mode))
		}
	}
	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return fail(err)
	}
	if err := migrate(ctx, w, ms, ""); err != nil {
		return fail(err)
	}

	r := w
	if !memory {
		r, err = sql.Open("sqlite", dsn+"?"+common+"&_pragma=query_only(1)")
		if err != nil {
			return fail(err)
		}
		r.SetMaxOpenConns(sqliteReaders)
		r.SetMaxIdleConns(sqliteReaders)
		if err := r.PingContext(ctx); err != nil {
			_ = r.Close()
			return fail(err)
		}
	}
	return &sqlStore{w: w, r: r, opts: opts, recent: newRecentRequests(&conns)}, nil
}

// openSQLiteReadOnly opens an existing database file with one read-only
// pool and checks that its schema is this ackd's (Options.ReadOnly).
func openSQLiteReadOnly(ctx context.Context, dsn string, opts Options) (Store, error) {
	if _, err := os.Stat(dsn); err != nil {
		return nil, fmt.Errorf("open sqlite read-only: %w", err)
	}
	r, err := sql.Open("sqlite", dsn+fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=query_only(1)", sqliteBusyTimeoutMS))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	ctx, cancel := context.WithTimeout(ctx, opts.QueryTimeout)
	defer cancel()
	ms, err := loadMigrations(sqliteMigrations, "migrations/sqlite")
	if err == nil {
		err = checkReadOnlySchema(ctx, r, ms)
	}
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	return &sqlStore{w: r, r: r, opts: opts}, nil
}
