package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Provider is whose rules the server enforces on top of OAuth2's.
type Provider int

// Providers. Each rule below is what the provider's documentation says its
// endpoint refuses; nothing here was seen from a live tenant.
const (
	// Generic enforces OAuth2 only.
	Generic Provider = iota
	// Microsoft is the Microsoft identity platform (Entra ID) v2.0 endpoint:
	// scope is required on every grant but the device-code poll, app-only
	// (client-credentials) scopes must be RESOURCE/.default, and client
	// assertions must be signed with an RSA key (Entra takes RSA
	// certificates only).
	Microsoft
	// Google is Google's OAuth2 endpoint: the device flow allows a short
	// list of scopes that does not include Gmail's (invalid_scope), there
	// is no client-credentials grant, and a service account gets tokens
	// with the JWT-bearer grant for the scopes its client id was granted
	// under domain-wide delegation.
	Google
)

const (
	deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
	jwtBearer   = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// googleDeviceScopes are the scopes Google's device flow allows
// (developers.google.com/identity/protocols/oauth2/limited-input-device,
// "Allowed scopes"), without the YouTube and Drive ones tests do not need.
var googleDeviceScopes = []string{"openid", "email", "profile",
	"https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile",
	"https://www.googleapis.com/auth/drive.file", "https://www.googleapis.com/auth/drive.appdata"}

// oauthErr is an OAuth2 error answer.
type oauthErr struct {
	status      int
	code, descr string
}

func (e *oauthErr) write(w http.ResponseWriter) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.descr})
}

func refuse(code, descr string) *oauthErr {
	return &oauthErr{status: http.StatusBadRequest, code: code, descr: descr}
}

// grantRefused applies the provider's rules for a token request of grant
// type gt from an authenticated client. Called with s.mu held.
func (s *Server) grantRefused(gt string, r *http.Request) *oauthErr {
	scope := r.PostFormValue("scope")
	switch s.provider {
	case Microsoft:
		if gt == deviceGrant || gt == "authorization_code" {
			return nil
		}
		if scope == "" {
			// Microsoft lists scope as required for client credentials and
			// for refresh (learn.microsoft.com … v2-oauth2-auth-code-flow,
			// "Refresh the access token"; MicrosoftDocs/azure-docs#74899).
			return refuse("invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		}
		if gt == "client_credentials" {
			if f := strings.Fields(scope); len(f) != 1 || !strings.HasSuffix(f[0], "/.default") {
				return refuse("invalid_scope", "AADSTS1002012: The provided value for scope "+scope+
					" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
			}
		}
	case Google:
		if gt == "client_credentials" {
			return refuse("unsupported_grant_type", "Invalid grant_type: client_credentials")
		}
	}
	return nil
}

// deviceRefused applies the provider's rules to a device authorization
// request. Called with s.mu held.
func (s *Server) deviceRefused(scope string) *oauthErr {
	switch s.provider {
	case Microsoft:
		if scope == "" {
			return refuse("invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		}
	case Google:
		for _, sc := range strings.Fields(scope) {
			if !slices.Contains(googleDeviceScopes, sc) {
				return refuse("invalid_scope", "Invalid device flow scope: "+sc)
			}
		}
	}
	return nil
}

// assertionAlgRefused is the provider's rule on a client assertion's
// signature algorithm.
func (s *Server) assertionAlgRefused(alg string) string {
	if s.provider == Microsoft && alg != "RS256" && alg != "PS256" {
		return "alg " + alg + ": Entra ID takes RSA certificates only"
	}
	return ""
}

// authCode is an authorization code /authorize handed out.
type authCode struct {
	client, user, scope, redirect, challenge string
}

// authorize is the browser's side of the authorization-code flow: the
// user signed in with SignIn consents at once, and the browser is sent
// back to redirect_uri with a code. Installed apps must use a loopback
// redirect; PKCE with S256 is required (ackd always sends it).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[q.Get("client_id")]; !ok {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || ru.Scheme != "http" || (ru.Hostname() != "127.0.0.1" && ru.Hostname() != "::1") || ru.Port() == "" {
		// Google: installed apps redirect to http://127.0.0.1:PORT or [::1].
		http.Error(w, "redirect_uri_mismatch: an installed app must redirect to a loopback IP with a port", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		u := *ru
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with code_challenge_method=S256 required"}})
		return
	case q.Get("scope") == "":
		back(url.Values{"error": {"invalid_scope"}, "error_description": {"Missing required parameter: scope"}})
		return
	case s.signedIn == "":
		back(url.Values{"error": {"access_denied"}})
		return
	}
	code := newToken("code")
	s.codes[code] = authCode{client: q.Get("client_id"), user: s.signedIn, scope: q.Get("scope"),
		redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	back(url.Values{"code": {code}})
}

// redeemCode checks an authorization_code grant: the code once, for the
// client it was issued to, the same redirect_uri, and the PKCE verifier
// that hashes to the challenge. Called with s.mu held.
func (s *Server) redeemCode(client string, r *http.Request) (authCode, *oauthErr) {
	code := r.PostFormValue("code")
	c, ok := s.codes[code]
	delete(s.codes, code)
	switch {
	case !ok:
		return c, refuse("invalid_grant", "Malformed auth code.")
	case c.client != client:
		return c, refuse("invalid_grant", "code issued to another client")
	case c.redirect != r.PostFormValue("redirect_uri"):
		return c, refuse("redirect_uri_mismatch", "Bad Request")
	case r.PostFormValue("code_verifier") == "":
		return c, refuse("invalid_grant", "Missing code verifier.")
	}
	h := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(h[:]) != c.challenge {
		return c, refuse("invalid_grant", "Invalid code verifier.")
	}
	return c, nil
}
