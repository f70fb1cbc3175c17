package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// seedHistory fills s through the Store API with a little of everything a
// running ackd leaves behind, and returns the ids of its outbox mails.
func seedHistory(t *testing.T, s store.Store) []int64 {
	t.Helper()
	ctx := t.Context()
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, dept := range []string{"it", "hr"} {
		if err := s.SaveSyncState(ctx, dept, "INBOX", store.SyncState{UIDValidity: uint32(100 + i), LastUID: uint32(40 + i)}); err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			key := fmt.Sprintf("req-%s-%d@example.test", dept, j)
			r, err := s.RecordRequest(ctx, store.NewRequest{
				Dept: dept, MessageKey: key, MessageID: key, Mailbox: "INBOX", UID: uint32(j + 1),
				Requester: "ann@example.test", RequesterName: "Ann", Subject: "printer " + key,
				Category: "hardware", Rule: "printers", ReceivedAt: base.Add(time.Duration(i*10+j) * time.Minute),
				DueAt: base.Add(48 * time.Hour), Text: "it is\x00 broken", ThreadKeys: []string{"ref-" + key},
			}, func(ref string) ([]store.NewMail, error) {
				return []store.NewMail{{Kind: "receipt", MessageID: "ack-" + key, Recipients: []string{"ann@example.test"},
					Raw: []byte("Subject: [" + ref + "]\r\n\r\nbody\x00\xff")}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if j == 1 {
				_, err := s.Apply(ctx, store.Change{RequestID: r.ID, MessageKey: "reply-" + key, Mailbox: "INBOX", UID: 90,
					ThreadKeys: []string{"reply-" + key},
					Events:     []store.Event{{Kind: store.EventAnswered, At: base.Add(time.Hour), Actor: "bob@example.test"}},
					Update: func(r *store.Request) ([]store.NewMail, error) {
						r.State = store.StateAnswered
						r.AnsweredAt = base.Add(time.Hour)
						r.AssignedTo = "bob@example.test"
						return []store.NewMail{{Kind: "late", MessageID: "late-" + key, Recipients: []string{"lead@example.test"}, Raw: []byte("x")}}, nil
					}})
				if err != nil {
					t.Fatal(err)
				}
			}
			if j == 3 {
				_, err := s.Apply(ctx, store.Change{RequestID: r.ID,
					Events: []store.Event{{Kind: store.EventResolved, At: base.Add(2 * time.Hour)}},
					Update: func(r *store.Request) ([]store.NewMail, error) {
						r.State = store.StateResolved
						r.ResolvedAt = base.Add(2 * time.Hour)
						return nil, nil
					}})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.RecordSkipped(ctx, store.Skipped{Dept: dept, Mailbox: "INBOX", UID: 7, MessageKey: "ooo-" + dept,
			MessageID: "ooo-" + dept, From: "robot@example.test", Subject: "Out of office", Reason: "auto-reply",
			Refusal: "auto-submitted", At: base}); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.QueueDigest(ctx, dept, "2026-03-02", []store.NewMail{{Kind: "digest", MessageID: "digest-" + dept,
			Recipients: []string{"staff@example.test"}, Raw: []byte("digest")}}); err != nil || !ok {
			t.Fatalf("queue digest: %v %v", ok, err)
		}
	}
	due, err := s.DueMail(ctx, base.Add(1000*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, m := range due {
		ids = append(ids, m.ID)
		switch i % 3 {
		case 0:
			err = s.MarkSent(ctx, m.ID, base.Add(time.Minute))
		case 1:
			err = s.MarkFailed(ctx, m.ID, base.Add(time.Minute), "550 no such user")
		default:
			err = s.MarkRetry(ctx, m.ID, base.Add(3*time.Minute), "421 try later")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, dept := range []string{"it", "hr"} {
		if err := s.SetWakePlan(ctx, dept, "plan-of-"+dept); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// storeView is everything the Store API shows of a history.
type storeView struct {
	Open     []store.Request
	Events   map[string][]store.Event
	ByRef    map[string]store.Request
	Threads  map[string]int64
	Due      []store.Mail
	Mails    []store.Mail
	Sync     map[string]store.SyncState
	Skipped  []store.Skipped
	Pending  int
	Requests []store.Request
	Plans    map[string]string
}

func viewOf(t *testing.T, s store.Store, mailIDs []int64) storeView {
	t.Helper()
	ctx := t.Context()
	v := storeView{Events: map[string][]store.Event{}, ByRef: map[string]store.Request{}, Threads: map[string]int64{}, Sync: map[string]store.SyncState{}}
	var err error
	if v.Open, err = s.OpenRequests(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if v.Requests, err = s.RequestsSince(ctx, "", time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Requests {
		evs, err := s.Events(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		v.Events[r.Dept+"/"+r.Ref] = evs
		if v.ByRef[r.Dept+"/"+r.Ref], err = s.RequestByRef(ctx, r.Dept, r.Ref); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{r.MessageID, "ref-" + r.MessageID, "reply-" + r.MessageID, "ack-" + r.MessageID, "late-" + r.MessageID} {
			if th, err := s.FindThread(ctx, r.Dept, []string{"<" + k + ">"}); err == nil {
				v.Threads[r.Dept+"/"+k] = th.ID
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		}
		sy, err := s.SyncState(ctx, r.Dept, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		v.Sync[r.Dept] = sy
	}
	if v.Due, err = s.DueMail(ctx, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), 1000); err != nil {
		t.Fatal(err)
	}
	for _, id := range mailIDs {
		m, err := s.MailByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		v.Mails = append(v.Mails, m)
	}
	if v.Skipped, err = s.RecentSkipped(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if v.Pending, err = s.PendingMail(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Plans, err = s.WakePlans(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCopy(t *testing.T) {
	targets := []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"sqlite", func(t *testing.T) store.Store { return openFile(t, filepath.Join(t.TempDir(), "to.db")) }},
		{"postgres", func(t *testing.T) store.Store { dsn, pw := freshDatabase(t); return openPostgres(t, dsn, pw) }},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			src := openFile(t, filepath.Join(t.TempDir(), "from.db"))
			ids := seedHistory(t, src)
			dst := tc.open(t)
			counts, err := store.Copy(t.Context(), dst, src)
			if err != nil {
				t.Fatal(err)
			}
			byTable := map[string]int64{}
			for _, c := range counts {
				byTable[c.Table] = c.Rows
			}
			// 8 requests, 2 replies, 2 skips; 8 receipts + 2 late + 2 digests.
			want := map[string]int64{"requests": 8, "processed": 12, "skipped": 2, "outbox": 12, "outbox_recipients": 12, "digest_sent": 2,
				"sync_state": 2, "ref_counters": 2, "events": 8 + 2 + 2, "wake_plans": 2}
			for table, n := range want {
				if byTable[table] != n {
					t.Errorf("copied %d rows of %s, want %d (all: %v)", byTable[table], table, n, counts)
				}
			}
			before, after := viewOf(t, src, ids), viewOf(t, dst, ids)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("the copy differs from its source\nsource: %+v\ncopy:   %+v", before, after)
			}
			if len(after.Threads) != 8*3+2*2 {
				t.Errorf("found %d thread keys in the copy, want 28", len(after.Threads))
			}

			// The copy carries on where the source stopped: next reference,
			// fresh ids, the digest already sent today, a processed key.
			ctx := t.Context()
			r, err := dst.RecordRequest(ctx, store.NewRequest{Dept: "it", MessageKey: "new@example.test", MessageID: "new@example.test",
				ReceivedAt: time.Now()}, func(string) ([]store.NewMail, error) {
				return []store.NewMail{{Kind: "receipt", MessageID: "ack-new", Recipients: []string{"x@example.test"}, Raw: []byte("x")}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Ref != "REQ-5" {
				t.Errorf("next reference in the copy is %s, want REQ-5", r.Ref)
			}
			for _, old := range before.Requests {
				if r.ID <= old.ID {
					t.Errorf("new request id %d not after copied id %d", r.ID, old.ID)
				}
			}
			if ok, err := dst.QueueDigest(ctx, "hr", "2026-03-02", nil); err != nil || ok {
				t.Errorf("QueueDigest of an already sent day on the copy = %v, %v; want false", ok, err)
			}
			if _, err := dst.RecordRequest(ctx, store.NewRequest{Dept: "hr", MessageKey: "ooo-hr", ReceivedAt: time.Now()},
				func(string) ([]store.NewMail, error) { return nil, nil }); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("recording a skipped key on the copy: %v, want ErrDuplicate", err)
			}

			// A second copy into the now non-empty target is refused and
			// writes nothing.
			n, err := dst.PendingMail(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Copy(ctx, dst, src); !errors.Is(err, store.ErrTargetNotEmpty) {
				t.Fatalf("copy into a non-empty target: %v, want ErrTargetNotEmpty", err)
			}
			if m, err := dst.PendingMail(ctx); err != nil || m != n {
				t.Errorf("refused copy changed the target: pending %d → %d (%v)", n, m, err)
			}
		})
	}
}
