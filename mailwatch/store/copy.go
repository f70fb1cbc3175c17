package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// copyTable is one table Copy moves, with its columns in the order both
// backends share. Listing them (rather than SELECT *) keeps the copy exact
// when a later migration adds a column the target fills with its default,
// and lets bytesCols convert between SQLite TEXT and PostgreSQL BYTEA.
type copyTable struct {
	name string
	cols []string
	// serial: the table has a BIGSERIAL id on PostgreSQL whose sequence
	// must move past the copied ids.
	serial bool
	// textAsBytes names columns that are TEXT on SQLite and BYTEA on
	// PostgreSQL (requests.text); blobCols are BLOB/BYTEA on both.
	textAsBytes, blobCols []string
}

// copyTables are in foreign-key order: a row's parents are copied first.
// leases and the outbox claim columns are deliberately missing: they
// describe running processes, not history.
var copyTables = []copyTable{
	{name: "sync_state", cols: []string{"dept", "mailbox", "uid_validity", "last_uid", "updated_at"}},
	{name: "ref_counters", cols: []string{"dept", "last_seq"}},
	{name: "processed", cols: []string{"dept", "message_key", "outcome", "processed_at", "mailbox", "uid"}},
	{name: "requests", serial: true, textAsBytes: []string{"text"}, cols: []string{"id", "dept", "seq", "ref",
		"message_key", "message_id", "mailbox", "uid", "requester", "requester_name", "subject", "category",
		"rule", "state", "received_at", "due_at", "created_at", "updated_at", "first_response_at",
		"resolved_at", "escalation_level", "reminders", "text", "cycle_start", "answered_at",
		"assigned_to", "late_notice_for", "waiting_since", "last_activity_at", "recipients", "next_wake", "version", "promised_at",
		"decide_input", "language", "rating_asked_at", "rating", "rated_at", "parent_ref", "moved_to"}},
	{name: "thread_keys", cols: []string{"dept", "thread_key", "request_id"}},
	{name: "skipped", serial: true, cols: []string{"id", "dept", "mailbox", "uid", "message_key", "message_id",
		"from_addr", "subject", "reason", "refusal", "skipped_at", "decide_input"}},
	{name: "events", serial: true, cols: []string{"id", "request_id", "dept", "kind", "at", "actor", "detail", "level"}},
	{name: "outbox", serial: true, blobCols: []string{"raw"}, cols: []string{"id", "request_id", "dept", "kind",
		"message_id", "envelope_from", "recipients", "raw", "state", "attempts", "next_attempt",
		"created_at", "sent_at", "failed_at", "last_error", "held_reason", "held_since", "dropped_at", "drop_reason"}},
	{name: "outbox_recipients", cols: []string{"outbox_id", "address", "sent_at"}},
	{name: "digest_sent", cols: []string{"dept", "day", "queued_at"}},
	{name: "parked", cols: []string{"dept", "mailbox", "uid_validity", "uid", "message_id", "from_addr", "subject",
		"size", "received_at", "attempts", "last_error", "first_parked", "parked_at"}},
	// The copied next_wake values were planned under these: without them
	// the first start on the new store would plan every request again.
	{name: "wake_plans", cols: []string{"dept", "fingerprint", "planned_at"}},
	{name: "staff_away", cols: []string{"dept", "address", "until_at", "reason", "set_at"}},
	{name: "staff_away_log", cols: []string{"dept", "address", "from_at", "until_at", "reason"}},
	{name: "assign_cursor", cols: []string{"dept", "last", "updated_at"}},
}

// copyBatch rows go into one INSERT: few round trips to a remote
// PostgreSQL, far below its 65535-parameter limit (29 columns × 100).
const copyBatch = 100

// ErrTargetNotEmpty: Copy refuses a target store that already holds data.
var ErrTargetNotEmpty = errors.New("target store is not empty")

// TableCount is the number of rows of one table.
type TableCount struct {
	Table string
	Rows  int64
}

// Copy copies every table of src into dst (both opened by Open, so both at
// this ackd's schema), keeping ids, references, thread keys and outbox
// states as they are. It writes in one transaction on dst: either the whole
// history arrives or nothing does. It refuses a dst holding any row
// (ErrTargetNotEmpty), and before committing compares each table's row
// count with src's, failing without writing on any mismatch. It returns the
// counts of src, table by table.
//
// src is read in one transaction too, so a consistent snapshot is copied;
// still, stop ackd before copying, or mail that arrives meanwhile is
// acknowledged by the old store only. ctx alone bounds the copy (not the
// stores' query timeout: a large history takes longer).
func Copy(ctx context.Context, dst, src Store) ([]TableCount, error) {
	d, ok := dst.(*sqlStore)
	if !ok {
		return nil, fmt.Errorf("copy store: target %T is not a store opened by Open", dst)
	}
	s, ok := src.(*sqlStore)
	if !ok {
		return nil, fmt.Errorf("copy store: source %T is not a store opened by Open", src)
	}
	if d == s {
		return nil, errors.New("copy store: source and target are the same store")
	}
	// SQLite's deferred read transaction is a snapshot from its first read
	// (WAL); PostgreSQL needs REPEATABLE READ for one.
	var ropts *sql.TxOptions
	if s.postgres {
		ropts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	rtx, err := s.r.BeginTx(ctx, ropts)
	if err != nil {
		return nil, fmt.Errorf("copy store: begin reading source: %w", err)
	}
	defer func() { _ = rtx.Rollback() }()
	wtx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("copy store: begin writing target: %w", err)
	}
	defer func() { _ = wtx.Rollback() }()
	if d.postgres {
		// Two copies into one database at once would both see it empty.
		if _, err := wtx.ExecContext(ctx, postgresMigrationLock); err != nil {
			return nil, fmt.Errorf("copy store: lock target: %w", err)
		}
	}
	for _, t := range copyTables {
		var n int64
		if err := wtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("copy store: count target %s: %w", t.name, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("copy store: %w: table %s holds %d row(s); copy into a fresh database", ErrTargetNotEmpty, t.name, n)
		}
	}
	var counts []TableCount
	for _, t := range copyTables {
		copied, err := copyOne(ctx, wtx, rtx, t, d.textBytes)
		if err != nil {
			return nil, fmt.Errorf("copy store: table %s: %w", t.name, err)
		}
		var want, got int64
		if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&want); err != nil {
			return nil, fmt.Errorf("copy store: count source %s: %w", t.name, err)
		}
		if err := wtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&got); err != nil {
			return nil, fmt.Errorf("copy store: count target %s: %w", t.name, err)
		}
		if want != got || copied != want {
			return nil, fmt.Errorf("copy store: table %s: source has %d rows, %d were copied, target has %d; nothing was written", t.name, want, copied, got)
		}
		if t.serial && d.postgres {
			// The next id handed out must follow the copied ones.
			q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM %s), false)`, t.name, t.name)
			if _, err := wtx.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("copy store: table %s: move id sequence: %w", t.name, err)
			}
		}
		counts = append(counts, TableCount{Table: t.name, Rows: want})
	}
	d.requestsChanged(ctx)
	if err := wtx.Commit(); err != nil {
		return nil, fmt.Errorf("copy store: commit: %w", err)
	}
	return counts, nil
}

// copyOne streams one table from r into w in batches and returns the
// number of rows written.
func copyOne(ctx context.Context, w, r *sql.Tx, t copyTable, dstTextBytes bool) (int64, error) {
	cols := strings.Join(t.cols, ", ")
	order := "1, 2"
	if t.serial {
		order = "id"
	}
	rows, err := r.QueryContext(ctx, `SELECT `+cols+` FROM `+t.name+` ORDER BY `+order)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	defer rows.Close()
	conv := make([]func(any) any, len(t.cols))
	for i, c := range t.cols {
		switch {
		case slices.Contains(t.textAsBytes, c) && dstTextBytes:
			conv[i] = asBytes
		case slices.Contains(t.textAsBytes, c):
			conv[i] = asString
		case slices.Contains(t.blobCols, c):
			conv[i] = asBytes
		}
	}
	var (
		batch []any
		n     int64
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		nrows := len(batch) / len(t.cols)
		var b strings.Builder
		b.WriteString(`INSERT INTO ` + t.name + ` (` + cols + `) VALUES `)
		p := 1
		for i := range nrows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range t.cols {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", p)
				p++
			}
			b.WriteByte(')')
		}
		res, err := w.ExecContext(ctx, b.String(), batch...)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		n += k
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		vals := make([]any, len(t.cols))
		ptrs := make([]any, len(t.cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
		for i, f := range conv {
			if f != nil && vals[i] != nil {
				vals[i] = f(vals[i])
			}
		}
		batch = append(batch, vals...)
		if len(batch)/len(t.cols) >= copyBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read: %w", err)
	}
	return n, flush()
}

func asBytes(v any) any {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []byte:
		return x
	}
	return v
}

func asString(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}
