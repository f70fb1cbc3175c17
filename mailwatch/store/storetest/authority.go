package storetest

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/ackd/ackd/mailwatch/store"
)

// authorityTests cover what "authority needs proof" keeps: a request's
// recipients and the mail ackd wrote about it, found by Message-ID.
var authorityTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"RequestRecipients", testRequestRecipients},
	{"ThreadMail", testThreadMail},
}

func testRequestRecipients(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := newRequest("it", "with-cc")
	in.Recipients = []string{"dave@example.test", "Erin@Example.test"}
	got := record(t, s, in, receipts("<rc1@ackd>"))
	if !slices.Equal(got.Recipients, in.Recipients) {
		t.Errorf("RecordRequest returned recipients %q, want %q", got.Recipients, in.Recipients)
	}
	for name, read := range map[string]func() (store.Request, error){
		"RequestByRef": func() (store.Request, error) { return s.RequestByRef(ctx, "it", got.Ref) },
		"RequestByID":  func() (store.Request, error) { return s.RequestByID(ctx, got.ID) },
	} {
		r, err := read()
		if err != nil || !reflect.DeepEqual(r, got) {
			t.Errorf("%s = %+v, %v; want %+v", name, r, err, got)
		}
	}
	// No recipients reads back as nil, like before they were kept.
	none := record(t, s, newRequest("it", "alone"), receipts("<rc2@ackd>"))
	if r, err := s.RequestByID(ctx, none.ID); err != nil || r.Recipients != nil || none.Recipients != nil {
		t.Errorf("request without recipients: %q (returned %q), %v; want nil", r.Recipients, none.Recipients, err)
	}
	// An Update may not change them.
	_, err := s.Apply(ctx, store.Change{RequestID: got.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.Recipients = append(r.Recipients, "mallory@example.test")
		return nil, nil
	}})
	if err == nil {
		t.Errorf("Apply let an update add a recipient")
	}
	if r, _ := s.RequestByID(ctx, got.ID); !slices.Equal(r.Recipients, in.Recipients) {
		t.Errorf("after the refused update recipients are %q", r.Recipients)
	}
}

func testThreadMail(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	b := record(t, s, newRequest("it", "b"), receipts("receipt-b@ackd"))
	esc := mail("escalation", "esc-a@ackd")
	esc.Recipients = []string{"alice@example.test", "bob@example.test"}
	apply(t, s, store.Change{RequestID: a.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		return []store.NewMail{esc}, nil
	}})
	if err := s.QueueMail(ctx, "it", []store.NewMail{mail("digest", "digest@ackd")}); err != nil {
		t.Fatal(err)
	}

	ids := func(ms []store.Mail) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Kind+" "+m.MessageID)
		}
		return out
	}
	tests := []struct {
		name string
		req  int64
		keys []string
		want []string
	}{
		{"brackets or none", a.ID, []string{"esc-a@ackd", "<receipt-a@ackd>"}, []string{"receipt <receipt-a@ackd>", "escalation esc-a@ackd"}},
		{"stored with brackets, asked without", a.ID, []string{" receipt-a@ackd "}, []string{"receipt <receipt-a@ackd>"}},
		{"stored without, asked with", b.ID, []string{"<receipt-b@ackd>"}, []string{"receipt receipt-b@ackd"}},
		{"another request's mail", b.ID, []string{"esc-a@ackd", "receipt-a@ackd"}, nil},
		{"mail of no request", a.ID, []string{"digest@ackd"}, nil},
		{"the request's own Message-ID is no mail", a.ID, []string{a.MessageID}, nil},
		{"nothing asked", a.ID, nil, nil},
		{"unknown request", 999999, []string{"esc-a@ackd"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ThreadMail(ctx, tt.req, tt.keys)
			if err != nil || !slices.Equal(ids(got), tt.want) {
				t.Errorf("ThreadMail(%d, %q) = %q, %v; want %q", tt.req, tt.keys, ids(got), err, tt.want)
			}
		})
	}
	got, err := s.ThreadMail(ctx, a.ID, []string{"esc-a@ackd"})
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Recipients, esc.Recipients) || got[0].RequestID != a.ID {
		t.Errorf("escalation read back as %+v, %v", got, err)
	}
	// Many keys at once (a long References chain) still work.
	many := []string{"esc-a@ackd"}
	for i := range 1200 {
		many = append(many, "<ref-"+strconv.Itoa(i)+"@client.example.test>")
	}
	if got, err := s.ThreadMail(ctx, a.ID, many); err != nil || len(got) != 1 {
		t.Errorf("ThreadMail with %d keys = %d mails, %v; want 1", len(many), len(got), err)
	}
}
