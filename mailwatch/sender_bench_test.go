package mailwatch

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/outbox"
)

// TestSenderBacklogRate drains a backlog of receipts from 100 requesters
// through the real outbox sender, its SQLite store and the limit gate with
// the bench's limits (1,000,000 a minute and a sender an hour) into the
// in-process SMTP sink, and logs receipts/s, with and without the gate.
// It runs only when ACKD_SENDER_BENCH names the backlog;
// ACKD_SENDER_BENCH_PROFILE names a CPU profile file to write.
//
//	ACKD_SENDER_BENCH=5000 go test ./mailwatch -run TestSenderBacklogRate -v -count=1
func TestSenderBacklogRate(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ACKD_SENDER_BENCH"))
	if n <= 0 {
		t.Skip("set ACKD_SENDER_BENCH to the backlog size")
	}
	for _, gate := range []bool{true, false} {
		t.Run(fmt.Sprintf("gate=%v", gate), func(t *testing.T) {
			t0 := at("2026-03-02 10:00")
			lw := newLimitWorld(t, t0, func(l *config.Limits) { l.PerSenderPerHour, l.GlobalPerMinute = 1000000, 1000000 })
			if !gate {
				smtp := outbox.SMTPConfig{Host: lw.sink.Host(), Port: lw.sink.Port(), TLS: outbox.TLSNone, Timeout: 5 * time.Second}
				lw.sender = outbox.NewSender(OutboxQueue(lw.st), smtp, lw.log, outbox.WithClock(lw.clock.now))
			}
			for i := range n {
				if o := lw.newRequest(fmt.Sprintf("person%d@example.test", i%100), fmt.Sprintf("printer %d", i)); o.Action != "receipt" {
					t.Fatalf("request %d: %s", i, o.Action)
				}
			}
			if p := os.Getenv("ACKD_SENDER_BENCH_PROFILE"); p != "" && gate {
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					t.Fatal(err)
				}
				defer pprof.StopCPUProfile()
			}
			start := time.Now()
			d := lw.drainAt(t0)
			el := time.Since(start)
			if d.Sent != n {
				t.Fatalf("drained %+v, want %d sent", d, n)
			}
			t.Logf("backlog %d, gate %v: %d receipts in %v, %.0f receipts/s", n, gate, d.Sent, el.Round(time.Millisecond), float64(d.Sent)/el.Seconds())
		})
	}
}
