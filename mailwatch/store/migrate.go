package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migration is one schema step; version n turns schema n-1 into schema n.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads dir of fsys: files named NNNN_words.sql, numbered
// 1, 2, 3 … without gaps, so a lost or misnamed file fails loudly instead
// of leaving a database half migrated.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("read migrations: %s: name must look like 0001_words.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("read migrations: %s: name must start with a positive number", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("read migrations: %s: expected version %d", m.name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("read migrations: none in %s", dir)
	}
	return ms, nil
}

// migrate brings db up to the last of ms, one transaction per step, and
// refuses a database newer than ms. The version is re-read inside each
// transaction, so two processes opening the same new database at once apply
// each step once. lock, unless empty, is the first statement of every
// migration transaction: a backend whose transactions do not exclude each
// other (PostgreSQL) takes a lock there that makes concurrent migrations
// take turns; SQLite's write transactions already do.
func migrate(ctx context.Context, db *sql.DB, ms []migration, lock string) error {
	latest := ms[len(ms)-1].version
	for _, m := range ms {
		if err := migrateStep(ctx, db, m, latest, lock); err != nil {
			return err
		}
	}
	// With nothing to apply the loop above checks nothing, so look once more.
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if v > latest {
		return tooNew(v, latest)
	}
	return nil
}

func migrateStep(ctx context.Context, db *sql.DB, m migration, latest int, lock string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration %s: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if lock != "" {
		if _, err = tx.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("lock for migration %s: %w", m.name, err)
		}
	}
	// Created under the lock: PostgreSQL's CREATE TABLE IF NOT EXISTS is not
	// safe against a concurrent one.
	if _, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err = tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("init schema_version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > latest {
		return tooNew(v, latest)
	}
	if v >= m.version {
		return tx.Rollback()
	}
	if _, err = tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	if _, err = tx.ExecContext(ctx, `UPDATE schema_version SET version = $1`, m.version); err != nil {
		return fmt.Errorf("apply migration %s: set version: %w", m.name, err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	return nil
}

func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func tooNew(have, know int) error {
	return fmt.Errorf("%w: database is at schema version %d, this ackd knows up to %d; run a newer ackd or restore a backup", ErrSchemaTooNew, have, know)
}
