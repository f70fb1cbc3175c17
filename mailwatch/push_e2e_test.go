package mailwatch

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
)

// TestPushWakeE2E: on the real stack, with IDLE off and a poll interval
// of an hour, Dovecot's push_notification plugin (scripts/mailstack's Lua
// script) wakes ackd's watcher the moment a request is delivered: each
// receipt is in the requester's INBOX well within a second of Postfix
// accepting the request (the median must be; each within 5 s on a loaded
// machine). Without the push the requests would wait for the hour.
func TestPushWakeE2E(t *testing.T) {
	s := mailstack.Require(t)
	ctx := faultCtx(t)
	dept, jane := s.NewAddress(t, "dept"), s.NewAddress(t, "jane")
	ih, ip, _ := net.SplitHostPort(s.IMAPAddr)
	sh, sp, _ := net.SplitHostPort(s.SMTPAddr)
	imap := fmt.Sprintf("{host: %s, port: %s, tls: starttls, ca_file: %s, username: %q, password_file: %s, idle: false, poll_interval: 1h}",
		ih, ip, s.CAFile, dept, passwordFile(t))
	smtp := fmt.Sprintf("{host: %s, port: %s, tls: starttls, ca_file: %s, timeout: 10s}", sh, sp, s.CAFile)
	cfg, db := faultConfig(t, imap, smtp, dept, s.NewAddress(t, "staff"))
	r := &faultRig{t: t, cfg: cfg, dbPath: db}
	r.start()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const token = "push-e2e-token"
	pctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- ServePush(pctx, ln, PushHandler(token, r.d.Wake, slog.New(slog.NewTextHandler(r.log, nil))))
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("ServePush: %v", err)
		}
	})
	s.PushTo(t, dept, "http://"+ln.Addr().String()+"/", token)
	eventually(t, 15*time.Second, "the watcher connected", func() bool { return r.d.Ready() == nil })

	const n = 5
	var ids []string
	var lat []time.Duration
	for i := range n {
		id, raw := faultRequest(jane, dept, fmt.Sprintf("Password reset %d", i))
		ids = append(ids, id)
		accepted, err := s.SendAccepted(ctx, jane, dept, raw)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = s.WaitForMessages(wctx, jane, "INBOX", i+1)
		cancel()
		if err != nil {
			t.Fatalf("request %d: no receipt within 5 s with push on and a 1 h poll: %v", i, err)
		}
		lat = append(lat, time.Since(accepted))
	}
	slices.Sort(lat)
	t.Logf("request accepted -> receipt in INBOX with push, %d requests: %v", n, lat)
	if med := lat[n/2]; med > time.Second {
		t.Errorf("median receipt %s after the request, want within 1 s", med)
	}
	r.stop()
	exactlyOnce(t, receiptsByRequest(t, s, jane), ids)
}
