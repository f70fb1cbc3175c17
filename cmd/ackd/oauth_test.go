package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// loginConfig writes a config whose IT department's imap section is imap.
func loginConfig(t *testing.T, imap string) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	cfgPath = filepath.Join(dir, "config.yaml")
	cfg := `smtp: {host: 127.0.0.1}
departments:
  - name: IT
    address: it@example.test
    imap: {` + imap + `}
    allowed_senders: ["*"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 3d}}
    rules: [{name: r, match: {subject: x}, category: default}]
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dir
}

// browser opens the first URL ackd prints, as the person would: the test
// server signs them in and redirects to ackd's loopback listener.
type browser struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	opened chan error
	url    string
}

func (b *browser) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.url == "" {
		for _, f := range strings.Fields(b.buf.String()) {
			if strings.Contains(f, "/authorize?") {
				b.url = f
				go func() {
					resp, err := http.Get(f)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("loopback answered %s", resp.Status)
						}
					}
					b.opened <- err
				}()
			}
		}
	}
	return len(p), nil
}

// TestOAuthLoginGoogleBrowser: Google's login is the installed-app flow,
// a loopback redirect on 127.0.0.1 with PKCE (S256) that the server
// checks; Google's device flow refuses Gmail's scope.
func TestOAuthLoginGoogleBrowser(t *testing.T) {
	srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
	srv.AddClient("desktop.apps.googleusercontent.com", oauthtest.Client{Secret: "GOCSPX-test"})
	srv.SignIn("it@example.test")
	t.Setenv("ACKD_TEST_GOOGLE_SECRET", "GOCSPX-test")
	cfgPath, dir := loginConfig(t, `provider: google, username: it@example.test, oauth2: {flow: refresh_token,
           client_id: desktop.apps.googleusercontent.com, client_secret_env: ACKD_TEST_GOOGLE_SECRET,
           token_url: "`+srv.URL+`/token", auth_url: "`+srv.URL+`/authorize", refresh_token_file: it.token}`)
	out := &browser{opened: make(chan error, 1)}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"oauth", "login", "-c", cfgPath, "--department", "IT"}, out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), out.buf.String())
	}
	if err := <-out.opened; err != nil {
		t.Errorf("browser: %v", err)
	}
	u, err := url.Parse(out.url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if ru, _ := url.Parse(q.Get("redirect_uri")); ru == nil || ru.Hostname() != "127.0.0.1" {
		t.Errorf("redirect_uri %q, want http://127.0.0.1:PORT/", q.Get("redirect_uri"))
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("scope") != "https://mail.google.com/" || q.Get("login_hint") != "it@example.test" {
		t.Errorf("authorization URL %s: want PKCE S256, Gmail's scope and the mailbox as login_hint", out.url)
	}
	if !strings.Contains(out.buf.String(), "Sign in as it@example.test") {
		t.Errorf("prompt does not say who signs in:\n%s", out.buf.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "it.token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "it.token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	// The stored refresh token is one the server issued for the mailbox.
	if srv.Requests("authorization_code") != 1 || srv.TokenCalls() != 1 || len(strings.TrimSpace(string(b))) == 0 {
		t.Errorf("code grants %d, token calls %d, token %q; want one exchange", srv.Requests("authorization_code"), srv.TokenCalls(), b)
	}

	// What the old login did: the device flow with Gmail's scope.
	srv.AddClient("tv", oauthtest.Client{})
	devPath, _ := loginConfig(t, `host: imap.gmail.com, username: it@example.test, oauth2: {flow: refresh_token, client_id: tv,
           token_url: "`+srv.URL+`/token", device_auth_url: "`+srv.URL+`/device", scopes: ["https://mail.google.com/"], refresh_token_file: it.token}`)
	stderr.Reset()
	if code := run(t.Context(), []string{"oauth", "login", "-c", devPath, "--department", "IT"}, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "invalid_scope") {
		t.Errorf("device flow with Gmail's scope: exit %d, stderr %q; want invalid_scope", code, stderr.String())
	}
}

// TestOAuthLoginBrowserRefused: the provider's error on the redirect ends
// the login with it; a request without the right state does not.
func TestOAuthLoginBrowserRefused(t *testing.T) {
	srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
	srv.AddClient("desk", oauthtest.Client{}) // nobody signed in: access_denied
	cfgPath, _ := loginConfig(t, `provider: google, username: it@example.test, oauth2: {flow: refresh_token, client_id: desk,
           token_url: "`+srv.URL+`/token", auth_url: "`+srv.URL+`/authorize", refresh_token_file: it.token}`)
	out := &browser{opened: make(chan error, 1)}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"oauth", "login", "-c", cfgPath, "--department", "IT"}, out, &stderr); code == 0 || !strings.Contains(stderr.String(), "access_denied") {
		t.Fatalf("exit %d, stderr %q; want access_denied", code, stderr.String())
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	ln, err := listenLoopback(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if a := ln.Addr().(*net.TCPAddr); !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("listening on %v, want 127.0.0.1 only", a)
	}
}

// TestOAuthLoginMicrosoftDevice: Microsoft keeps the device flow; the
// device request carries the scopes, each poll is one request, and the
// prompt asks for a delegate of the shared mailbox.
func TestOAuthLoginMicrosoftDevice(t *testing.T) {
	srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Microsoft)
	srv.AddClient("m365-public", oauthtest.Client{})
	srv.ApproveDeviceAfter("helpdesk-lead@example.test", 1)
	cfgPath, dir := loginConfig(t, `provider: microsoft365, username: it@example.test, oauth2: {flow: refresh_token, tenant: contoso.onmicrosoft.com,
           client_id: m365-public, token_url: "`+srv.URL+`/token", device_auth_url: "`+srv.URL+`/device", refresh_token_file: it.token}`)
	var out, stderr bytes.Buffer
	if code := run(t.Context(), []string{"oauth", "login", "-c", cfgPath, "--department", "IT"}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "it.token")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Full Access to it@example.test") || !strings.Contains(out.String(), "cannot sign in") {
		t.Errorf("prompt does not ask for a delegate with Full Access:\n%s", out.String())
	}
	// A guessed auth style tries basic auth first and repeats each failed
	// poll in the body; Microsoft documents the client_id in the body.
	if polls, calls, basic := srv.PendingPolls(), srv.TokenCalls(), srv.BasicAuthCalls(); calls != polls+1 || basic != 0 {
		t.Errorf("%d token requests (%d with basic auth) for %d pending polls and one success; want one request per poll, none with basic auth", calls, basic, polls)
	}
}
