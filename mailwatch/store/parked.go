package store

import (
	"context"
	"database/sql"
	"fmt"
)

func (s *sqlStore) ParkMessage(ctx context.Context, p Parked) error {
	if p.Dept == "" || p.Mailbox == "" || p.UID == 0 {
		return fmt.Errorf("park message: department, mailbox and UID are required")
	}
	if p.Attempts <= 0 {
		return fmt.Errorf("park message: attempts %d, want > 0", p.Attempts)
	}
	at := p.ParkedAt
	if at.IsZero() {
		at = s.opts.Now()
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.fencedWrite(ctx, p.Dept, func(w execer) error {
		_, err := w.ExecContext(ctx, `INSERT INTO parked (dept, mailbox, uid_validity, uid, message_id, from_addr,
			subject, size, received_at, attempts, last_error, first_parked, parked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
		ON CONFLICT (dept, mailbox, uid_validity, uid) DO UPDATE SET
			attempts = parked.attempts + excluded.attempts,
			last_error = excluded.last_error,
			parked_at = excluded.parked_at,
			message_id = CASE WHEN excluded.message_id <> '' THEN excluded.message_id ELSE parked.message_id END,
			from_addr = CASE WHEN excluded.from_addr <> '' THEN excluded.from_addr ELSE parked.from_addr END,
			subject = CASE WHEN excluded.subject <> '' THEN excluded.subject ELSE parked.subject END,
			size = CASE WHEN excluded.size > 0 THEN excluded.size ELSE parked.size END,
			received_at = COALESCE(excluded.received_at, parked.received_at)`,
			p.Dept, p.Mailbox, int64(p.UIDValidity), int64(p.UID), cleanText(p.MessageID), cleanText(p.From),
			cleanText(p.Subject), p.Size, millis(p.ReceivedAt), p.Attempts, cleanText(p.LastError), at.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("park %s uid %d: %w", p.Mailbox, p.UID, err)
	}
	return nil
}

func (s *sqlStore) ParkedMessages(ctx context.Context, dept string) ([]Parked, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.rd(ctx).QueryContext(ctx, `SELECT dept, mailbox, uid_validity, uid, message_id, from_addr, subject,
			size, received_at, attempts, last_error, first_parked, parked_at
		FROM parked WHERE $1 = '' OR dept = $1
		ORDER BY first_parked, dept, mailbox, uid_validity, uid`, dept)
	if err != nil {
		return nil, fmt.Errorf("list parked messages: %w", err)
	}
	defer rows.Close()
	var out []Parked
	for rows.Next() {
		var p Parked
		var validity, uid int64
		var received sql.NullInt64
		var first, last int64
		if err := rows.Scan(&p.Dept, &p.Mailbox, &validity, &uid, &p.MessageID, &p.From, &p.Subject,
			&p.Size, &received, &p.Attempts, &p.LastError, &first, &last); err != nil {
			return nil, fmt.Errorf("list parked messages: %w", err)
		}
		p.UIDValidity, p.UID, p.ReceivedAt = uint32(validity), uint32(uid), fromMillis(received)
		p.FirstParked = fromMillis(sql.NullInt64{Int64: first, Valid: true})
		p.ParkedAt = fromMillis(sql.NullInt64{Int64: last, Valid: true})
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parked messages: %w", err)
	}
	return out, nil
}

func (s *sqlStore) UnparkMessage(ctx context.Context, dept, mailbox string, uidValidity, uid uint32) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var n int64
	err := s.fencedWrite(ctx, dept, func(w execer) error {
		res, err := w.ExecContext(ctx, `DELETE FROM parked WHERE dept = $1 AND mailbox = $2 AND uid_validity = $3 AND uid = $4`,
			dept, mailbox, int64(uidValidity), int64(uid))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("unpark %s uid %d: %w", mailbox, uid, err)
	}
	if n == 0 {
		return fmt.Errorf("unpark %s uid %d: %w", mailbox, uid, ErrNotFound)
	}
	return nil
}
