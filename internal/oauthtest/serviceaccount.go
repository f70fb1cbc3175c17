package oauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ServiceAccount is a Google service account whose client id a Workspace
// admin granted scopes under domain-wide delegation.
type ServiceAccount struct {
	Email string // client_email: the JWT's iss
	KeyID string // private_key_id: the JWT header's kid
	Key   *rsa.PublicKey
	// Domain is the Workspace domain whose users the account may act for
	// (the JWT's sub).
	Domain string
	// Scopes are the delegated scopes (Admin console → Security → API
	// controls → Domain-wide delegation).
	Scopes []string
}

// AddServiceAccount makes a service account name@project for domain with
// scopes delegated, registers it, and writes its JSON key as the Google
// Cloud console downloads it into dir (mode 0600, token_uri this server).
func (s *Server) AddServiceAccount(t testing.TB, dir, name, domain string, scopes ...string) (keyFile string, sa ServiceAccount) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oauthtest: generate key: %v", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("oauthtest: marshal key: %v", err)
	}
	sa = ServiceAccount{Email: name + "@ackd-test.iam.gserviceaccount.com", KeyID: newToken("kid"),
		Key: &key.PublicKey, Domain: domain, Scopes: scopes}
	b, err := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "ackd-test", "private_key_id": sa.KeyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})),
		"client_email": sa.Email, "client_id": "1" + fmt.Sprint(time.Now().UnixNano()),
		"auth_uri": s.URL + "/authorize", "token_uri": s.URL + "/token",
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, name+".json")
	if err := os.WriteFile(keyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.accounts[sa.Email] = sa
	s.mu.Unlock()
	return keyFile, sa
}

// jwtGrant checks a JWT-bearer grant (RFC 7523 section 2.1) as Google's
// endpoint does for a service account: RS256 signed by the key kid names,
// iss a known account, aud the token URL, at most an hour between iat and
// exp and not expired, sub a user of the account's domain, every scope
// delegated. It writes the refusal itself. Called with s.mu held.
func (s *Server) jwtGrant(w http.ResponseWriter, r *http.Request) (user, scope string, ok bool) {
	fail := func(code, descr string) (string, string, bool) {
		s.refusals = append(s.refusals, "jwt-bearer: "+descr)
		refuse(code, descr).write(w)
		return "", "", false
	}
	parts := strings.Split(r.PostFormValue("assertion"), ".")
	if len(parts) != 3 {
		return fail("invalid_grant", "assertion is not a JWT")
	}
	var hdr struct{ Alg, Kid, Typ string }
	var claims struct {
		Iss, Sub, Aud, Scope string
		Iat, Exp             int64
	}
	if decodePart(parts[0], &hdr) != nil || decodePart(parts[1], &claims) != nil {
		return fail("invalid_grant", "assertion is not a JWT")
	}
	sa, known := s.accounts[claims.Iss]
	if !known {
		return fail("invalid_grant", fmt.Sprintf("Invalid email or User ID (iss %q)", claims.Iss))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || hdr.Alg != "RS256" || hdr.Kid != sa.KeyID {
		return fail("invalid_grant", "Invalid JWT Signature.")
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(sa.Key, crypto.SHA256, d[:], sig) != nil {
		return fail("invalid_grant", "Invalid JWT Signature.")
	}
	if want := s.URL + "/token"; claims.Aud != want {
		return fail("invalid_grant", fmt.Sprintf("Invalid JWT audience %q (want %q)", claims.Aud, want))
	}
	now := time.Now().Add(s.skew)
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iat == 0 || claims.Exp == 0 || exp.Sub(iat) > time.Hour || !now.Before(exp) || now.Add(leeway).Before(iat) {
		return fail("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	if claims.Sub == "" || !strings.HasSuffix(strings.ToLower(claims.Sub), "@"+strings.ToLower(sa.Domain)) {
		// Without sub the token is the service account's own, which has
		// no mailbox; another domain's user is not delegated.
		return fail("invalid_grant", fmt.Sprintf("Invalid email or User ID (sub %q is not a user of %s)", claims.Sub, sa.Domain))
	}
	if strings.TrimSpace(claims.Scope) == "" {
		return fail("invalid_scope", "Empty or missing scope not allowed.")
	}
	for _, sc := range strings.Fields(claims.Scope) {
		if !slices.Contains(sa.Scopes, sc) {
			return fail("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		}
	}
	return claims.Sub, claims.Scope, true
}
