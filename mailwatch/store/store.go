// Package store keeps everything ackd must not forget: mailbox sync state,
// processed messages, requests with their references and thread keys, and
// the outbox of mail to send. The request, its receipt and the mark that its
// message was processed are written in one transaction, so a crash at any
// point neither loses a request nor acknowledges it twice.
//
// SQLite (pure Go, modernc.org/sqlite) is the default backend; PostgreSQL
// (pgx through database/sql) lets several replicas share one database. The
// queries are written once in SQL that both run ($n placeholders, ON
// CONFLICT, RETURNING, SAVEPOINT; times as integer unix milliseconds); each
// backend has its own migrations.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ackd/ackd/internal/reqstate"
)

// Store is the persistent state of ackd. Every method takes a context; each
// call is also bounded by the store's query timeout. Implementations are
// safe for concurrent use. A dept argument is a department's stable key
// (config.Department.Key: its address, lower-cased), never its display name.
type Store interface {
	// Close releases the database. Calls after Close fail.
	Close() error

	// SyncState returns the sync state of a department's mailbox, the zero
	// value when none was saved.
	SyncState(ctx context.Context, dept, mailbox string) (SyncState, error)
	// SaveSyncState replaces the sync state of a department's mailbox.
	SaveSyncState(ctx context.Context, dept, mailbox string, st SyncState) error
	// Seen reports whether a message key (Message-ID or synthetic) was
	// already processed for dept, as a request or as a skip.
	Seen(ctx context.Context, dept, key string) (bool, error)

	// RecordRequest, in one transaction, allocates the department's next
	// reference ("REQ-<n>", n from a per-department counter starting at 1),
	// inserts the request, marks r.MessageKey processed, stores the thread
	// keys (r.MessageID, r.ThreadKeys and every outbox mail's MessageID) and
	// inserts the outbox rows that build(ref) returns.
	//
	// If r.MessageKey was already processed for the department it returns
	// ErrDuplicate, does not call build and writes nothing. If build fails,
	// or its mail cannot be stored (a Message-ID already in the outbox, say),
	// nothing is written except that the reference counter keeps its advance:
	// a reference once handed to build is never handed out again, at the
	// price of a gap in the sequence. The error is returned wrapped.
	//
	// build runs while the write transaction is open: it must be quick and
	// must not call the store.
	RecordRequest(ctx context.Context, r NewRequest, build func(ref string) ([]NewMail, error)) (Request, error)
	// RecordSkipped marks s.MessageKey processed and keeps the skip with its
	// reason; ErrDuplicate if the key was already processed. A zero s.At
	// means now. It clears the DecideInput of the department's skips
	// older than SkippedInputKeep before s.At.
	RecordSkipped(ctx context.Context, s Skipped) error

	// DueMail returns up to limit (> 0) pending mails whose NextAttempt is
	// not after now, ordered by NextAttempt then ID (oldest first).
	DueMail(ctx context.Context, now time.Time, limit int) ([]Mail, error)
	// NextMailAttempt returns the earliest NextAttempt of any pending mail;
	// false when nothing is pending.
	NextMailAttempt(ctx context.Context) (time.Time, bool, error)
	// MailByID returns one outbox mail in any state; ErrNotFound.
	MailByID(ctx context.Context, id int64) (Mail, error)
	// ThreadMail returns the outbox mails, in any state, that belong to
	// request requestID and whose Message-ID is one of messageIDs (with or
	// without angle brackets), oldest first; none is no error. It tells
	// whether a reply names mail ackd wrote about that request, and to
	// whom: a Message-ID of another request, or of no request, is never
	// returned.
	ThreadMail(ctx context.Context, requestID int64, messageIDs []string) ([]Mail, error)
	// MarkSent records a successful delivery attempt. The mail must be
	// pending: ErrNotFound for an unknown id, ErrNotPending otherwise. at
	// is the send time the sending limits count (SentTimes). A mail that a
	// limit had held (HeldSince set) and that belongs to a request appends
	// an EventMailReleased to the request's history, in the same
	// transaction.
	MarkSent(ctx context.Context, id int64, at time.Time) error
	// MarkSentMany is MarkSent for several mails in one transaction, in
	// the order given (the order the server accepted them; the outbox
	// sender records sent mail in groups with it). Each mark is checked
	// and recorded as MarkSent would, under ctx's claim (WithClaim) if
	// any. A mark MarkSent would refuse (ErrNotFound, ErrNotPending,
	// ErrFenced) writes nothing and does not stop the others: errs has
	// one entry per mark, its refusal or nil where it was recorded. err is
	// any other failure; then nothing at all is recorded.
	MarkSentMany(ctx context.Context, marks []SentMark) (errs []error, err error)
	// HoldMail keeps a pending mail back because a sending limit holds it:
	// it records reason as HeldReason, moves NextAttempt to next (the
	// moment the limit's window allows the mail), sets HeldSince to at on
	// the first hold and lifts a replica's claim. Attempts is unchanged:
	// nothing was tried. The first hold of a mail that belongs to a
	// request appends an EventMailHeld to the request's history, in the
	// same transaction. ErrNotFound and ErrNotPending as MarkSent.
	HoldMail(ctx context.Context, id int64, next time.Time, reason string, at time.Time) error
	// DropMail closes a pending mail unsent because it is no longer worth
	// sending (its request was answered, its due time passed): state
	// MailDropped, DroppedAt at, DropReason reason. A mail that belongs to
	// a request appends an EventMailDropped to the request's history, in
	// the same transaction. ErrNotFound and ErrNotPending as MarkSent.
	DropMail(ctx context.Context, id int64, at time.Time, reason string) error
	// SentTimes returns the send times (MarkSent's at) of up to limit
	// (> 0) mails sent strictly after f.Since that match f, newest first.
	// The sending limits count with it, so every process sharing the
	// store sees the same counts, across restarts.
	SentTimes(ctx context.Context, f SentFilter, limit int) ([]time.Time, error)
	// SentMarks is SentTimes with each mail's ID: the same mails, newest
	// first, so that a caller merging them with sends it knows of but the
	// store may not record yet (the outbox sender's marks in flight)
	// counts each mail once.
	SentMarks(ctx context.Context, f SentFilter, limit int) ([]SentMark, error)
	// HeldMail returns the pending mails a limit holds (HeldReason set) of
	// dept, or of all departments with dept "", oldest (ID) first, without
	// their Raw bytes.
	HeldMail(ctx context.Context, dept string) ([]Mail, error)
	// RequestMail returns the outbox mails of a request in any state,
	// oldest (ID) first, without their Raw bytes; none is no error.
	RequestMail(ctx context.Context, requestID int64) ([]Mail, error)
	// MarkRetry records a failed attempt (Attempts++) and schedules the
	// next one; the mail stays pending.
	MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error
	// MarkFailed records a final failed attempt (Attempts++); the mail is
	// never tried again.
	MarkFailed(ctx context.Context, id int64, at time.Time, lastErr string) error
	// PendingMail counts the mails still to send.
	PendingMail(ctx context.Context) (int, error)

	// OpenRequests returns the requests whose state is not resolved, for
	// dept or, with dept "", for all departments; oldest (ReceivedAt) first.
	// It loads every open request: for reports and the status page, never
	// for the scheduler's passes (DueRequests, NextWake).
	OpenRequests(ctx context.Context, dept string) ([]Request, error)
	// RecordSince returns what a forecast reads of dept's record: every
	// request received at or after since, and every request still open
	// without a first response whatever its age; by ReceivedAt, then ID.
	// Only the fields a forecast needs are set: ID, Dept, Ref, Category,
	// State, ReceivedAt, DueAt, PromisedAt, FirstResponseAt.
	RecordSince(ctx context.Context, dept string, since time.Time) ([]Request, error)
	// OpenRequestsAfter returns up to limit (> 0) open requests of dept,
	// or of all departments with dept "", whose ID is greater than after,
	// by ID: one page of a walk over the open requests that holds only a
	// page in memory.
	OpenRequestsAfter(ctx context.Context, dept string, after int64, limit int) ([]Request, error)
	// NextWake returns the earliest NextWake of the open requests of the
	// departments in depts (of every department when depts is nil, of none
	// when it is empty but not nil); false when none of them waits for the
	// clock. One indexed query: it reads no request.
	NextWake(ctx context.Context, depts []string) (time.Time, bool, error)
	// DueRequests returns up to limit (> 0) open requests of the
	// departments in depts (nil: all; empty: none) whose NextWake is not
	// after now, earliest NextWake first, then by ID. A request with a
	// zero NextWake is never due.
	DueRequests(ctx context.Context, depts []string, now time.Time, limit int) ([]Request, error)
	// WakePlans returns, by department key, the fingerprint of the
	// configuration under which each department's wake-ups were last
	// planned (SetWakePlan); a department never planned is absent.
	WakePlans(ctx context.Context) (map[string]string, error)
	// SetWakePlan records that every open request of dept has its
	// NextWake planned under the configuration whose fingerprint is
	// given, replacing the one recorded before. The caller sets it only
	// after the planning finished, so a plan cut short is done again.
	SetWakePlan(ctx context.Context, dept, fingerprint string) error
	// RequestByRef returns the department's request with reference ref
	// ("REQ-12"); ErrNotFound.
	RequestByRef(ctx context.Context, dept, ref string) (Request, error)
	// LastRatingAsked returns the latest RatingAskedAt of the department's
	// requests from requester (an address, compared case-insensitively);
	// zero when none was ever asked. One indexed query.
	LastRatingAsked(ctx context.Context, dept, requester string) (time.Time, error)
	// FindThread returns the department's request owning any of keys
	// (Message-IDs, with or without angle brackets). When several requests
	// match, the one owning the earliest key in keys wins, so callers pass
	// In-Reply-To first, then References newest first. ErrNotFound.
	FindThread(ctx context.Context, dept string, keys []string) (Request, error)
	// AddThreadKeys attaches more Message-IDs to a request. A key that
	// already belongs to a request of the department stays with it.
	// ErrNotFound for an unknown request.
	AddThreadKeys(ctx context.Context, requestID int64, keys []string) error
	// RecentSkipped returns up to limit (> 0) skipped messages, newest first.
	RecentSkipped(ctx context.Context, limit int) ([]Skipped, error)

	// ParkMessage records a message whose handling kept failing, keyed by
	// (Dept, Mailbox, UIDValidity, UID). Parking one already parked adds
	// p.Attempts to its count and replaces its error, its descriptive
	// fields when p has them, and ParkedAt; FirstParked stays. Attempts
	// must be > 0. A zero p.ParkedAt means now. It does not mark any
	// message key processed: a parked message may still be handled later.
	ParkMessage(ctx context.Context, p Parked) error
	// ParkedMessages returns the parked messages of dept, or of all
	// departments with dept "", oldest FirstParked first.
	ParkedMessages(ctx context.Context, dept string) ([]Parked, error)
	// UnparkMessage deletes a parked message; ErrNotFound when none.
	UnparkMessage(ctx context.Context, dept, mailbox string, uidValidity, uid uint32) error

	// SetAway records that a.Address (compared lower-cased) of a.Dept is
	// away until a.Until, replacing what was recorded for them. SetAt
	// zero means now.
	SetAway(ctx context.Context, a Away) error
	// ClearAway records that address is back: it is away no longer. No
	// error when it was not away.
	ClearAway(ctx context.Context, dept, address string) error
	// AwayAt returns who of dept is away at t (Until after t), by
	// address.
	AwayAt(ctx context.Context, dept string, t time.Time) ([]Away, error)
	// AwayDuring returns the absences of dept's staff that overlap
	// [from, to), oldest first: SetAt is when each began, Until when it
	// ended or ends (#back ends it early). For ackd report, which judges
	// past dates by the staff present then.
	AwayDuring(ctx context.Context, dept string, from, to time.Time) ([]Away, error)
	// LinkedRequests returns the open requests of dept linked under the
	// request parentRef (#same), oldest first.
	LinkedRequests(ctx context.Context, dept, parentRef string) ([]Request, error)
	// AssignCursor returns the address round robin assigned last in dept,
	// "" when none; SetAssignCursor records it.
	AssignCursor(ctx context.Context, dept string) (string, error)
	SetAssignCursor(ctx context.Context, dept, address string) error

	// Apply changes one request in one transaction. It locks and reads the
	// request's row (ErrNotFound), marks c.MessageKey processed for the
	// request's department if set (outcome "followup"), calls c.Update
	// with a copy of the request and then writes the row, adds c.ThreadKeys
	// and the Message-ID of every mail Update returns as thread keys,
	// appends c.Events to the request's history and queues the mails with
	// the request's ID.
	//
	// If c.Version is not 0 and the request's Version is not c.Version (it
	// was written since the caller read it), Apply returns ErrStale, does
	// not call Update and writes nothing: the caller reads the request
	// again and plans anew. Every write of the row adds one to Version; a
	// resolved request's NextWake is stored as zero.
	//
	// If c.MessageKey was already processed it returns ErrDuplicate, does
	// not call Update and writes nothing. If Update returns an error, or what
	// it returns cannot be stored (an invalid state, a zero CycleStart, a
	// changed field that is not one of the mutable ones listed on Change, a
	// mail Message-ID already in the outbox), nothing is written and the
	// error is returned wrapped. If Update returns ErrNoChange, the row is
	// left alone and the mails are discarded, but the processed mark,
	// thread keys and events are written and Apply returns the request as
	// it is, with a nil error. A nil Update is the same as one returning
	// ErrNoChange.
	//
	// Update runs while the write transaction is open: it must be quick and
	// must not call the store. Calls on the same request take turns, so an
	// Update always sees the result of the previous one.
	Apply(ctx context.Context, c Change) (Request, error)
	// Move moves a request to another department (#forward), in one
	// transaction: it locks the request m.RequestID (ErrNotFound), refuses
	// one that is resolved or already moved (ErrResolved), checks m.Version
	// like Apply (ErrStale), and marks m.MessageKey, the staff mail that
	// asked for the move, processed for the request's department
	// (ErrDuplicate if it was: nothing is written). It then records m.To
	// in its department like RecordRequest (the next reference of m.To.Dept,
	// handed to build, whose mail is queued with the new request and whose
	// Message-IDs become its thread keys; m.To.MessageKey marked processed
	// there), copies the old request's history to the new one (its events,
	// oldest first, before the new request's own "received"), attaches the
	// old request's thread keys to the new one in the new department (a key
	// the new department already has stays with its owner), and resolves
	// the old request at m.At with MovedTo set to the new request's ID.
	// Events(ref) gives the events to append to the old and to the new
	// request once the new reference is known (either may be nil).
	//
	// Mail on the old thread still finds the old request (its thread keys
	// and reference stay); callers follow MovedTo. If build fails or its
	// mail cannot be stored, nothing is written and the counter keeps no
	// advance (build's reference was never sent anywhere).
	Move(ctx context.Context, m Move, build func(ref string) ([]NewMail, error)) (old, moved Request, err error)
	// RequestByID returns a request in any state; ErrNotFound.
	RequestByID(ctx context.Context, id int64) (Request, error)
	// Events returns a request's history, oldest (At, then insertion)
	// first; ErrNotFound for an unknown request.
	Events(ctx context.Context, requestID int64) ([]Event, error)
	// EventsSince returns the events of dept, or of all departments with
	// dept "", whose At is at or after since; oldest first.
	EventsSince(ctx context.Context, dept string, since time.Time) ([]Event, error)
	// RequestsSince returns the requests in any state of dept, or of all
	// departments with dept "", received at or after since; oldest
	// (ReceivedAt) first.
	RequestsSince(ctx context.Context, dept string, since time.Time) ([]Request, error)
	// LatestRequests returns at most limit requests in any state of dept
	// received at or after since, newest (ReceivedAt, then id) first: what
	// a look at the last minutes needs without reading a whole backlog.
	// Each carries only ID, Dept, Ref, Requester, Subject, Rule, State,
	// ReceivedAt and ParentRef (the burst check's fields; RequestByRef
	// reads a whole one), since every new request makes this read. Of
	// those limit requests, only the ones keep accepts are returned (all
	// with keep nil): a caller that wants a few of them copies no more.
	// keep may run while the store holds a lock: it must not call the
	// store.
	LatestRequests(ctx context.Context, dept string, since time.Time, limit int, keep func(Request) bool) ([]Request, error)
	// EventsOfKinds returns the events of the given requests whose Kind is
	// one of kinds, oldest (At, then insertion) first; unknown ids give
	// nothing.
	EventsOfKinds(ctx context.Context, requestIDs []int64, kinds []string) ([]Event, error)
	// DecideInputs returns NewRequest.DecideInput of the requests of dept,
	// or of all departments with dept "", received at or after since,
	// keyed by request ID. Requests recorded without one (before schema
	// version 10, or by a caller that left it empty) are absent. It is
	// for `ackd replay`, which decides stored requests again; the
	// daemon's reads of requests never load these bytes.
	DecideInputs(ctx context.Context, dept string, since time.Time) (map[int64]string, error)
	// SkippedInputs returns the skipped messages of dept received at or
	// after since that still keep a DecideInput, oldest first, with it.
	// It is for ackd replay.
	SkippedInputs(ctx context.Context, dept string, since time.Time) ([]Skipped, error)
	// DecideInputOf is NewRequest.DecideInput of one request, "" when it
	// was recorded without one or there is no such request: what #forward
	// classifies again with the new department's rules.
	DecideInputOf(ctx context.Context, requestID int64) (string, error)
	// QueueMail queues mails that belong to no request (digests, reports)
	// in one transaction: all or none. Their Message-IDs are not thread
	// keys, since no request owns them.
	QueueMail(ctx context.Context, dept string, mails []NewMail) error
	// QueueDigest queues a department's digest for day (a key such as
	// "2026-03-16") and records that it was queued, in one transaction.
	// When a digest was already queued for dept and day it writes nothing
	// and returns false, so a digest goes out once a day across restarts.
	QueueDigest(ctx context.Context, dept, day string, mails []NewMail) (bool, error)

	// AdoptDepartment moves every row of department oldKey (sync state,
	// reference counter, processed marks, requests, thread keys, skips,
	// outbox, events, digest days, wake-up plans) to newKey in one transaction, and drops
	// oldKey's lease, when the store holds rows under oldKey and none under
	// newKey; it reports whether it moved anything. Otherwise it writes
	// nothing and returns false: adopting twice, or after the department
	// already has state under newKey, changes nothing. Departments used
	// to be keyed by their display name; ackd calls this at start for each
	// configured department, from its name to its Key.
	AdoptDepartment(ctx context.Context, oldKey, newKey string) (bool, error)

	// Batch runs fn with a context under which every call of this store
	// shares one write transaction, committed when fn returns nil: a
	// watcher records a fetch group's requests, skips, follow-ups, their
	// outbox mail and the mailbox checkpoint together, with one commit
	// (one fsync) instead of one per message. Inside, each call keeps its
	// own all-or-nothing contract: its writes are a savepoint that a
	// failing call undoes, leaving the batch's other writes standing. Reads
	// made with the context see the batch's writes; no one else sees any
	// of them (the outbox sender included) before the commit. If fn
	// returns an error, or the batch cannot commit everything it wrote (a
	// failed call could not be undone, SQLite rolled the transaction back
	// after a full disk), nothing of it is written and the error is
	// returned; then the functions given to AfterCommit do not run, else
	// they run after the commit, in order. A Batch inside a batch joins
	// it. The transaction is not cancelled with ctx (each call keeps its
	// own timeout); fn must make its calls one at a time, and while it
	// runs the batch holds the write lock (SQLite's one writer, the
	// PostgreSQL rows and the department's reference counter it wrote),
	// so it should be short: a fetch group, not a mailbox.
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}

// SyncState is what a mailbox watcher must remember between sessions.
type SyncState struct {
	UIDValidity uint32
	LastUID     uint32 // highest UID processed under UIDValidity
}

// State is where a request is: the states are reqstate's, the one set
// the lifecycle moves between too.
type State = reqstate.State

// Request states. A request is open until it is resolved.
const (
	StateNew          = reqstate.New
	StateAcknowledged = reqstate.Acknowledged
	StateAnswered     = reqstate.Answered
	StateWaiting      = reqstate.Waiting
	StateOverdue      = reqstate.Overdue
	StateResolved     = reqstate.Resolved
)

// Outbox mail states.
const (
	MailPending = "pending"
	MailSent    = "sent"
	MailFailed  = "failed"
	// MailDropped: held by a limit, then closed unsent because it was no
	// longer worth sending (DropMail).
	MailDropped = "dropped"
)

// SentFilter selects the sent mail SentTimes counts.
// SentMark is one delivery for MarkSentMany.
type SentMark struct {
	ID int64
	At time.Time // as MarkSent's at
}

type SentFilter struct {
	// Since: only mail sent strictly after it counts, so a window of d at
	// now is Since now-d and a mail sent at t stops counting at t+d.
	Since time.Time
	// To, if set, keeps mail with this recipient (any case).
	To string
	// RequestID, if not 0, keeps the mail of this request.
	RequestID int64
	// Kinds, if not empty, keeps mail of these kinds; ExceptKinds drops
	// mail of those.
	Kinds, ExceptKinds []string
}

// Matches says whether a mail with these fields, sent at at, is one that
// SentTimes with f counts; for mail sent but not yet recorded (the outbox
// sender's marks in flight).
func (f SentFilter) Matches(requestID int64, kind string, recipients []string, at time.Time) bool {
	if !at.After(f.Since) {
		return false
	}
	if f.RequestID != 0 && requestID != f.RequestID {
		return false
	}
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, kind) {
		return false
	}
	if slices.Contains(f.ExceptKinds, kind) {
		return false
	}
	if f.To != "" {
		return slices.ContainsFunc(recipients, func(r string) bool { return limitAddress(r) == limitAddress(f.To) })
	}
	return true
}

// NewRequest is a request about to be recorded.
type NewRequest struct {
	Dept       string // department key (config.Department.Key, its address); required
	MessageKey string // Message-ID or a synthetic key; required, unique per department
	MessageID  string // the request's Message-ID, also stored as a thread key
	Mailbox    string
	UID        uint32

	Requester     string // address
	RequesterName string
	Subject       string
	Category      string
	Rule          string
	// Language is the base language code the requester is answered in
	// ("de"); "" means the department's.
	Language string

	ReceivedAt time.Time // IMAP INTERNALDATE
	DueAt      time.Time // zero when there is no commitment
	Text       string    // capped excerpt, quoted in escalations
	ThreadKeys []string  // more Message-IDs that identify the thread
	State      State     // one of the State constants; "" means StateAcknowledged
	// Recipients are the other addresses the request was written to (its
	// To and Cc without the department's own): with the requester, the
	// only people whose mail on the thread counts as a reminder.
	Recipients []string
	// NextWake is when the request first needs the clock. Zero means at
	// once: the scheduler then plans it on its next pass and stores the
	// real time (a caller that does not know the lifecycle need not).
	// Ignored (zero) for a resolved request.
	NextWake time.Time
	// PromisedAt is the date the receipt gave when it is later than DueAt
	// (promise: forecast); zero otherwise.
	PromisedAt time.Time
	// DecideInput is what the request was decided from, encoded by the
	// caller (the daemon writes JSON of the parsed message and the
	// decision); the store keeps it as text, with invalid UTF-8 and NULs
	// made U+FFFD, and returns it only through DecideInputs.
	DecideInput string
}

// Request is a recorded request.
type Request struct {
	ID              int64
	Dept            string
	Ref             string // "REQ-<n>", unique per department
	MessageKey      string
	MessageID       string
	Mailbox         string
	UID             uint32
	Requester       string
	RequesterName   string
	Subject         string
	Category        string
	Rule            string
	State           State
	ReceivedAt      time.Time
	DueAt           time.Time // zero = no commitment
	CreatedAt       time.Time
	FirstResponseAt time.Time // first staff answer; zero = none yet
	EscalationLevel int       // escalation steps fired in the current cycle
	Reminders       int
	Text            string

	// CycleStart is the start of the current commitment cycle: ReceivedAt
	// at first, reset on reopen or #eta. Escalation shares count from it.
	CycleStart time.Time
	// AnsweredAt is the last staff answer; zero = none yet.
	AnsweredAt time.Time
	// AssignedTo is the address escalations go to first ("#assign"); "" = none.
	AssignedTo string
	// LateNoticeFor is the DueAt for which a late notice was sent, so there
	// is one notice per due time; zero = none.
	LateNoticeFor time.Time
	// WaitingSince is when the clock was paused ("#waiting"); zero = not waiting.
	WaitingSince time.Time
	// ResolvedAt is when the request was resolved; zero = not resolved.
	ResolvedAt time.Time
	// LastActivityAt is the last message on the thread from anyone;
	// ReceivedAt at first.
	LastActivityAt time.Time
	// Recipients are NewRequest.Recipients, fixed when recorded; nil for
	// requests recorded before they were kept.
	Recipients []string
	// NextWake is when the request next needs the clock (an escalation
	// step, its due time, an automatic resolve); zero when nothing is due.
	// The scheduler reads only requests whose NextWake has come.
	NextWake time.Time
	// Version is 1 when recorded and grows by one with every write of the
	// row; Change.Version compares against it.
	Version int64
	// Language is NewRequest.Language, fixed when recorded; "" for
	// requests recorded before it was kept (the department's language).
	Language string
	// RatingAskedAt is when the closing mail asked the requester how we
	// did; zero = not asked. Rating is their answer, 1 (poor) to 5
	// (excellent), 0 = none; RatedAt when it came. Lifecycle fields: an
	// Update may set them.
	RatingAskedAt time.Time
	Rating        int
	RatedAt       time.Time
	// PromisedAt is the date the receipt gave when it was later than the
	// commitment (lifecycle.Request.PromisedAt); zero otherwise.
	PromisedAt time.Time
	// ParentRef is the request this one is linked under (#same); "" when
	// none.
	ParentRef string
	// MovedTo is the ID of the request this one became in another
	// department (#forward, Store.Move); 0 when it was never moved. A
	// moved request is resolved: mail on its thread belongs to MovedTo.
	MovedTo int64
}

// Move is a request moved to another department (Store.Move).
type Move struct {
	RequestID int64
	// Version, if not 0, is the Request.Version the move was planned from.
	Version int64
	// MessageKey, Mailbox and UID: the staff mail that asked for the move
	// (required: a move happens once however often the mail is read).
	MessageKey string
	Mailbox    string
	UID        uint32
	// At is when the move happened: the old request is resolved then.
	At time.Time
	// To is the request in the other department. Its Dept must differ from
	// the old request's; MessageKey is required and unique there.
	To NewRequest
	// CycleStart and EscalationLevel, when set, replace the new request's
	// (NewRequest starts its cycle at ReceivedAt with no step fired).
	CycleStart      time.Time
	EscalationLevel int
	// Events, if not nil, returns the history to append to the old and to
	// the new request, given the new reference.
	Events func(ref string) (onOld, onNew []Event)
}

// Change is one change to a request, applied by Store.Apply.
type Change struct {
	RequestID int64
	// Version, if not 0, is the Request.Version the change was planned
	// from; Apply returns ErrStale when the row has moved on since.
	Version int64
	// MessageKey, if set, is the message that caused the change (a reply,
	// a staff command): it is marked processed, so the change is applied
	// once however often the message is read.
	MessageKey string
	// Mailbox and UID are where that message was, kept with the mark.
	Mailbox string
	UID     uint32
	// ThreadKeys are Message-IDs to attach to the request (the message's
	// own); a key that already belongs to a request of the department stays
	// with it.
	ThreadKeys []string
	// Events are appended to the request's history; the store fills in
	// their ID, RequestID and Dept.
	Events []Event
	// Update, if not nil, changes the request and returns mail to queue
	// about it. It may change only the mutable fields: State, DueAt,
	// CycleStart, FirstResponseAt, AnsweredAt, EscalationLevel, Reminders,
	// AssignedTo, LateNoticeFor, WaitingSince, ResolvedAt, LastActivityAt,
	// NextWake, Category (#category moves a request), ParentRef (#same;
	// Version is the store's).
	// It may return ErrNoChange (see Store.Apply).
	Update func(r *Request) ([]NewMail, error)
}

// Event kinds ackd writes. Kind is free text to the store; these are the
// names the daemon and its reports agree on.
const (
	EventReceived       = "received"
	EventAnswered       = "answered"
	EventReminder       = "reminder"
	EventReopened       = "reopened"
	EventEscalated      = "escalated"
	EventLateNotice     = "late-notice"
	EventETA            = "eta"
	EventWaiting        = "waiting"
	EventAssigned       = "assigned"
	EventResolved       = "resolved"
	EventCommandRefused = "command-refused"
	// EventMailHeld: a sending limit first held a mail about the request
	// (Detail: its kind and the limit); EventMailReleased: it went out
	// later; EventMailDropped: it was closed unsent, no longer useful.
	EventMailHeld     = "mail-held"
	EventMailReleased = "mail-released"
	EventMailDropped  = "mail-dropped"
)

// Event is one entry in a request's history.
//
// Kind, Actor and Detail are stored as valid UTF-8 without NUL (invalid
// bytes and NULs become U+FFFD), since PostgreSQL's TEXT refuses both and
// the history must be the same on every backend.
type Event struct {
	ID        int64
	RequestID int64
	Dept      string    // the request's department, filled in by the store
	Kind      string    // one of the Event constants, or another word; required
	At        time.Time // zero means now (the store's clock)
	Actor     string    // address of who caused it; "" for ackd itself
	Detail    string    // human text: "level 2 to leads", "#eta 2026-12-01"
	Level     int       // escalation level for "escalated" events, else 0
}

// Skipped is a processed message that got no receipt, and why.
type Skipped struct {
	Dept       string
	Mailbox    string
	UID        uint32
	MessageKey string
	MessageID  string
	From       string
	Subject    string
	Reason     string // in words (rules.Decision.Reason, or a parse error)
	Refusal    string // short stable code (rules.Decision.Refusal)
	At         time.Time
	// DecideInput is what Decide refused, encoded like
	// NewRequest.DecideInput, for ackd replay; "" when the skip was not
	// Decide's. Kept SkippedInputKeep, then cleared (the row stays).
	DecideInput string
}

// SkippedInputKeep is how long a skipped message's DecideInput is kept:
// twice ackd replay's default window. Lists and bounces are most of what
// is skipped; their inputs must not pile up for ever.
const SkippedInputKeep = 60 * 24 * time.Hour

// Parked is a message a watcher moved on past because handling it kept
// failing. Text fields are stored as valid UTF-8 without NUL.
type Parked struct {
	Dept        string // required
	Mailbox     string // required
	UIDValidity uint32
	UID         uint32 // required
	MessageID   string // "" when unknown (the body could not be parsed)
	From        string
	Subject     string
	Size        int64     // RFC822.SIZE
	ReceivedAt  time.Time // IMAP INTERNALDATE; zero when unknown
	Attempts    int       // failed attempts so far
	LastError   string
	FirstParked time.Time // set by the store
	ParkedAt    time.Time // the last time it was parked; zero means now
}

// NewMail is a mail to queue in the outbox.
type NewMail struct {
	Kind         string // receipt, escalation, late, …
	MessageID    string // required, unique across the outbox; fixed now so a resend is recognisable
	EnvelopeFrom string // "" = null reverse-path (MAIL FROM:<>)
	Recipients   []string
	Raw          []byte // the complete message
}

// Mail is a mail in the outbox.
type Mail struct {
	ID           int64
	RequestID    int64 // 0 when the mail belongs to no request
	Dept         string
	Kind         string
	MessageID    string
	EnvelopeFrom string
	Recipients   []string
	Raw          []byte
	State        string // MailPending, MailSent, MailFailed or MailDropped
	Attempts     int
	NextAttempt  time.Time
	CreatedAt    time.Time
	SentAt       time.Time // zero unless sent
	FailedAt     time.Time // zero unless failed
	LastError    string
	// HeldReason is why a sending limit holds the mail, or last held it;
	// "" when none ever did. HeldSince is the first hold.
	HeldReason string
	HeldSince  time.Time
	// DroppedAt and DropReason: when and why a held mail was closed unsent.
	DroppedAt  time.Time
	DropReason string
	// ClaimToken is set on the mails ClaimMail returns: the claim that
	// finishes the mail (WithClaim) and that CheckClaim checks.
	ClaimToken string
}

// Sentinel errors; test with errors.Is.
var (
	// ErrDuplicate: the message key was already processed for the department.
	ErrDuplicate = errors.New("message already processed")
	// ErrNotFound: no such request or mail.
	ErrNotFound = errors.New("not found")
	// ErrNotPending: the outbox mail was already sent or failed.
	ErrNotPending = errors.New("mail is not pending")
	// ErrNoChange: returned by a Change's Update to leave the request as it
	// is while still recording the message, its thread keys and events.
	ErrNoChange = errors.New("no change to the request")
	// ErrStale: Apply was given a Change.Version the request no longer
	// has; read it again and plan anew.
	ErrStale = errors.New("request changed since it was read")
	// ErrResolved: Move was asked to move a request that is resolved or
	// was moved already.
	ErrResolved = errors.New("request is resolved or moved")
	// ErrSchemaTooNew: the database was migrated by a newer ackd.
	ErrSchemaTooNew = errors.New("database schema is newer than this ackd")
)

// DefaultQueryTimeout bounds each store call when Options.QueryTimeout is 0.
const DefaultQueryTimeout = 15 * time.Second

// Options tune a store. The zero value is ready to use.
type Options struct {
	// QueryTimeout bounds each call; DefaultQueryTimeout when 0.
	QueryTimeout time.Duration
	// LeaseTTL, when set (replicas, see docs/replicas.md), sizes the
	// PostgreSQL session limits so that no lock outlives a frozen or
	// partitioned holder by much: a transaction idle for ttl/3 ends its
	// session, a statement waits at most ttl/2 for a lock, and TCP
	// keepalives and the TCP user timeout give up on a silent peer within
	// about ttl/2. SQLite ignores it.
	LeaseTTL time.Duration
	// TestPause, when set, is called at named points ("record": inside
	// RecordRequest with the department's counter locked; "claim": just
	// after ClaimMail claimed a batch) so a test can freeze a replica
	// there. Only the ackdfreeze test build of cmd/ackd sets it.
	TestPause func(point string)
	// Now is the clock for CreatedAt and similar stamps; time.Now when nil.
	Now func() time.Time
	// ReadOnly opens the store for reading only (`ackd replay`): no
	// migration is applied, a database at another schema version than
	// this ackd's is refused, and the database itself refuses every write
	// (SQLite query_only, PostgreSQL default_transaction_read_only). A
	// SQLite file that does not exist is an error, not a new database.
	ReadOnly bool
	// Password authenticates to PostgreSQL; the caller reads it from
	// password_env or password_file, since a DSN with a password is refused.
	// Empty leaves PostgreSQL's own defaults (PGPASSWORD, ~/.pgpass). It is
	// never part of an error. SQLite ignores it.
	Password string
}

// Open opens a store: driver "sqlite" with a file path as DSN (":memory:"
// for a private in-memory database), or driver "postgres" with a libpq
// connection string or URL without a password (see Options.Password).
// Pending migrations are applied; a database migrated by a newer ackd is
// refused with ErrSchemaTooNew.
func Open(ctx context.Context, driver, dsn string) (Store, error) {
	return OpenOptions(ctx, driver, dsn, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(ctx context.Context, driver, dsn string, opts Options) (Store, error) {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch driver {
	case "sqlite", "sqlite3":
		return openSQLite(ctx, dsn, opts)
	case "postgres", "postgresql", "pgx":
		return openPostgres(ctx, dsn, opts)
	default:
		return nil, fmt.Errorf("open store: unsupported driver %q (want sqlite or postgres)", driver)
	}
}

// Away is a staff member who is away: an out-of-office reply on a
// request's thread or #away set it, #back ends it early.
type Away struct {
	Dept    string
	Address string
	Until   time.Time
	Reason  string // "out-of-office reply", "#away until 2026-12-07"
	SetAt   time.Time
}
