package oauth

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
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"os"
	"time"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a client assertion is valid. Microsoft
// documents ten minutes; a fresh one is signed for every token request,
// so a longer life would only widen the window for replay.
const AssertionLifetime = 10 * time.Minute

// ClientCert signs client assertions with a certificate's private key:
// Microsoft identity platform "certificate credentials". It is safe for
// concurrent use.
type ClientCert struct {
	cert         *x509.Certificate
	key          crypto.Signer
	alg          string
	newHash      func() hash.Hash
	x5t, x5tS256 string
}

// LoadClientCert reads a PEM certificate (the first CERTIFICATE block; a
// chain may follow) and its PEM private key (PKCS#8, PKCS#1 RSA or SEC 1
// EC; RSA or ECDSA). Errors name the file, never its contents.
func LoadClientCert(certFile, keyFile string) (*ClientCert, error) {
	cert, err := readCertificate(certFile)
	if err != nil {
		return nil, err
	}
	key, err := readPrivateKey(keyFile)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("client key file %s does not belong to the certificate in %s", keyFile, certFile)
	}
	c, err := newClientCert(cert, key)
	if err != nil {
		return nil, fmt.Errorf("client key file %s: %w", keyFile, err)
	}
	return c, nil
}

// newClientCert does not check that key belongs to cert, so tests can
// build the assertion a thief with the wrong key would send.
func newClientCert(cert *x509.Certificate, key crypto.Signer) (*ClientCert, error) {
	c := &ClientCert{cert: cert, key: key}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		// RS256 is what Microsoft documents and every provider accepts.
		c.alg, c.newHash = "RS256", sha256.New
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			c.alg, c.newHash = "ES256", sha256.New
		case elliptic.P384():
			c.alg, c.newHash = "ES384", sha512.New384
		case elliptic.P521():
			c.alg, c.newHash = "ES512", sha512.New
		default:
			return nil, errors.New("unsupported ECDSA curve (use P-256, P-384 or P-521)")
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T (use RSA or ECDSA)", key)
	}
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	c.x5t = base64.RawURLEncoding.EncodeToString(s1[:])
	c.x5tS256 = base64.RawURLEncoding.EncodeToString(s256[:])
	return c, nil
}

// Thumbprint is the certificate's SHA-1 thumbprint in hex, as the Azure
// portal shows it next to an uploaded certificate.
func (c *ClientCert) Thumbprint() string {
	s := sha1.Sum(c.cert.Raw)
	return fmt.Sprintf("%X", s[:])
}

// IsRSA reports whether the key is RSA, the only kind Entra ID accepts.
func (c *ClientCert) IsRSA() bool { _, ok := c.key.(*rsa.PrivateKey); return ok }

// KeyType names the key's kind for messages: "RSA" or "ECDSA P-256".
func (c *ClientCert) KeyType() string {
	switch k := c.key.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", c.key)
}

// NotAfter is when the certificate expires; Microsoft refuses assertions
// signed with an expired certificate.
func (c *ClientCert) NotAfter() time.Time { return c.cert.NotAfter }

type assertionHeader struct {
	Alg     string `json:"alg"`
	Typ     string `json:"typ"`
	X5t     string `json:"x5t"`
	X5tS256 string `json:"x5t#S256"`
}

// AssertionClaims are the claims of a client assertion (RFC 7523 section 3).
type AssertionClaims struct {
	Aud string `json:"aud"`
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Jti string `json:"jti"`
	Nbf int64  `json:"nbf"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// Assertion returns a signed JWT that authenticates clientID to the token
// endpoint tokenURL (the audience), valid from now for AssertionLifetime.
func (c *ClientCert) Assertion(clientID, tokenURL string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	claims := AssertionClaims{
		Aud: tokenURL, Iss: clientID, Sub: clientID, Jti: hex.EncodeToString(jti[:]),
		Nbf: now.Unix(), Iat: now.Unix(), Exp: now.Add(AssertionLifetime).Unix(),
	}
	return c.sign(claims)
}

func (c *ClientCert) sign(claims AssertionClaims) (string, error) {
	h, err := json.Marshal(assertionHeader{Alg: c.alg, Typ: "JWT", X5t: c.x5t, X5tS256: c.x5tS256})
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b)
	d := c.newHash()
	d.Write([]byte(input))
	digest := d.Sum(nil)
	var sig []byte
	switch k := c.key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest)
	case *ecdsa.PrivateKey:
		// JWS wants r||s at the curve's size (RFC 7518 section 3.4), not
		// the ASN.1 that ecdsa.SignASN1 produces.
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, digest)
		if err == nil {
			n := (k.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*n)
			r.FillBytes(sig[:n])
			s.FillBytes(sig[n:])
		}
	}
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func readCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read client certificate: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("client certificate file %s holds no PEM CERTIFICATE block", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse client certificate %s: %w", path, err)
		}
		return cert, nil
	}
}

// readPrivateKey reads the first private key block of path. Parse errors
// are replaced by a fixed sentence: they come from code that sees the key
// bytes, and nothing of a key may reach a log.
func readPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read client key: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("client key file %s holds no PEM private key block", path)
		}
		var key any
		switch blk.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("client key file %s is encrypted; ackd needs it unencrypted (protect it with file permissions: chmod 600)", path)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("client key file %s: %s block is not a valid private key", path, blk.Type)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("client key file %s: unsupported key type %T (use RSA or ECDSA)", path, key)
		}
		return signer, nil
	}
}

// KeyFileWarning returns a warning when a private key file can be read by
// every user on the machine, "" otherwise (or when it cannot be stat'ed:
// LoadClientCert reports that). A warning rather than an error, for the
// same reason as secret.Warning: a secret mount may be 0444.
func KeyFileWarning(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("private key file %s is readable by every user (mode %04o); chmod 600 it", path, fi.Mode().Perm())
}
