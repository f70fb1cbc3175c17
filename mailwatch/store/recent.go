package store

import (
	"cmp"
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// recentRequests keeps, per department, the newest requests as
// LatestRequests returns them, for SQLite. Every new request's burst check
// reads up to 200 of them, and reading those rows again for each request
// of a backlog was 18 % of ackd's CPU and two thirds of its allocations
// (docs/performance.md): the same rows, read again only to find the one
// new one.
//
// The kept rows are the committed state. A batch (Store.Batch) sees them
// with its own new requests laid over them, which join the kept rows when
// it commits and vanish when it rolls back. Anything else that changes a
// request (Apply, Move, a request recorded outside a batch) forgets every
// kept row: those are rare beside new requests, and forgetting is always
// right. Another process that writes the database (an `ackd` command
// beside the daemon) is seen by the writer connection's data_version,
// which changes only with another connection's commits; the writer pool
// has one connection, whose replacement (after an error) is counted by
// its connector, and a new connection forgets too.
//
// The cache is only read inside a batch, on the writer connection the
// batch holds: SQLite has one writer, so nothing else writes between the
// check and the read.
type recentRequests struct {
	conns *atomic.Int64 // writer connections opened so far (countingConnector)

	mu      sync.Mutex
	conn    int64 // conns when the rows below were read
	version int64 // the writer connection's data_version then
	depts   map[string][]recentRow
	// The open batch's own: the requests it recorded, and whether it
	// changed requests in any other way (then it reads the table).
	batch int64
	added map[string][]recentRow
	dirty bool
}

// recentRow is a kept request: the fields LatestRequests returns, a fifth
// of a whole Request.
type recentRow struct {
	id                                    int64
	ref, requester, subject, rule, parent string
	state                                 State
	received                              time.Time
}

func rowOf(r Request) recentRow {
	return recentRow{id: r.ID, ref: r.Ref, requester: r.Requester, subject: r.Subject, rule: r.Rule,
		parent: r.ParentRef, state: r.State, received: r.ReceivedAt}
}

func (r recentRow) request(dept string) Request {
	return Request{ID: r.id, Dept: dept, Ref: r.ref, Requester: r.requester, Subject: r.subject,
		Rule: r.rule, State: r.state, ReceivedAt: r.received, ParentRef: r.parent}
}

// older orders rows oldest first (ReceivedAt, then id), the reverse of
// LatestRequests' order: rows are kept so, and a new request, nearly
// always the newest, is appended.
func older(a, b recentRow) int {
	if c := a.received.Compare(b.received); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// insertRow adds r to rows (oldest first) in order.
func insertRow(rows []recentRow, r recentRow) []recentRow {
	i := len(rows)
	for i > 0 && older(rows[i-1], r) > 0 {
		i--
	}
	return slices.Insert(rows, i, r)
}

// recentKeep is how many requests of a department are kept: LatestRequests
// with a larger limit reads the table.
const recentKeep = 256

func newRecentRequests(conns *atomic.Int64) *recentRequests {
	return &recentRequests{conns: conns, depts: map[string][]recentRow{}, added: map[string][]recentRow{}}
}

// begin starts batch seq's overlay; what an earlier batch left (it ended
// without end, which Batch does not allow) is forgotten.
func (c *recentRequests) begin(seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batch != 0 {
		c.forgetLocked()
	}
	c.batch, c.dirty = seq, false
	clear(c.added)
}

// end closes batch seq: committed, its new requests join the kept rows.
func (c *recentRequests) end(seq int64, committed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batch != seq {
		// Another batch began in the meantime (after this one's commit,
		// before this call): its overlay stays; what is kept may be
		// short of this batch's requests.
		c.forgetLocked()
		return
	}
	switch {
	case !committed:
		// Rolled back: the kept rows are still the committed state.
	case c.dirty:
		c.forgetLocked()
	default:
		for dept, rows := range c.added {
			kept, ok := c.depts[dept]
			if !ok {
				continue
			}
			for _, r := range rows {
				kept = insertRow(kept, r)
			}
			if len(kept) >= 2*recentKeep {
				// Dropped in one go, now and then, not one row per request.
				kept = append(kept[:0], kept[len(kept)-recentKeep:]...)
			}
			c.depts[dept] = kept
		}
	}
	c.batch, c.dirty = 0, false
	clear(c.added)
}

// recorded notes a request recorded in batch seq (0: outside any batch,
// before its transaction commits).
func (c *recentRequests) recorded(seq int64, r Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq == 0 || seq != c.batch {
		c.forgetLocked()
		return
	}
	c.added[r.Dept] = insertRow(c.added[r.Dept], rowOf(r))
}

// changed notes a change to requests other than a new one, in batch seq
// (0: outside any batch, before its transaction commits).
func (c *recentRequests) changed(seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq != 0 && seq == c.batch {
		c.dirty = true
		return
	}
	c.forgetLocked()
}

// requestRecorded tells the cache of recent requests (if any) of r, new
// in the transaction ctx is in; call it before that commits.
func (s *sqlStore) requestRecorded(ctx context.Context, r Request) {
	if s.recent != nil {
		s.recent.recorded(s.seqOf(ctx), r)
	}
}

// requestsChanged tells the cache of recent requests (if any) that the
// transaction ctx is in changes requests otherwise; call it before that
// commits.
func (s *sqlStore) requestsChanged(ctx context.Context) {
	if s.recent != nil {
		s.recent.changed(s.seqOf(ctx))
	}
}

// seqOf is the number of the batch ctx carries, 0 for none.
func (s *sqlStore) seqOf(ctx context.Context) int64 {
	if b := s.batchOf(ctx); b != nil {
		return b.seq
	}
	return 0
}

func (c *recentRequests) forgetLocked() {
	clear(c.depts)
	c.conn, c.version = 0, 0
}

// latestKept answers LatestRequests from the kept rows inside batch b, reading
// a department's rows once; ok is false when the table must be read
// instead (the batch changed requests, or the limit is beyond what is
// kept).
func (s *sqlStore) latestKept(ctx context.Context, b *batch, dept string, since time.Time, limit int, keep func(Request) bool) (out []Request, ok bool, err error) {
	c := s.recent
	if c == nil || limit > recentKeep {
		return nil, false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batch != b.seq || c.dirty {
		return nil, false, nil
	}
	q := cached{s: s, db: s.w, tx: b.tx}
	var version int64
	if err := q.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return nil, false, fmt.Errorf("latest requests of %s: data version: %w", dept, err)
	}
	if conn := c.conns.Load(); conn != c.conn || version != c.version {
		c.forgetLocked()
		c.conn, c.version = conn, version
	}
	added := c.added[dept]
	kept, have := c.depts[dept]
	if !have {
		// The table holds the batch's own new requests too: read as many
		// more and leave those out.
		rows, err := s.latestRows(ctx, q, dept, time.Time{}, recentKeep+len(added))
		if err != nil {
			return nil, false, err
		}
		ids := make(map[int64]bool, len(added))
		for _, r := range added {
			ids[r.id] = true
		}
		kept = make([]recentRow, 0, 2*recentKeep)
		for i := len(rows) - 1; i >= 0; i-- {
			if !ids[rows[i].ID] {
				kept = append(kept, rowOf(rows[i]))
			}
		}
		kept = kept[max(0, len(kept)-recentKeep):]
		c.depts[dept] = kept
	}
	// Both lists are oldest first: walk them back as one, newest first.
	// Past its newest recentKeep, kept may have gaps (the oldest are
	// dropped in one go), but limit <= recentKeep keeps the walk short of
	// them.
	i, j := len(kept)-1, len(added)-1
	for n := 0; n < limit && (i >= 0 || j >= 0); n++ {
		var r recentRow
		if j < 0 || (i >= 0 && older(kept[i], added[j]) > 0) {
			r, i = kept[i], i-1
		} else {
			r, j = added[j], j-1
		}
		if r.received.IsZero() {
			continue // as the table's NULL, never at or after since
		}
		if r.received.Before(since) {
			break // everything after is older still
		}
		if req := r.request(dept); keep == nil || keep(req) {
			out = append(out, req)
		}
	}
	return out, true, nil
}

// countingConnector opens SQLite connections with dsn and counts them, so
// the cache of recent requests knows when the writer's connection was
// replaced (its data_version then starts anew).
type countingConnector struct {
	drv    driver.Driver
	dsn    string
	opened *atomic.Int64
}

func (c countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err == nil {
		c.opened.Add(1)
	}
	return conn, err
}

func (c countingConnector) Driver() driver.Driver { return c.drv }
