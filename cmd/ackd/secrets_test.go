package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
)

// signalWriter collects output and closes hit once want appears in it.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	hit  chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.hit != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.hit)
		w.hit = nil
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestSecretsNeverPrinted sets every secret to a unique value, then runs
// `ackd check` and a daemon whose IMAP server rejects the password, and
// scans all output for the values. A world-readable password file is a
// warning, not an error.
func TestSecretsNeverPrinted(t *testing.T) {
	smtpSecret := fmt.Sprintf("smtp-s3cret-%d", time.Now().UnixNano())
	imapSecret := fmt.Sprintf("imap-s3cret-%d", time.Now().UnixNano())
	env := "ACKD_TEST_SMTP_PASSWORD_" + fmt.Sprint(os.Getpid())
	t.Setenv(env, smtpSecret)

	srv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("it-help@example.test", "the-right-one"); err != nil {
		t.Fatal(err)
	}
	// An SMTP port nobody listens on: taken and released at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "imap-password")
	if err := os.WriteFile(pwFile, []byte(imapSecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pwFile, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	cfg := fmt.Sprintf(`store: {driver: sqlite, dsn: ackd.db}
smtp: {host: 127.0.0.1, port: %d, tls: none, username: ackd, password_env: %s}
http: {listen: ""}
departments:
  - name: IT
    address: it-help@example.test
    imap: {host: %s, port: %s, tls: none, username: it-help@example.test, password_file: imap-password, idle: true}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}}
    rules: [{name: r, category: default, match: {subject: x}}]
`, smtpPort, env, host, port)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check", "-c", path}, &out, &errOut); code != 0 {
		t.Fatalf("check exit %d: %s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "warning") || !strings.Contains(errOut.String(), "readable by every user") {
		t.Errorf("check did not warn about the world-readable password file:\n%s", errOut.String())
	}
	all := out.String() + errOut.String()

	// The daemon: the IMAP login fails (wrong password); wait for that
	// error in the log, then stop it.
	logw := &signalWriter{want: "IMAP login refused", hit: make(chan struct{})}
	hit := logw.hit
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", path, "--debug"}, &out, logw) }()
	select {
	case <-hit:
	case code := <-done:
		t.Fatalf("daemon exited %d at once:\n%s", code, logw.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("no imap error logged within 15s:\n%s", logw.String())
	}
	cancel()
	<-done
	all += out.String() + logw.String()
	if !strings.Contains(logw.String(), "readable by every user") {
		t.Errorf("daemon start did not warn about the world-readable password file")
	}
	for _, secret := range []string{smtpSecret, imapSecret} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q appears in the output:\n%s", secret, all)
		}
	}
	t.Logf("output scanned (%d bytes):\n%s", len(all), all)
}
