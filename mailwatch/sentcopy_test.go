package mailwatch_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ackd/ackd/internal/imapmem"
)

// sentMsg is a message found in a Sent mailbox.
type sentMsg struct {
	raw   []byte
	flags []imap.Flag
}

// waitSent waits until the department's Sent mailbox holds n messages.
func waitSent(t *testing.T, b backend, dept string, n int) []sentMsg {
	t.Helper()
	switch b := b.(type) {
	case *memBackend:
		return waitMemSent(t, b.imap, dept, n)
	case *stackBackend:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		msgs, err := b.s.WaitForMessages(ctx, dept, "Sent", n)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]sentMsg, len(msgs))
		for i, m := range msgs {
			out[i] = sentMsg{m.Raw, m.Flags}
		}
		return out
	}
	t.Fatalf("unknown backend %T", b)
	return nil
}

// waitMemSent watches the mailbox with IDLE, so the test wakes when the
// copy lands instead of polling.
func waitMemSent(t *testing.T, srv *imapmem.Server, user string, n int) []sentMsg {
	t.Helper()
	exists := make(chan struct{}, 1)
	c, err := imapclient.DialInsecure(srv.Addr(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case exists <- struct{}{}:
					default:
					}
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("Sent", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	for have := int(sel.NumMessages); have < n; {
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-exists:
		case <-deadline:
			t.Fatalf("Sent of %s holds %d messages after 15s, want %d", user, have, n)
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		have = int(*st.NumMessages)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]sentMsg, len(bufs))
	for i, b := range bufs {
		out[i] = sentMsg{b.FindBodySection(section), b.Flags}
	}
	return out
}

func TestScenarioSentCopy(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			d := newDeployment(t, mk(t))
			d.cfg.Departments[0].IMAP.AppendSent = true
			d.cfg.Departments[0].IMAP.SentMailbox = "Sent"
			jane, max := d.requesters[0], d.requesters[1]
			d.start()

			d.b.deliver(t, jane, d.dept, request("Jane Doe <"+jane+">", d.dept, "Password expired", "", "Please reset it."))
			d.b.deliver(t, max, d.dept, request("Max Mustermann <"+max+">", d.dept, "Monitor flickers", "", "Since Monday."))
			// An out-of-office gets no receipt, hence no copy.
			d.b.deliver(t, max, d.dept, request(max, d.dept, "Out of office", "Auto-Submitted: auto-replied\r\n", "Away."))
			sentJane := d.b.receipts(t, jane, 1)
			sentMax := d.b.receipts(t, max, 1)

			copies := waitSent(t, d.b, d.dept, 2)
			if len(copies) != 2 {
				t.Fatalf("Sent holds %d messages, want the 2 receipts", len(copies))
			}
			byID := map[string]sentMsg{}
			for _, c := range copies {
				h := receivedMail{raw: c.raw}.header(t)
				byID[strings.Trim(h.Get("Message-Id"), "<>")] = c
				if !slices.Contains(c.flags, imap.FlagSeen) {
					t.Errorf("the copy %q is not flagged \\Seen: %v", h.Get("Subject"), c.flags)
				}
				// ackd will watch Sent for staff answers; this header is how
				// it must tell its own copies apart.
				if got := h.Get("X-Ackd-Loop"); got != d.dept {
					t.Errorf("the copy %q has X-Ackd-Loop %q, want %q", h.Get("Subject"), got, d.dept)
				}
			}
			for _, r := range append(sentJane, sentMax...) {
				rh := r.header(t)
				id := strings.Trim(rh.Get("Message-Id"), "<>")
				c, ok := byID[id]
				if !ok {
					t.Errorf("no copy of the receipt %s in Sent", id)
					continue
				}
				// The stack adds Received/Return-Path on delivery: compare
				// the receipt's body, which both carry unchanged.
				if body := bodyOf(r.raw); !bytes.Contains(c.raw, body) {
					t.Errorf("the copy of %s differs from what was sent", id)
				}
			}
		})
	}
}

func bodyOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[i+4:]
	}
	return raw
}
