package storetest

import (
	"reflect"
	"testing"

	"github.com/ackd/ackd/mailwatch/store"
)

// languageTests cover the language a request is answered in (issue 16).
var languageTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"RequestLanguage", testRequestLanguage},
}

// testRequestLanguage: the language is kept as recorded, read back by
// every reader, and no update can change it.
func testRequestLanguage(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := newRequest("it", "german")
	in.Language = "de"
	got := record(t, s, in, receipts("<lang1@ackd>"))
	if got.Language != "de" {
		t.Errorf("RecordRequest returned language %q, want de", got.Language)
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
	open, err := s.OpenRequests(ctx, "it")
	if err != nil || len(open) != 1 || open[0].Language != "de" {
		t.Errorf("OpenRequests = %+v, %v; want the request in de", open, err)
	}
	if none := record(t, s, newRequest("it", "unsaid"), receipts("<lang2@ackd>")); none.Language != "" {
		t.Errorf("request without a language: %q, want empty", none.Language)
	}
	if _, err := s.Apply(ctx, store.Change{RequestID: got.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.Language = "fr"
		return nil, nil
	}}); err == nil {
		t.Errorf("Apply let an update change the language")
	}
}
