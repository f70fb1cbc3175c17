package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// sqlStore implements Store over database/sql in SQL that SQLite and
// PostgreSQL both run. Writes go through w, reads through r; for SQLite w
// has a single connection (see openSQLite), for PostgreSQL both may be the
// same pool.
type sqlStore struct {
	w, r *sql.DB
	opts Options
	// textBytes: requests.text is a byte column (PostgreSQL's BYTEA, since
	// its TEXT refuses NUL), so the excerpt is written as []byte.
	textBytes bool
	// postgres: the backend is PostgreSQL (row locks, sequences, SKIP
	// LOCKED); false for SQLite.
	postgres bool
	// batchSeq numbers the batches (Batch) for their liveness check.
	batchSeq atomic.Int64
	// stmts keeps SQLite's statements prepared (stmtcache.go).
	stmts stmtCache
	// recent keeps SQLite's newest requests per department (recent.go);
	// nil on PostgreSQL and read-only.
	recent *recentRequests
}

var _ Store = (*sqlStore)(nil)

// maxKeysPerQuery keeps IN lists well below every backend's parameter limit.
const maxKeysPerQuery = 500

func (s *sqlStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.QueryTimeout)
}

func (s *sqlStore) Close() error {
	s.stmts.close()
	var err error
	if s.r != s.w {
		err = s.r.Close()
	}
	return errors.Join(err, s.w.Close())
}

// millis converts t for an INTEGER column; the zero time is NULL.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// roundTrip is t as it reads back from the database.
func roundTrip(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// normKey makes "<id@host>" and "id@host" the same thread key: headers and
// callers disagree on the brackets, and a missed match would acknowledge a
// reply as a new request.
func normKey(k string) string {
	k = strings.TrimSpace(k)
	k = strings.TrimPrefix(k, "<")
	k = strings.TrimSuffix(k, ">")
	return strings.TrimSpace(k)
}

func normKeys(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		k = normKey(k)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

func validState(st State) bool {
	switch st {
	case StateNew, StateAcknowledged, StateAnswered, StateWaiting, StateOverdue, StateResolved:
		return true
	}
	return false
}

func (s *sqlStore) SyncState(ctx context.Context, dept, mailbox string) (SyncState, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var v, u int64
	err := s.rd(ctx).QueryRowContext(ctx, `SELECT uid_validity, last_uid FROM sync_state WHERE dept = $1 AND mailbox = $2`, dept, mailbox).Scan(&v, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return SyncState{}, nil
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("read sync state of %s/%s: %w", dept, mailbox, err)
	}
	return SyncState{UIDValidity: uint32(v), LastUID: uint32(u)}, nil
}

func (s *sqlStore) SaveSyncState(ctx context.Context, dept, mailbox string, st SyncState) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.fencedWrite(ctx, dept, func(w execer) error {
		_, err := w.ExecContext(ctx, `INSERT INTO sync_state (dept, mailbox, uid_validity, last_uid, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (dept, mailbox) DO UPDATE SET
			uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, updated_at = excluded.updated_at`,
			dept, mailbox, int64(st.UIDValidity), int64(st.LastUID), s.opts.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("save sync state of %s/%s: %w", dept, mailbox, err)
	}
	return nil
}

func (s *sqlStore) Seen(ctx context.Context, dept, key string) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var one int
	err := s.rd(ctx).QueryRowContext(ctx, `SELECT 1 FROM processed WHERE dept = $1 AND message_key = $2`, dept, key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check processed %s/%s: %w", dept, key, err)
	}
	return true, nil
}

func (s *sqlStore) RecordRequest(ctx context.Context, r NewRequest, build func(ref string) ([]NewMail, error)) (Request, error) {
	if r.State == "" {
		r.State = StateAcknowledged
	}
	switch {
	case r.Dept == "" || r.MessageKey == "":
		return Request{}, fmt.Errorf("record request: department and message key are required")
	case r.ReceivedAt.IsZero():
		return Request{}, fmt.Errorf("record request %s: received time is required", r.MessageKey)
	case !validState(r.State):
		return Request{}, fmt.Errorf("record request %s: unknown state %q", r.MessageKey, r.State)
	case build == nil:
		return Request{}, fmt.Errorf("record request %s: no build function", r.MessageKey)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return Request{}, fmt.Errorf("record request %s: begin: %w", r.MessageKey, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := s.checkFence(ctx, tx, r.Dept); err != nil {
		return Request{}, fmt.Errorf("record request %s: %w", r.MessageKey, err)
	}

	// The counter row stays locked until the transaction ends, so the
	// department's RecordRequests take turns from here on even where writers
	// run concurrently (PostgreSQL, READ COMMITTED): the check below then
	// sees every request committed before, and a duplicate never reaches
	// build. Its rollback returns the number.
	var seq int64
	err = tx.QueryRowContext(ctx, `INSERT INTO ref_counters (dept, last_seq) VALUES ($1, 1)
		ON CONFLICT (dept) DO UPDATE SET last_seq = ref_counters.last_seq + 1
		RETURNING last_seq`, r.Dept).Scan(&seq)
	if err != nil {
		return Request{}, fmt.Errorf("record request %s: allocate reference: %w", r.MessageKey, err)
	}
	if s.opts.TestPause != nil {
		s.opts.TestPause("record")
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM processed WHERE dept = $1 AND message_key = $2`, r.Dept, r.MessageKey).Scan(&one)
	switch {
	case err == nil:
		return Request{}, fmt.Errorf("record request %s: %w", r.MessageKey, ErrDuplicate)
	case !errors.Is(err, sql.ErrNoRows):
		return Request{}, fmt.Errorf("record request %s: check processed: %w", r.MessageKey, err)
	}
	ref := fmt.Sprintf("REQ-%d", seq)
	// Everything after the savepoint can be undone while the counter's
	// advance is still committed: build has seen ref, so it is spent.
	if _, err := tx.ExecContext(ctx, `SAVEPOINT record_request`); err != nil {
		return Request{}, fmt.Errorf("record request %s: savepoint: %w", r.MessageKey, err)
	}
	req, err := s.recordInTx(ctx, tx, r, seq, ref, build)
	if err != nil {
		// ErrDuplicate too: build has seen ref, so it stays spent.
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT record_request`); rerr == nil {
			done = tx.Commit() == nil
		}
		return Request{}, fmt.Errorf("record request %s as %s: %w", r.MessageKey, ref, err)
	}
	done = true
	s.requestRecorded(ctx, req)
	if err := tx.Commit(); err != nil {
		return Request{}, fmt.Errorf("record request %s: commit: %w", r.MessageKey, err)
	}
	return req, nil
}

func (s *sqlStore) recordInTx(ctx context.Context, tx *txn, r NewRequest, seq int64, ref string, build func(string) ([]NewMail, error)) (Request, error) {
	mails, err := build(ref)
	if err != nil {
		return Request{}, fmt.Errorf("build mail: %w", err)
	}
	if err := checkMails(mails); err != nil {
		return Request{}, fmt.Errorf("build mail: %w", err)
	}
	now := roundTrip(s.opts.Now())
	res, err := tx.ExecContext(ctx, `INSERT INTO processed (dept, message_key, outcome, processed_at)
		VALUES ($1, $2, 'request', $3) ON CONFLICT (dept, message_key) DO NOTHING`,
		r.Dept, r.MessageKey, now.UnixMilli())
	if err != nil {
		return Request{}, fmt.Errorf("mark processed: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Request{}, fmt.Errorf("mark processed: %w", err)
	} else if n == 0 {
		// Only reachable when RecordSkipped of the same key committed in
		// the meantime, on a backend whose writers run concurrently.
		return Request{}, ErrDuplicate
	}
	req := Request{
		Dept: r.Dept, Ref: ref, MessageKey: r.MessageKey, MessageID: r.MessageID,
		Mailbox: r.Mailbox, UID: r.UID,
		Requester: r.Requester, RequesterName: r.RequesterName, Subject: r.Subject,
		Category: r.Category, Rule: r.Rule, State: r.State,
		ReceivedAt: roundTrip(r.ReceivedAt), DueAt: roundTrip(r.DueAt), PromisedAt: roundTrip(r.PromisedAt), CreatedAt: now,
		Text: r.Text, CycleStart: roundTrip(r.ReceivedAt), LastActivityAt: roundTrip(r.ReceivedAt),
		Version: 1, Language: r.Language,
	}
	// A new request that does not say when it wakes is planned at once.
	switch {
	case r.State == StateResolved:
	case r.NextWake.IsZero():
		req.NextWake = req.ReceivedAt
		if req.NextWake.IsZero() {
			req.NextWake = now
		}
	default:
		req.NextWake = roundTrip(r.NextWake)
	}
	var text any = r.Text
	if s.textBytes {
		text = []byte(r.Text)
	}
	req.Recipients = slices.Clone(r.Recipients)
	rcpt, err := json.Marshal(nonNil(r.Recipients))
	if err != nil {
		return Request{}, fmt.Errorf("encode recipients: %w", err)
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO requests (dept, seq, ref, message_key, message_id, mailbox, uid,
			requester, requester_name, subject, category, rule, state,
			received_at, due_at, created_at, updated_at, text, cycle_start, last_activity_at, recipients, next_wake, version,
			promised_at, decide_input, language)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $14, $14, $18, $19, 1, $20, $21, $22)
		RETURNING id`,
		r.Dept, seq, ref, r.MessageKey, r.MessageID, r.Mailbox, int64(r.UID),
		r.Requester, r.RequesterName, r.Subject, r.Category, r.Rule, r.State,
		millis(r.ReceivedAt), millis(r.DueAt), now.UnixMilli(), text, string(rcpt), millis(req.NextWake),
		millis(r.PromisedAt), cleanText(r.DecideInput), r.Language).Scan(&req.ID)
	if err != nil {
		return Request{}, fmt.Errorf("insert request: %w", err)
	}
	// The request's own keys may already belong to another thread (two
	// requests quoting one announcement); that owner keeps them. The mail ackd
	// writes gets fresh Message-IDs, so a clash there is a bug and fails.
	if err := insertThreadKeys(ctx, tx, r.Dept, req.ID, append([]string{r.MessageID}, r.ThreadKeys...), false); err != nil {
		return Request{}, err
	}
	var ids []string
	for _, m := range mails {
		ids = append(ids, m.MessageID)
	}
	if err := insertThreadKeys(ctx, tx, r.Dept, req.ID, ids, true); err != nil {
		return Request{}, err
	}
	if err := queueMails(ctx, tx, r.Dept, req.ID, mails, now); err != nil {
		return Request{}, err
	}
	// Every history starts with the arrival.
	detail := "category " + r.Category
	if r.Rule != "" {
		detail += ", rule " + r.Rule
	}
	ev := Event{Kind: EventReceived, At: req.ReceivedAt, Actor: r.Requester, Detail: detail}
	if err := insertEvents(ctx, tx, req, []Event{ev}, now); err != nil {
		return Request{}, err
	}
	return req, nil
}

// checkMails refuses mail the sender could not send.
func checkMails(mails []NewMail) error {
	for i, m := range mails {
		switch {
		case normKey(m.MessageID) == "":
			return fmt.Errorf("mail %d (%s) has no Message-ID", i, m.Kind)
		case len(m.Recipients) == 0:
			return fmt.Errorf("mail %d (%s) has no recipients", i, m.Kind)
		case len(m.Raw) == 0:
			return fmt.Errorf("mail %d (%s) is empty", i, m.Kind)
		}
	}
	return nil
}

// queueMails inserts outbox rows, due now; requestID 0 stores NULL (mail of
// no request).
func queueMails(ctx context.Context, tx *txn, dept string, requestID int64, mails []NewMail, now time.Time) error {
	var reqID any
	if requestID != 0 {
		reqID = requestID
	}
	for _, m := range mails {
		rcpt, err := json.Marshal(m.Recipients)
		if err != nil {
			return fmt.Errorf("encode recipients: %w", err)
		}
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO outbox (request_id, dept, kind, message_id, envelope_from, recipients, raw,
				state, attempts, next_attempt, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) RETURNING id`,
			reqID, dept, m.Kind, m.MessageID, m.EnvelopeFrom, string(rcpt), m.Raw, now.UnixMilli()).Scan(&id)
		if err != nil {
			return fmt.Errorf("queue %s mail %s: %w", m.Kind, m.MessageID, err)
		}
		for _, a := range m.Recipients {
			_, err := tx.ExecContext(ctx, `INSERT INTO outbox_recipients (outbox_id, address) VALUES ($1, $2)
				ON CONFLICT (outbox_id, address) DO NOTHING`, id, limitAddress(a))
			if err != nil {
				return fmt.Errorf("queue %s mail %s: recipient: %w", m.Kind, m.MessageID, err)
			}
		}
	}
	return nil
}

// limitAddress is the form in which the per-address limit compares
// recipients: lower-cased in Go, so both backends agree on non-ASCII.
func limitAddress(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// insertThreadKeys attaches keys to a request. Unless strict, a key that
// already has an owner keeps it; strict fails on it, and on a key given twice.
func insertThreadKeys(ctx context.Context, tx *txn, dept string, requestID int64, keys []string, strict bool) error {
	q := `INSERT INTO thread_keys (dept, thread_key, request_id) VALUES ($1, $2, $3)`
	if !strict {
		q += ` ON CONFLICT (dept, thread_key) DO NOTHING`
		keys = normKeys(keys)
	}
	for _, k := range keys {
		_, err := tx.ExecContext(ctx, q, dept, normKey(k), requestID)
		if err != nil {
			return fmt.Errorf("insert thread key %s: %w", k, err)
		}
	}
	return nil
}

func (s *sqlStore) RecordSkipped(ctx context.Context, sk Skipped) error {
	if sk.Dept == "" || sk.MessageKey == "" {
		return fmt.Errorf("record skipped: department and message key are required")
	}
	at := sk.At
	if at.IsZero() {
		at = s.opts.Now()
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("record skipped %s: begin: %w", sk.MessageKey, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkFence(ctx, tx, sk.Dept); err != nil {
		return fmt.Errorf("record skipped %s: %w", sk.MessageKey, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO processed (dept, message_key, outcome, processed_at)
		VALUES ($1, $2, 'skipped', $3) ON CONFLICT (dept, message_key) DO NOTHING`,
		sk.Dept, sk.MessageKey, s.opts.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record skipped %s: mark processed: %w", sk.MessageKey, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("record skipped %s: mark processed: %w", sk.MessageKey, err)
	} else if n == 0 {
		return fmt.Errorf("record skipped %s: %w", sk.MessageKey, ErrDuplicate)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO skipped (dept, mailbox, uid, message_key, message_id, from_addr, subject,
			reason, refusal, skipped_at, decide_input)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		sk.Dept, sk.Mailbox, int64(sk.UID), sk.MessageKey, sk.MessageID, sk.From, sk.Subject,
		sk.Reason, sk.Refusal, at.UnixMilli(), cleanText(sk.DecideInput))
	if err != nil {
		return fmt.Errorf("record skipped %s: %w", sk.MessageKey, err)
	}
	// The keep, enforced as skips come in: only rows still holding an
	// input are read (index skipped_input), so this costs nothing once
	// they are cleared.
	if _, err := tx.ExecContext(ctx, `UPDATE skipped SET decide_input = ''
		WHERE dept = $1 AND skipped_at < $2 AND decide_input <> ''`, sk.Dept, at.Add(-SkippedInputKeep).UnixMilli()); err != nil {
		return fmt.Errorf("record skipped %s: clear old inputs: %w", sk.MessageKey, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record skipped %s: commit: %w", sk.MessageKey, err)
	}
	return nil
}

const mailCols = `id, request_id, dept, kind, message_id, envelope_from, recipients, raw, state, attempts,
	next_attempt, created_at, sent_at, failed_at, last_error, held_reason, held_since, dropped_at, drop_reason`

type scanner interface{ Scan(dest ...any) error }

func scanMail(sc scanner) (Mail, error) {
	var (
		m                          Mail
		reqID                      sql.NullInt64
		rcpt                       string
		next, created, sent, faild sql.NullInt64
		held, dropped              sql.NullInt64
	)
	err := sc.Scan(&m.ID, &reqID, &m.Dept, &m.Kind, &m.MessageID, &m.EnvelopeFrom, &rcpt, &m.Raw, &m.State,
		&m.Attempts, &next, &created, &sent, &faild, &m.LastError, &m.HeldReason, &held, &dropped, &m.DropReason)
	if err != nil {
		return Mail{}, err
	}
	m.HeldSince, m.DroppedAt = fromMillis(held), fromMillis(dropped)
	if err := json.Unmarshal([]byte(rcpt), &m.Recipients); err != nil {
		return Mail{}, fmt.Errorf("decode recipients of mail %d: %w", m.ID, err)
	}
	m.RequestID = reqID.Int64
	m.NextAttempt, m.CreatedAt = fromMillis(next), fromMillis(created)
	m.SentAt, m.FailedAt = fromMillis(sent), fromMillis(faild)
	return m, nil
}

func (s *sqlStore) DueMail(ctx context.Context, now time.Time, limit int) ([]Mail, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list due mail: limit %d, want > 0", limit)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT `+mailCols+` FROM outbox
		WHERE state = 'pending' AND next_attempt <= $1 ORDER BY next_attempt, id LIMIT $2`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("list due mail: %w", err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("list due mail: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due mail: %w", err)
	}
	return out, nil
}

func (s *sqlStore) NextMailAttempt(ctx context.Context) (time.Time, bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var next sql.NullInt64
	if err := s.rd(ctx).QueryRowContext(ctx, `SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("find next mail attempt: %w", err)
	}
	return fromMillis(next), next.Valid, nil
}

func (s *sqlStore) MailByID(ctx context.Context, id int64) (Mail, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	m, err := scanMail(s.rd(ctx).QueryRowContext(ctx, `SELECT `+mailCols+` FROM outbox WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Mail{}, fmt.Errorf("read mail %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Mail{}, fmt.Errorf("read mail %d: %w", id, err)
	}
	return m, nil
}

func (s *sqlStore) ThreadMail(ctx context.Context, requestID int64, messageIDs []string) ([]Mail, error) {
	ids := normKeys(messageIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var out []Mail
	for start := 0; start < len(ids); start += maxKeysPerQuery {
		chunk := ids[start:min(start+maxKeysPerQuery, len(ids))]
		// Outbox Message-IDs are stored as composed, without brackets;
		// both spellings are asked for so a caller's brackets never matter.
		args := []any{requestID}
		marks := make([]string, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k, "<"+k+">")
			marks = append(marks, fmt.Sprintf("$%d", len(args)-1), fmt.Sprintf("$%d", len(args)))
		}
		rows, err := s.rd(ctx).QueryContext(ctx, `SELECT `+mailCols+` FROM outbox
			WHERE request_id = $1 AND message_id IN (`+strings.Join(marks, ", ")+`) ORDER BY id`, args...)
		if err != nil {
			return nil, fmt.Errorf("find mail of request %d: %w", requestID, err)
		}
		for rows.Next() {
			m, err := scanMail(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("find mail of request %d: %w", requestID, err)
			}
			out = append(out, m)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("find mail of request %d: %w", requestID, err)
		}
	}
	return out, nil
}

// nonNil makes a nil list encode as [] rather than null.
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// markMail runs a pending → state transition and tells a missing mail from
// one that already left the pending state.
func (s *sqlStore) markMail(ctx context.Context, op string, id int64, query string, args ...any) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	args = append([]any{id}, args...)
	token := claimOf(ctx)
	if token != "" {
		// Only the claim's holder finishes the mail.
		args = append(args, token)
		query += fmt.Sprintf(" AND claim_token = $%d", len(args))
	}
	res, err := s.wr(ctx).ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	if n == 1 {
		return nil
	}
	var state, holds string
	err = s.wr(ctx).QueryRowContext(ctx, `SELECT state, claim_token FROM outbox WHERE id = $1`, id).Scan(&state, &holds)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", op, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	if state == MailPending && token != "" && holds != token {
		return fmt.Errorf("%s %d: %w (claimed again by another replica)", op, id, ErrFenced)
	}
	return fmt.Errorf("%s %d: %w (it is %s)", op, id, ErrNotPending, state)
}

const markSentUpdate = `UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = $2
		WHERE id = $1 AND state = 'pending'`

// markSentAfter records the recipients' send time and, for mail a limit
// had held, the release in the request's history.
func markSentAfter(ctx context.Context, id int64, at time.Time) func(*txn, markedMail) error {
	return func(tx *txn, m markedMail) error {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox_recipients SET sent_at = $2 WHERE outbox_id = $1`, id, at.UnixMilli()); err != nil {
			return fmt.Errorf("record send time of recipients: %w", err)
		}
		if m.heldSince.Valid {
			return m.event(ctx, tx, EventMailReleased, at, m.kind+" sent, held since "+fromMillis(m.heldSince).Format(time.RFC3339))
		}
		return nil
	}
}

func (s *sqlStore) MarkSent(ctx context.Context, id int64, at time.Time) error {
	return s.markMailTx(ctx, "mark mail sent", id, markSentUpdate, []any{at.UnixMilli()}, markSentAfter(ctx, id, at))
}

func (s *sqlStore) MarkSentMany(ctx context.Context, marks []SentMark) ([]error, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("mark %d mails sent: begin: %w", len(marks), err)
	}
	defer func() { _ = tx.Rollback() }()
	errs := make([]error, len(marks))
	for i, mk := range marks {
		err := markMailIn(ctx, tx, "mark mail sent", mk.ID, markSentUpdate, []any{mk.At.UnixMilli()}, markSentAfter(ctx, mk.ID, mk.At))
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotPending) || errors.Is(err, ErrFenced) {
			// Refused before anything was written for it: the others go on.
			errs[i] = err
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mark %d mails sent: %w", len(marks), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("mark %d mails sent: commit: %w", len(marks), err)
	}
	return errs, nil
}

func (s *sqlStore) HoldMail(ctx context.Context, id int64, next time.Time, reason string, at time.Time) error {
	return s.markMailTx(ctx, "hold mail", id, `UPDATE outbox SET next_attempt = $2, held_reason = $3,
			held_since = COALESCE(held_since, $4), claimed_by = '', claimed_until = 0
		WHERE id = $1 AND state = 'pending'`,
		[]any{next.UnixMilli(), cleanText(reason), at.UnixMilli()}, func(tx *txn, m markedMail) error {
			if m.heldSince.Valid {
				return nil // held before: the history has it
			}
			return m.event(ctx, tx, EventMailHeld, at, m.kind+" held: "+reason)
		})
}

func (s *sqlStore) DropMail(ctx context.Context, id int64, at time.Time, reason string) error {
	return s.markMailTx(ctx, "drop mail", id, `UPDATE outbox SET state = 'dropped', dropped_at = $2, drop_reason = $3,
			claimed_by = '', claimed_until = 0
		WHERE id = $1 AND state = 'pending'`, []any{at.UnixMilli(), cleanText(reason)}, func(tx *txn, m markedMail) error {
		return m.event(ctx, tx, EventMailDropped, at, m.kind+" not sent: "+reason)
	})
}

// markedMail is what a pending mail was before a transition.
type markedMail struct {
	requestID sql.NullInt64
	dept      string
	kind      string
	heldSince sql.NullInt64
}

// event appends an event to the mail's request, if it has one.
func (m markedMail) event(ctx context.Context, tx *txn, kind string, at time.Time, detail string) error {
	if !m.requestID.Valid {
		return nil
	}
	return insertEvents(ctx, tx, Request{ID: m.requestID.Int64, Dept: m.dept}, []Event{{Kind: kind, At: at, Detail: detail}}, at)
}

// markMailTx runs a pending → state transition in one transaction (see
// markMailIn).
func (s *sqlStore) markMailTx(ctx context.Context, op string, id int64, update string, args []any, after func(*txn, markedMail) error) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s %d: begin: %w", op, id, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := markMailIn(ctx, tx, op, id, update, args, after); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s %d: commit: %w", op, id, err)
	}
	return nil
}

// markMailIn runs a pending → state transition inside tx: it reads the
// mail (ErrNotFound; ErrNotPending unless pending; ErrFenced when ctx's
// claim is no longer the mail's), runs update (the id as $1, args after
// it) and then after with what it read. A refusal changes nothing in tx.
func markMailIn(ctx context.Context, tx *txn, op string, id int64, update string, args []any, after func(*txn, markedMail) error) error {
	var (
		m            markedMail
		state, holds string
	)
	err := tx.QueryRowContext(ctx, `SELECT state, request_id, dept, kind, held_since, claim_token FROM outbox WHERE id = $1`, id).
		Scan(&state, &m.requestID, &m.dept, &m.kind, &m.heldSince, &holds)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", op, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	args = append([]any{id}, args...)
	if token := claimOf(ctx); token != "" {
		// Only the claim's holder finishes the mail; the condition in the
		// UPDATE covers a claim taken after the read.
		if state == MailPending && holds != token {
			return fmt.Errorf("%s %d: %w (claimed again by another replica)", op, id, ErrFenced)
		}
		args = append(args, token)
		update += fmt.Sprintf(" AND claim_token = $%d", len(args))
	}
	res, err := tx.ExecContext(ctx, update, args...)
	if err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	// A concurrent writer (PostgreSQL) may have moved it after the read.
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	} else if n != 1 {
		return fmt.Errorf("%s %d: %w (it was %s)", op, id, ErrNotPending, state)
	}
	if err := after(tx, m); err != nil {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	return nil
}

func (s *sqlStore) SentTimes(ctx context.Context, f SentFilter, limit int) ([]time.Time, error) {
	marks, err := s.SentMarks(ctx, f, limit)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, len(marks))
	for i, m := range marks {
		out[i] = m.At
	}
	return out, nil
}

func (s *sqlStore) SentMarks(ctx context.Context, f SentFilter, limit int) ([]SentMark, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("count sent mail: limit %d, want > 0", limit)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	args := []any{f.Since.UnixMilli()}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(list []string) string {
		marks := make([]string, len(list))
		for i, k := range list {
			marks[i] = arg(k)
		}
		return strings.Join(marks, ", ")
	}
	// Each shape reads one index range: outbox_recipients (address,
	// sent_at) for an address, outbox (request_id) for a request, outbox
	// (sent_at) for everything.
	var q string
	switch {
	case f.To != "":
		q = `SELECT o.id, r.sent_at FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox_id
			WHERE r.address = ` + arg(limitAddress(f.To)) + ` AND r.sent_at > $1`
	default:
		q = `SELECT o.id, o.sent_at FROM outbox o WHERE o.sent_at > $1`
	}
	if f.RequestID != 0 {
		q += ` AND o.request_id = ` + arg(f.RequestID)
	}
	if len(f.Kinds) > 0 {
		q += ` AND o.kind IN (` + in(f.Kinds) + `)`
	}
	if len(f.ExceptKinds) > 0 {
		q += ` AND o.kind NOT IN (` + in(f.ExceptKinds) + `)`
	}
	sentCol := "o.sent_at"
	if f.To != "" {
		sentCol = "r.sent_at"
	}
	q += ` ORDER BY ` + sentCol + ` DESC LIMIT ` + arg(limit)
	rows, err := s.rd(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count sent mail: %w", err)
	}
	defer rows.Close()
	var out []SentMark
	for rows.Next() {
		var (
			id int64
			at sql.NullInt64
		)
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("count sent mail: %w", err)
		}
		out = append(out, SentMark{ID: id, At: fromMillis(at)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count sent mail: %w", err)
	}
	return out, nil
}

// mailColsNoRaw is mailCols with an empty raw, for lists that show mail
// rather than send it.
var mailColsNoRaw = strings.Replace(mailCols, "raw,", "'' AS raw,", 1)

func (s *sqlStore) listMail(ctx context.Context, op, where string, args ...any) ([]Mail, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT `+mailColsNoRaw+` FROM outbox WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		m.Raw = nil
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

func (s *sqlStore) HeldMail(ctx context.Context, dept string) ([]Mail, error) {
	return s.listMail(ctx, "list held mail", `state = 'pending' AND held_reason <> '' AND ($1 = '' OR dept = $1)`, dept)
}

func (s *sqlStore) RequestMail(ctx context.Context, requestID int64) ([]Mail, error) {
	return s.listMail(ctx, fmt.Sprintf("list mail of request %d", requestID), `request_id = $1`, requestID)
}

func (s *sqlStore) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return s.markMail(ctx, "schedule mail retry", id, `UPDATE outbox SET attempts = attempts + 1, next_attempt = $2, last_error = $3,
			claimed_by = '', claimed_until = 0
		WHERE id = $1 AND state = 'pending'`, next.UnixMilli(), lastErr)
}

func (s *sqlStore) MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.markMail(ctx, "mark mail failed", id, `UPDATE outbox SET state = 'failed', attempts = attempts + 1, failed_at = $2, last_error = $3
		WHERE id = $1 AND state = 'pending'`, at.UnixMilli(), lastErr)
}

func (s *sqlStore) PendingMail(ctx context.Context) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var n int
	if err := s.rd(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE state = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending mail: %w", err)
	}
	return n, nil
}

const requestCols = `id, dept, ref, message_key, message_id, mailbox, uid, requester, requester_name, subject,
	category, rule, state, received_at, due_at, created_at, first_response_at, escalation_level, reminders, text,
	cycle_start, answered_at, assigned_to, late_notice_for, waiting_since, resolved_at, last_activity_at, recipients,
	next_wake, version, promised_at, language, rating_asked_at, rating, rated_at, parent_ref, moved_to`

func scanRequest(sc scanner) (Request, error) {
	var (
		r                              Request
		uid                            int64
		received, due, created, first  sql.NullInt64
		cycle, answered, late, waiting sql.NullInt64
		resolved, activity, wake       sql.NullInt64
		promised, asked, rated         sql.NullInt64
		rcpt                           string
	)
	err := sc.Scan(&r.ID, &r.Dept, &r.Ref, &r.MessageKey, &r.MessageID, &r.Mailbox, &uid, &r.Requester,
		&r.RequesterName, &r.Subject, &r.Category, &r.Rule, &r.State, &received, &due, &created, &first,
		&r.EscalationLevel, &r.Reminders, &r.Text,
		&cycle, &answered, &r.AssignedTo, &late, &waiting, &resolved, &activity, &rcpt,
		&wake, &r.Version, &promised, &r.Language, &asked, &r.Rating, &rated, &r.ParentRef, &r.MovedTo)
	if err != nil {
		return Request{}, err
	}
	if err := json.Unmarshal([]byte(rcpt), &r.Recipients); err != nil {
		return Request{}, fmt.Errorf("decode recipients of request %d: %w", r.ID, err)
	}
	if len(r.Recipients) == 0 {
		r.Recipients = nil
	}
	r.UID = uint32(uid)
	r.ReceivedAt, r.DueAt = fromMillis(received), fromMillis(due)
	r.CreatedAt, r.FirstResponseAt = fromMillis(created), fromMillis(first)
	r.CycleStart, r.AnsweredAt = fromMillis(cycle), fromMillis(answered)
	r.LateNoticeFor, r.WaitingSince = fromMillis(late), fromMillis(waiting)
	r.ResolvedAt, r.LastActivityAt = fromMillis(resolved), fromMillis(activity)
	r.NextWake = fromMillis(wake)
	r.PromisedAt = fromMillis(promised)
	r.RatingAskedAt, r.RatedAt = fromMillis(asked), fromMillis(rated)
	return r, nil
}

func (s *sqlStore) RecordSince(ctx context.Context, dept string, since time.Time) ([]Request, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT id, ref, category, state, received_at, due_at, promised_at, first_response_at
		FROM requests WHERE dept = $1 AND (received_at >= $2 OR (state <> 'resolved' AND first_response_at IS NULL))
		ORDER BY received_at, id`, dept, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read the record of %s: %w", dept, err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		var r Request
		var received, due, promised, first sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Ref, &r.Category, &r.State, &received, &due, &promised, &first); err != nil {
			return nil, fmt.Errorf("read the record of %s: %w", dept, err)
		}
		r.Dept = dept
		r.ReceivedAt, r.DueAt = fromMillis(received), fromMillis(due)
		r.PromisedAt, r.FirstResponseAt = fromMillis(promised), fromMillis(first)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the record of %s: %w", dept, err)
	}
	return out, nil
}

func (s *sqlStore) OpenRequests(ctx context.Context, dept string) ([]Request, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	q := `SELECT ` + requestCols + ` FROM requests WHERE state <> 'resolved' AND ($1 = '' OR dept = $1)
		ORDER BY received_at, id`
	rows, err := s.rd(ctx).QueryContext(ctx, q, dept)
	if err != nil {
		return nil, fmt.Errorf("list open requests: %w", err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list open requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list open requests: %w", err)
	}
	return out, nil
}

func (s *sqlStore) RequestByRef(ctx context.Context, dept, ref string) (Request, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	r, err := scanRequest(s.rd(ctx).QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests WHERE dept = $1 AND ref = $2`, dept, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("find request %s/%s: %w", dept, ref, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("find request %s/%s: %w", dept, ref, err)
	}
	return r, nil
}

func (s *sqlStore) LastRatingAsked(ctx context.Context, dept, requester string) (time.Time, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var at sql.NullInt64
	// requester is stored as written; lower() on both sides compares it
	// the way addresses are compared elsewhere.
	err := s.r.QueryRowContext(ctx, `SELECT MAX(rating_asked_at) FROM requests
		WHERE dept = $1 AND lower(requester) = lower($2) AND rating_asked_at IS NOT NULL`, dept, requester).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("last rating question to %s in %s: %w", requester, dept, err)
	}
	return fromMillis(at), nil
}

func (s *sqlStore) FindThread(ctx context.Context, dept string, keys []string) (Request, error) {
	keys = normKeys(keys)
	ctx, cancel := s.op(ctx)
	defer cancel()
	owner := make(map[string]int64)
	for start := 0; start < len(keys); start += maxKeysPerQuery {
		chunk := keys[start:min(start+maxKeysPerQuery, len(keys))]
		args := []any{dept}
		marks := make([]string, len(chunk))
		for i, k := range chunk {
			args = append(args, k)
			marks[i] = fmt.Sprintf("$%d", i+2)
		}
		rows, err := s.rd(ctx).QueryContext(ctx, `SELECT thread_key, request_id FROM thread_keys
			WHERE dept = $1 AND thread_key IN (`+strings.Join(marks, ", ")+`)`, args...)
		if err != nil {
			return Request{}, fmt.Errorf("find thread: %w", err)
		}
		for rows.Next() {
			var k string
			var id int64
			if err := rows.Scan(&k, &id); err != nil {
				rows.Close()
				return Request{}, fmt.Errorf("find thread: %w", err)
			}
			owner[k] = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return Request{}, fmt.Errorf("find thread: %w", err)
		}
	}
	for _, k := range keys {
		id, ok := owner[k]
		if !ok {
			continue
		}
		r, err := scanRequest(s.rd(ctx).QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests WHERE id = $1`, id))
		if err != nil {
			return Request{}, fmt.Errorf("find thread: read request %d: %w", id, err)
		}
		return r, nil
	}
	return Request{}, fmt.Errorf("find thread in %s: %w", dept, ErrNotFound)
}

func (s *sqlStore) AddThreadKeys(ctx context.Context, requestID int64, keys []string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("add thread keys to request %d: begin: %w", requestID, err)
	}
	defer func() { _ = tx.Rollback() }()
	var dept string
	err = tx.QueryRowContext(ctx, `SELECT dept FROM requests WHERE id = $1`, requestID).Scan(&dept)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("add thread keys to request %d: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("add thread keys to request %d: %w", requestID, err)
	}
	if err := s.checkFence(ctx, tx, dept); err != nil {
		return fmt.Errorf("add thread keys to request %d: %w", requestID, err)
	}
	if err := insertThreadKeys(ctx, tx, dept, requestID, keys, false); err != nil {
		return fmt.Errorf("add thread keys to request %d: %w", requestID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add thread keys to request %d: commit: %w", requestID, err)
	}
	return nil
}

func (s *sqlStore) RecentSkipped(ctx context.Context, limit int) ([]Skipped, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list skipped: limit %d, want > 0", limit)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT `+skippedCols+`, ''
		FROM skipped ORDER BY skipped_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list skipped: %w", err)
	}
	out, err := scanSkipped(rows)
	if err != nil {
		return nil, fmt.Errorf("list skipped: %w", err)
	}
	return out, nil
}

// skippedCols are the columns scanSkipped reads, before decide_input.
const skippedCols = `dept, mailbox, uid, message_key, message_id, from_addr, subject, reason, refusal, skipped_at`

// scanSkipped reads rows of skippedCols and a decide input, and closes
// rows.
func scanSkipped(rows *sql.Rows) ([]Skipped, error) {
	defer rows.Close()
	var out []Skipped
	for rows.Next() {
		var sk Skipped
		var uid int64
		var at sql.NullInt64
		if err := rows.Scan(&sk.Dept, &sk.Mailbox, &uid, &sk.MessageKey, &sk.MessageID, &sk.From, &sk.Subject,
			&sk.Reason, &sk.Refusal, &at, &sk.DecideInput); err != nil {
			return nil, err
		}
		sk.UID, sk.At = uint32(uid), fromMillis(at)
		out = append(out, sk)
	}
	return out, rows.Err()
}
