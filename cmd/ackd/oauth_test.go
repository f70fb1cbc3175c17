package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ackd/ackd/internal/oauthtest"
)

// approver approves the device login as soon as ackd has printed the code,
// as the user would in a browser.
type approver struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	srv  *oauthtest.Server
	done bool
}

func (a *approver) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf.Write(p)
	if !a.done && strings.Contains(a.buf.String(), "ACKD-TEST") {
		a.srv.ApproveDevice("it@example.test")
		a.done = true
	}
	return len(p), nil
}

func TestOAuthLogin(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	srv.AddClient("desk", oauthtest.Client{})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := `smtp: {host: 127.0.0.1}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, username: it@example.test, oauth2: {flow: refresh_token, client_id: desk,
           token_url: "` + srv.URL + `/token", device_auth_url: "` + srv.URL + `/device", refresh_token_file: it.token}}
    allowed_senders: ["*"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 3d}}
    rules: [{name: r, match: {subject: x}, category: default}]
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &approver{srv: srv}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"oauth", "login", "-c", cfgPath, "--department", "IT"}, out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "it.token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(out.buf.String(), srv.URL+"/verify") {
		t.Errorf("output does not tell where to sign in:\n%s", out.buf.String())
	}

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"oauth", "login", "-c", cfgPath, "--department", "Payroll"}, `no department "Payroll"`},
		{[]string{"oauth", "login", "-c", cfgPath, "--smtp"}, "no oauth2: block"},
		{[]string{"oauth", "login", "-c", cfgPath}, "exactly one of --department NAME and --smtp"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(t.Context(), tt.args, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want failure mentioning %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}
