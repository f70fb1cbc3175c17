package report

import (
	"context"
	"fmt"

	"github.com/ackd/ackd/mailwatch/store"
)

// HeldReceipts maps the requests of dept whose receipt a sending limit
// holds to the reason, for status pages and digests.
func HeldReceipts(ctx context.Context, st store.Store, dept string) (map[int64]string, error) {
	held, err := st.HeldMail(ctx, dept)
	if err != nil {
		return nil, fmt.Errorf("list held mail of %s: %w", dept, err)
	}
	out := map[int64]string{}
	for _, m := range held {
		if m.Kind == "receipt" && m.RequestID != 0 {
			out[m.RequestID] = m.HeldReason
		}
	}
	return out, nil
}
