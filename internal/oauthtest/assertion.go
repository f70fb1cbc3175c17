package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// leeway is the clock skew the server forgives on nbf, as providers do.
const leeway = time.Minute

// checkAssertion verifies a JWT client assertion as Microsoft's endpoint
// does: the signature against the registered certificate found by x5t,
// aud the token URL, iss and sub the client id, within nbf and exp, and
// a jti not seen before. Called with s.mu held.
func (s *Server) checkAssertion(r *http.Request) (string, Client, error) {
	if t := r.PostFormValue("client_assertion_type"); t != assertionType {
		return "", Client{}, fmt.Errorf("client_assertion_type %q is not %s", t, assertionType)
	}
	if _, sec, basic := r.BasicAuth(); basic || r.PostFormValue("client_secret") != "" || sec != "" {
		return "", Client{}, errors.New("both a secret and an assertion were sent")
	}
	parts := strings.Split(r.PostFormValue("client_assertion"), ".")
	if len(parts) != 3 {
		return "", Client{}, errors.New("not a JWS compact serialization")
	}
	var hdr struct {
		Alg, Typ, X5t string
		X5tS256       string `json:"x5t#S256"`
	}
	var claims struct {
		Aud, Iss, Sub, Jti string
		Nbf, Iat, Exp      int64
	}
	if err := decodePart(parts[0], &hdr); err != nil {
		return "", Client{}, fmt.Errorf("header: %w", err)
	}
	if err := decodePart(parts[1], &claims); err != nil {
		return "", Client{}, fmt.Errorf("claims: %w", err)
	}
	id := claims.Iss
	if cid := r.PostFormValue("client_id"); cid != "" && cid != id {
		return id, Client{}, fmt.Errorf("client_id %q is not the issuer %q", cid, id)
	}
	c, ok := s.clients[id]
	if !ok || c.Certificate == nil {
		return id, c, fmt.Errorf("client %q has no certificate registered", id)
	}
	if why := s.assertionAlgRefused(hdr.Alg); why != "" {
		return id, c, errors.New(why)
	}
	s1, s256 := sha1.Sum(c.Certificate.Raw), sha256.Sum256(c.Certificate.Raw)
	if hdr.X5t != base64.RawURLEncoding.EncodeToString(s1[:]) {
		return id, c, errors.New("x5t does not match the registered certificate")
	}
	if hdr.X5tS256 != "" && hdr.X5tS256 != base64.RawURLEncoding.EncodeToString(s256[:]) {
		return id, c, errors.New("x5t#S256 does not match the registered certificate")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return id, c, fmt.Errorf("signature: %w", err)
	}
	if err := verify(hdr.Alg, c.Certificate.PublicKey, parts[0]+"."+parts[1], sig); err != nil {
		return id, c, err
	}
	if want := s.URL + "/token"; claims.Aud != want {
		return id, c, fmt.Errorf("audience %q is not %q", claims.Aud, want)
	}
	if claims.Sub != id {
		return id, c, fmt.Errorf("sub %q is not iss %q", claims.Sub, id)
	}
	now := time.Now().Add(s.skew)
	switch {
	case claims.Exp == 0 || !now.Before(time.Unix(claims.Exp, 0)):
		return id, c, fmt.Errorf("assertion expired at %s", time.Unix(claims.Exp, 0).UTC())
	case claims.Nbf != 0 && now.Add(leeway).Before(time.Unix(claims.Nbf, 0)):
		return id, c, fmt.Errorf("assertion not valid before %s", time.Unix(claims.Nbf, 0).UTC())
	case claims.Jti == "":
		return id, c, errors.New("assertion has no jti")
	case s.jtis[claims.Jti]:
		return id, c, errors.New("assertion replayed (jti seen before)")
	}
	s.jtis[claims.Jti] = true
	return id, c, nil
}

func decodePart(p string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func verify(alg string, pub crypto.PublicKey, input string, sig []byte) error {
	bad := errors.New("signature does not verify with the registered certificate")
	switch alg {
	case "RS256", "PS256":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("alg %s with a non-RSA certificate", alg)
		}
		d := sha256.Sum256([]byte(input))
		var err error
		if alg == "RS256" {
			err = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig)
		} else {
			err = rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, nil)
		}
		if err != nil {
			return bad
		}
		return nil
	case "ES256", "ES384", "ES512":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("alg %s with a non-ECDSA certificate", alg)
		}
		var d []byte
		switch alg {
		case "ES256":
			h := sha256.Sum256([]byte(input))
			d = h[:]
		case "ES384":
			h := sha512.Sum384([]byte(input))
			d = h[:]
		default:
			h := sha512.Sum512([]byte(input))
			d = h[:]
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return bad
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(k, d, r, s) {
			return bad
		}
		return nil
	}
	return fmt.Errorf("alg %q not accepted", alg)
}

// Key kinds for WriteCertificate.
const (
	RSA   = "rsa"
	ECDSA = "ecdsa"
)

// WriteCertificate makes a new self-signed certificate with a key of kind
// RSA or ECDSA (P-256), as `openssl req -x509` would, and writes both
// as PEM into dir: name.crt and name.key (mode 0600, PKCS#8).
func WriteCertificate(t testing.TB, dir, name, kind string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case ECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("oauthtest: unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatalf("oauthtest: generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "ackd " + name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("oauthtest: create certificate: %v", err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("oauthtest: parse certificate: %v", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("oauthtest: marshal key: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}
