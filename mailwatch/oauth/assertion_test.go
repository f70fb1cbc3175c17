package oauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/oauthtest"
)

// certConfig registers a certificate client with srv and returns the
// oauth2: block that uses it.
func certConfig(t *testing.T, srv *oauthtest.Server, kind string) *config.OAuth2Config {
	certFile, keyFile, cert := oauthtest.WriteCertificate(t, t.TempDir(), "ackd", kind)
	srv.AddClient("ackd-app", oauthtest.Client{Certificate: cert, Mailbox: "it@example.test"})
	return &config.OAuth2Config{Flow: config.FlowClientCredentials, TokenURL: srv.URL + "/token", ClientID: "ackd-app",
		ClientCertificateFile: certFile, ClientKeyFile: keyFile, Mechanism: config.MechXOAuth2}
}

func TestCertificateCredentialsGetToken(t *testing.T) {
	for _, kind := range []string{oauthtest.RSA, oauthtest.ECDSA} {
		t.Run(kind, func(t *testing.T) {
			srv := oauthtest.Start(t, "127.0.0.1:0")
			src, err := NewSource(certConfig(t, srv, kind), quiet())
			if err != nil {
				t.Fatal(err)
			}
			first, err := src.Token(t.Context())
			if err != nil {
				t.Fatalf("token with a valid assertion: %v (server refusals %v)", err, srv.Refusals())
			}
			// A second request must carry a new assertion: the server
			// refuses a jti it has seen.
			src.Invalidate(first)
			second, err := src.Token(t.Context())
			if err != nil {
				t.Fatalf("second token: %v (server refusals %v)", err, srv.Refusals())
			}
			if second == first || srv.Requests("client_credentials") != 2 {
				t.Errorf("requests = %d, new token = %v; want two grants", srv.Requests("client_credentials"), second != first)
			}
		})
	}
}

// post sends one client-credentials request carrying assertion.
func post(t *testing.T, srv *oauthtest.Server, assertion string) error {
	cc := &clientcredentials.Config{ClientID: "ackd-app", TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion}}}
	_, err := cc.Token(t.Context())
	return err
}

func TestCertificateCredentialsRefused(t *testing.T) {
	tests := []struct {
		name      string
		assertion func(t *testing.T, srv *oauthtest.Server, good *ClientCert) string
		want      string // in the server's refusal
	}{
		{"wrong key, right thumbprint", func(t *testing.T, srv *oauthtest.Server, good *ClientCert) string {
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			thief, err := newClientCert(good.cert, other)
			if err != nil {
				t.Fatal(err)
			}
			return mustAssert(t, thief, "ackd-app", srv.URL+"/token", time.Now())
		}, "signature does not verify"},
		{"certificate not registered", func(t *testing.T, srv *oauthtest.Server, _ *ClientCert) string {
			c, k, _ := oauthtest.WriteCertificate(t, t.TempDir(), "other", oauthtest.ECDSA)
			other, err := LoadClientCert(c, k)
			if err != nil {
				t.Fatal(err)
			}
			return mustAssert(t, other, "ackd-app", srv.URL+"/token", time.Now())
		}, "x5t does not match"},
		{"expired", func(t *testing.T, srv *oauthtest.Server, good *ClientCert) string {
			return mustAssert(t, good, "ackd-app", srv.URL+"/token", time.Now().Add(-AssertionLifetime-time.Second))
		}, "assertion expired"},
		{"wrong audience", func(t *testing.T, srv *oauthtest.Server, good *ClientCert) string {
			return mustAssert(t, good, "ackd-app", "https://login.microsoftonline.com/other/oauth2/v2.0/token", time.Now())
		}, "audience"},
		{"wrong issuer", func(t *testing.T, srv *oauthtest.Server, good *ClientCert) string {
			return mustAssert(t, good, "someone-else", srv.URL+"/token", time.Now())
		}, "is not the issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.Start(t, "127.0.0.1:0")
			cfg := certConfig(t, srv, oauthtest.ECDSA)
			good, err := LoadClientCert(cfg.ClientCertificateFile, cfg.ClientKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			// The same server accepts the good assertion, so a refusal
			// below is the case's fault and not the setup's.
			if err := post(t, srv, mustAssert(t, good, "ackd-app", srv.URL+"/token", time.Now())); err != nil {
				t.Fatalf("control: valid assertion refused: %v", err)
			}
			err = post(t, srv, tt.assertion(t, srv, good))
			if err == nil {
				t.Fatalf("token issued; want invalid_client")
			}
			if !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want invalid_client with %q", err, tt.want)
			}
			if srv.Requests("client_credentials") != 1 {
				t.Errorf("%d grants; want only the control's", srv.Requests("client_credentials"))
			}
		})
	}
}

func mustAssert(t *testing.T, c *ClientCert, clientID, aud string, now time.Time) string {
	t.Helper()
	a, err := c.Assertion(clientID, aud, now)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCertificateExpiredAssertionThroughSource drives the Source with a
// clock far behind the server's: every assertion it signs is expired on
// arrival, and the admin is told the endpoint refused the client.
func TestCertificateExpiredAssertionThroughSource(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	clock := &fakeClock{t: time.Now().Add(-time.Hour)}
	src, err := NewSource(certConfig(t, srv, oauthtest.RSA), quiet(), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v; want invalid_client with a hint about the certificate", err)
	}
	if r := srv.Refusals(); len(r) != 1 || !strings.Contains(r[0], "expired") {
		t.Errorf("server refusals %q; want one expired assertion", r)
	}
}

// keyBody is the base64 body of a PEM key file: what must never appear
// in an error or a log line.
func keyBody(t *testing.T, keyFile string) []string {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", keyFile)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l[:min(len(l), 24)])
		}
	}
	return lines
}

func TestLoadClientCertErrors(t *testing.T) {
	dir := t.TempDir()
	certA, keyA, _ := oauthtest.WriteCertificate(t, dir, "a", oauthtest.RSA)
	_, keyB, _ := oauthtest.WriteCertificate(t, dir, "b", oauthtest.ECDSA)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyABytes, _ := os.ReadFile(keyA)
	// A key whose DER is damaged, keeping its PEM armour.
	blk, _ := pem.Decode(keyABytes)
	blk.Bytes = blk.Bytes[:len(blk.Bytes)/2]
	truncated := write("truncated.key", string(pem.EncodeToMemory(blk)))
	tests := []struct {
		name            string
		cert, key       string
		wantFile, words string
	}{
		{"missing certificate", filepath.Join(dir, "nope.crt"), keyA, "nope.crt", "read client certificate"},
		{"missing key", certA, filepath.Join(dir, "nope.key"), "nope.key", "read client key"},
		{"key of another certificate", certA, keyB, keyB, "does not belong to the certificate"},
		{"certificate file holds a key", keyA, keyA, keyA, "no PEM CERTIFICATE block"},
		{"key file holds a certificate", certA, certA, certA, "no PEM private key block"},
		{"damaged key", certA, truncated, truncated, "is not a valid private key"},
		{"encrypted key", certA, write("enc.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"), "enc.key", "is encrypted"},
	}
	secrets := append(keyBody(t, keyA), keyBody(t, keyB)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := &config.OAuth2Config{Flow: config.FlowClientCredentials, TokenURL: "http://127.0.0.1:1/token", ClientID: "ackd-app",
				ClientCertificateFile: tt.cert, ClientKeyFile: tt.key}
			_, err := NewSource(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err == nil {
				t.Fatal("NewSource succeeded; want an error")
			}
			if !strings.Contains(err.Error(), tt.wantFile) || !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q; want it to name %s and say %q", err, tt.wantFile, tt.words)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
					t.Errorf("key material %q leaked: error %q, logs %q", s, err, logs.String())
				}
			}
		})
	}
}

// TestCertificateNoKeyMaterialInLogs runs a success, a refusal and a
// backoff with debug logging and checks that neither the key nor a signed
// assertion reaches the log or an error.
func TestCertificateNoKeyMaterialInLogs(t *testing.T) {
	srv := oauthtest.Start(t, "127.0.0.1:0")
	cfg := certConfig(t, srv, oauthtest.RSA)
	var logs bytes.Buffer
	clock := &fakeClock{t: time.Now()}
	src, err := NewSource(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	tok, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	src.Invalidate(tok)
	clock.add(-2 * time.Hour) // every assertion now expired on arrival
	for range 2 {             // a refusal, then the backoff error
		if _, err := src.Token(t.Context()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 2 || srv.Requests("client_credentials") != 1 {
		t.Fatalf("errors %q, grants %d; want a refusal and a backoff after one grant", errs, srv.Requests("client_credentials"))
	}
	all := logs.String() + strings.Join(errs, "\n")
	for _, s := range append(keyBody(t, cfg.ClientKeyFile), "eyJ", "PRIVATE KEY", "client_assertion=") {
		if strings.Contains(all, s) {
			t.Errorf("%q appears in logs or errors:\n%s", s, all)
		}
	}
}

func TestKeyFileWarning(t *testing.T) {
	_, keyFile, _ := oauthtest.WriteCertificate(t, t.TempDir(), "ackd", oauthtest.ECDSA)
	if w := KeyFileWarning(keyFile); w != "" {
		t.Errorf("mode 0600: warning %q; want none", w)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if w := KeyFileWarning(keyFile); !strings.Contains(w, keyFile) || !strings.Contains(w, "0644") {
		t.Errorf("mode 0644: warning %q; want one naming the file and its mode", w)
	}
}
