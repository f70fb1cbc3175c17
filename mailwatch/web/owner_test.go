package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"
)

// TestStatusPageOwner: the status page names a request's owner (issue 15
// item 1).
func TestStatusPageOwner(t *testing.T) {
	st, refs := seed(t)
	ctx := context.Background()
	r, err := st.RequestByRef(ctx, "it-help@example.test", refs["printer jams"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, store.Change{RequestID: r.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.AssignedTo = "alice@example.test"
		return nil, nil
	}}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, st, nil, web.BasicAuth{})
	_, _, body := get(t, srv.URL+"/", nil)
	if !strings.Contains(body, "<th>Owner</th>") || !strings.Contains(body, "<td>alice@example.test</td>") {
		t.Errorf("status page does not show the owner:\n%s", body)
	}
}
