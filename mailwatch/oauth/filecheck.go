package oauth

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"github.com/ackd/ackd/config"
)

// CertExpirySoon is how long before a client certificate expires ackd
// starts warning, at start and in `ackd check`: time to make a new one,
// upload it next to the old one and swap the files.
const CertExpirySoon = 30 * 24 * time.Hour

// credentialsDir is where systemd's LoadCredential= puts files for a
// unit; they exist only inside the unit's processes.
const credentialsDir = "/run/credentials/"

// FileReport is what `ackd check` can tell about the files an oauth2
// block names without asking a token endpoint.
type FileReport struct {
	// Notes name files check did not open, and why (stdout: nothing wrong).
	Notes []string
	// Warnings are files it could not read here (under systemd the
	// credentials exist only inside the unit) and certificates about to
	// expire.
	Warnings []string
	// Problems are files it read that `ackd run` would refuse.
	Problems []string
}

// CheckFiles reads the certificate and key, or the service account key,
// of cfg when it can, and checks them as NewSource would: a key that
// matches the certificate, RSA for microsoft365, a service account key
// with client_email and an RSA private_key. A file it cannot read is a
// warning, not a problem: `ackd check` often runs where the unit's
// credentials are not. Refresh token files are never opened (they hold
// the token and `ackd oauth login` may not have run yet); a missing one is
// a warning. seen holds files already reported, so a block shared by imap
// and smtp (a YAML anchor) is reported once; CheckFiles adds to it.
func CheckFiles(cfg *config.OAuth2Config, now time.Time, seen map[string]bool) FileReport {
	var r FileReport
	if cfg == nil {
		return r
	}
	first := func(files ...string) bool {
		k := strings.Join(files, "\x00")
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	cant := func(key, path string, err error) {
		r.Notes = append(r.Notes, fmt.Sprintf("not opened: %s (%s): cannot read it here", path, key))
		w := fmt.Sprintf("%s %s cannot be read here (%v), so it was not checked", key, path, errors.Unwrap(err))
		if strings.Contains(path, credentialsDir) {
			w += "; a LoadCredential= file exists only inside the unit, where the `ackd check` before each start reads it"
		} else {
			w += "; `ackd run` needs to read it as the service's user"
		}
		r.Warnings = append(r.Warnings, w)
	}
	if cfg.ClientCertificateFile != "" && cfg.ClientKeyFile != "" && first(cfg.ClientCertificateFile, cfg.ClientKeyFile) {
		certErr, keyErr := readable(cfg.ClientCertificateFile), readable(cfg.ClientKeyFile)
		if certErr != nil {
			cant("client_certificate_file", cfg.ClientCertificateFile, certErr)
		}
		if keyErr != nil {
			cant("client_key_file", cfg.ClientKeyFile, keyErr)
		}
		var notAfter time.Time
		switch {
		case certErr == nil && keyErr == nil:
			cert, err := LoadClientCert(cfg.ClientCertificateFile, cfg.ClientKeyFile)
			if err == nil {
				err = providerAccepts(cfg, cert)
			}
			if err != nil {
				r.Problems = append(r.Problems, err.Error())
			} else {
				notAfter = cert.NotAfter()
			}
		case certErr == nil:
			// The certificate alone (public, often 0644 while the key
			// reaches only the unit) still shows its key type and expiry.
			cert, err := readCertificate(cfg.ClientCertificateFile)
			if err == nil {
				err = providerAcceptsPublic(cfg, cert)
			}
			if err != nil {
				r.Problems = append(r.Problems, err.Error())
			} else {
				notAfter = cert.NotAfter
			}
		}
		if msg := certExpiry(notAfter, now); !notAfter.IsZero() && msg != "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("client certificate %s %s (not after %s)",
				cfg.ClientCertificateFile, msg, notAfter.UTC().Format(time.DateOnly)))
		}
	}
	if f := cfg.ServiceAccountKeyFile; f != "" && first(f) {
		if b, err := os.ReadFile(f); err != nil {
			cant("service_account_key_file", f, err)
		} else if _, err := serviceAccountKey(cfg, b); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
	}
	if f := cfg.RefreshTokenFile; f != "" && first(f) {
		r.Notes = append(r.Notes, fmt.Sprintf("not opened: %s (refresh_token_file): only `ackd run` reads it", f))
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("refresh_token_file %s does not exist yet: run `ackd oauth login` for this section", f))
		}
	}
	return r
}

// readable opens path for reading and closes it again.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// providerAccepts refuses a certificate the provider would: Entra ID
// (microsoft365) takes RSA certificates only.
func providerAccepts(cfg *config.OAuth2Config, cert *ClientCert) error {
	if cfg.Provider == config.ProviderMicrosoft365 && !cert.IsRSA() {
		return fmt.Errorf("oauth2 client certificate %s has a %s key; Entra ID (microsoft365) accepts RSA certificates only: make one with `openssl req -x509 -newkey rsa:2048 …` and upload it to the app registration",
			cfg.ClientCertificateFile, cert.KeyType())
	}
	return nil
}

// providerAcceptsPublic is providerAccepts for a certificate read without
// its key.
func providerAcceptsPublic(cfg *config.OAuth2Config, cert *x509.Certificate) error {
	if _, ok := cert.PublicKey.(*rsa.PublicKey); cfg.Provider == config.ProviderMicrosoft365 && !ok {
		return fmt.Errorf("oauth2 client certificate %s has a %s key; Entra ID (microsoft365) accepts RSA certificates only: make one with `openssl req -x509 -newkey rsa:2048 …` and upload it to the app registration",
			cfg.ClientCertificateFile, cert.PublicKeyAlgorithm)
	}
	return nil
}

// certExpiry says "has expired; …" or "expires in N days; …" when a
// certificate is expired or within CertExpirySoon of it, "" otherwise.
func certExpiry(notAfter, now time.Time) string {
	switch left := notAfter.Sub(now); {
	case left <= 0:
		return "has expired; the token endpoint will refuse it"
	case left <= CertExpirySoon:
		days := fmt.Sprintf("%d days", int(math.Ceil(left.Hours()/24)))
		if days == "1 days" {
			days = "a day"
		}
		return "expires in " + days + "; upload a new one next to it and replace the files (docs/deployment.md, certificate renewal)"
	}
	return ""
}
