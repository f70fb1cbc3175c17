package smtpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dial(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// send runs one transaction and returns the first error.
func send(c *smtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestRecords(t *testing.T) {
	var hooked []Received
	var mu sync.Mutex
	s := start(t, WithOnMessage(func(r Received) { mu.Lock(); hooked = append(hooked, r); mu.Unlock() }))
	if s.Host() != "127.0.0.1" || s.Port() == 0 || !strings.HasSuffix(s.Addr(), ":"+strconv.Itoa(s.Port())) {
		t.Fatalf("addr %s host %s port %d", s.Addr(), s.Host(), s.Port())
	}
	c := dial(t, s)
	if err := send(c, "", []string{"a@example.test", "b@example.test"}, "Subject: x\r\n\r\n.dot line\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "from@example.test", []string{"c@example.test"}, "Subject: y\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := s.WaitFor(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].From != "" || !slices.Equal(got[0].To, []string{"a@example.test", "b@example.test"}) ||
		string(got[0].Data) != "Subject: x\r\n\r\n.dot line\r\n" {
		t.Errorf("first = %+v", got[0])
	}
	if got[1].From != "from@example.test" || got[0].Conn != 1 || got[1].Conn != 1 || got[1].Helo != "localhost" || got[1].TLS {
		t.Errorf("second = %+v", got[1])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 2 {
		t.Errorf("hook saw %d messages", len(hooked))
	}
}

func TestFaults(t *testing.T) {
	s := start(t,
		WithFault(Fault{Stage: StageMail, Code: 451, Text: "slow down", Times: 1}),
		WithFault(Fault{Stage: StageRcpt, Rcpt: "gone@example.test", Code: 550, Text: "no such user"}),
	)
	c := dial(t, s)
	if err := send(c, "", []string{"a@example.test"}, "x\r\n"); code(err) != 451 || !strings.Contains(err.Error(), "slow down") {
		t.Fatalf("first MAIL: %v", err)
	}
	for range 2 { // always-on fault for one recipient only
		_ = c.Reset()
		if err := send(c, "", []string{"gone@example.test"}, "x\r\n"); code(err) != 550 {
			t.Fatalf("RCPT gone: %v", err)
		}
	}
	_ = c.Reset()
	if err := send(c, "", []string{"a@example.test"}, "x\r\n"); err != nil {
		t.Fatalf("after one-shot fault: %v", err)
	}
	s.Inject(Fault{Stage: StageData, Code: 554, Text: "content rejected", Times: 2})
	for range 2 {
		if err := send(c, "", []string{"a@example.test"}, "x\r\n"); code(err) != 554 {
			t.Fatalf("DATA: %v", err)
		}
	}
	if err := send(c, "", []string{"a@example.test"}, "x\r\n"); err != nil {
		t.Fatalf("after DATA faults: %v", err)
	}
	s.ClearFaults()
	if err := send(c, "", []string{"gone@example.test"}, "x\r\n"); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	if n := len(s.Messages()); n != 3 {
		t.Errorf("recorded %d messages, want 3 (rejected ones are not recorded)", n)
	}
}

func TestAuth(t *testing.T) {
	s := start(t, WithAuth("user", "pass"))
	c := dial(t, s)
	if err := send(c, "", []string{"a@example.test"}, "x\r\n"); code(err) != 502 {
		t.Fatalf("MAIL without AUTH: %v", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "user", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	c = dial(t, s)
	if err := c.Auth(sasl.NewPlainClient("", "user", "pass")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "", []string{"a@example.test"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	c = dial(t, s)
	if err := c.Auth(sasl.NewLoginClient("user", "pass")); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	if err := send(c, "", []string{"a@example.test"}, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[0].User != "user" || msgs[1].Conn != 3 || s.Connections() != 3 {
		t.Errorf("messages %+v over %d connections", msgs, s.Connections())
	}
}

func TestTLS(t *testing.T) {
	serverCfg, pool, err := SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	clientCfg := func() *tls.Config { return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"} }
	t.Run("starttls", func(t *testing.T) {
		s := start(t, WithSTARTTLS(serverCfg))
		c, err := smtp.DialStartTLS(s.Addr(), clientCfg())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := send(c, "", []string{"a@example.test"}, "x\r\n"); err != nil {
			t.Fatal(err)
		}
		if m := s.Messages(); !m[0].TLS {
			t.Error("not recorded as TLS")
		}
	})
	t.Run("implicit", func(t *testing.T) {
		s := start(t, WithImplicitTLS(serverCfg))
		c, err := smtp.DialTLS(s.Addr(), clientCfg())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := send(c, "", []string{"a@example.test"}, "x\r\n"); err != nil {
			t.Fatal(err)
		}
		if m := s.Messages(); !m[0].TLS || m[0].Conn != 1 {
			t.Errorf("received %+v", m[0])
		}
	})
}

func TestWaitForEnds(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.WaitFor(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor on cancelled ctx = %v", err)
	}
	s.Close()
	s.Close() // idempotent
	if _, err := s.WaitFor(t.Context(), 1); err == nil {
		t.Error("WaitFor on closed sink returned no error")
	}
	if _, err := smtp.Dial(s.Addr()); err == nil {
		t.Error("closed sink still accepts connections")
	}
}

func TestStartContextCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _, _ = s.WaitFor(t.Context(), 1); close(done) }()
	cancel()
	<-done // WaitFor returns because the sink closed with its context
	s.Close()
}
