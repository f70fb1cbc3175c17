// Package oauthtest is a small OAuth2 authorization server for tests: it
// issues access tokens for the client-credentials, refresh-token,
// device-code, authorization-code (with PKCE) and JWT-bearer grants,
// answers RFC 7662 introspection (what Dovecot's oauth2 passdb asks), and
// lets a test revoke tokens, expire them, skew its clock or go down.
// Started as Microsoft or Google (StartAs), it also refuses what that
// provider documents it refuses (see provider.go).
package oauthtest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Client is an OAuth2 client the server knows.
type Client struct {
	Secret string // empty: a public client (device flow)
	// Mailbox is the user an app-only (client-credentials) token may log in as.
	Mailbox string
	// Certificate, when set, lets the client authenticate with a JWT client
	// assertion signed by the certificate's key (RFC 7523) instead of
	// Secret, as with Microsoft's "certificate credentials".
	Certificate *x509.Certificate
}

// Server is a running token server.
type Server struct {
	// URL is the base, like http://127.0.0.1:10180; endpoints are
	// /token, /device, /authorize and /introspect.
	URL string

	provider Provider

	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	clients  map[string]Client
	access   map[string]grant
	refresh  map[string]refreshGrant
	devices  map[string]device // by device code
	codes    map[string]authCode
	accounts map[string]ServiceAccount // by client_email
	signedIn string                    // who the browser at /authorize is signed in as
	calls    int                       // POSTs to /token, refused ones too
	basic    int                       // of those, with HTTP basic auth
	pending  int                       // device polls answered authorization_pending
	approve  struct {
		user  string
		after int
	}
	life     time.Duration
	skew     time.Duration
	down     bool
	rotate   bool
	requests map[string]int // by grant type
	intro    int
	jtis     map[string]bool // client assertion ids seen, refused when replayed
	refusals []string        // why client authentication failed, oldest first
}

type grant struct {
	user    string
	scope   string
	expires time.Time // on the server's (possibly skewed) clock
	revoked bool
}

type refreshGrant struct {
	user  string
	scope string // granted at login; "" when issued by IssueRefreshToken
}

type device struct {
	user  string // "" while pending
	scope string
}

// Start listens on addr ("127.0.0.1:0" for any port) until the test ends,
// enforcing no provider's rules (Generic).
func Start(t testing.TB, addr string) *Server { t.Helper(); return StartAs(t, addr, Generic) }

// StartAs is Start for a server that enforces provider p's rules.
func StartAs(t testing.TB, addr string, p Provider) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("oauthtest: listen on %s: %v", addr, err)
	}
	s := &Server{
		URL: "http://" + ln.Addr().String(), ln: ln, provider: p,
		clients: map[string]Client{}, access: map[string]grant{}, refresh: map[string]refreshGrant{},
		devices: map[string]device{}, codes: map[string]authCode{}, accounts: map[string]ServiceAccount{},
		requests: map[string]int{}, life: time.Hour, jtis: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /device", s.device)
	mux.HandleFunc("POST /introspect", s.introspect)
	mux.HandleFunc("GET /authorize", s.authorize)
	s.srv = &http.Server{Handler: s.gate(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// AddClient registers a client.
func (s *Server) AddClient(id string, c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = c
}

// IssueRefreshToken returns a new refresh token for user, as a finished
// `ackd oauth login` would have stored.
func (s *Server) IssueRefreshToken(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := newToken("rt")
	s.refresh[rt] = refreshGrant{user: user}
	return rt
}

// SetLifetime sets the lifetime of tokens issued from now on.
func (s *Server) SetLifetime(d time.Duration) { s.mu.Lock(); s.life = d; s.mu.Unlock() }

// SetSkew moves the server's clock by d relative to the real one.
func (s *Server) SetSkew(d time.Duration) { s.mu.Lock(); s.skew = d; s.mu.Unlock() }

// SetDown makes every endpoint answer 503 while down is true.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// SetRotate makes every refresh grant return a new refresh token and
// revoke the old one, as Microsoft's endpoint may.
func (s *Server) SetRotate(r bool) { s.mu.Lock(); s.rotate = r; s.mu.Unlock() }

// RevokeAll revokes every access token issued so far.
func (s *Server) RevokeAll() { s.edit(func(g *grant) { g.revoked = true }) }

// ExpireAll makes every access token issued so far expired on the server's
// clock, whatever expires_in promised the client.
func (s *Server) ExpireAll() {
	s.edit(func(g *grant) { g.expires = time.Time{} })
}

// RevokeRefreshTokens revokes every refresh token.
func (s *Server) RevokeRefreshTokens() { s.mu.Lock(); clear(s.refresh); s.mu.Unlock() }

// ApproveDevice approves every pending device code for user.
func (s *Server) ApproveDevice(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for code, d := range s.devices {
		if d.user == "" {
			d.user = user
			s.devices[code] = d
		}
	}
}

// BasicAuthCalls reports how many requests to /token carried HTTP basic
// auth. x/oauth2 guessing the auth style always tries basic first.
func (s *Server) BasicAuthCalls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.basic }

// ApproveDeviceAfter approves device logins for user once n polls were
// answered authorization_pending, as a user who takes a while to type
// the code.
func (s *Server) ApproveDeviceAfter(user string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approve.user, s.approve.after = user, n
}

// PendingPolls reports how many device polls were answered
// authorization_pending.
func (s *Server) PendingPolls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.pending }

// SignIn makes user the one signed in to the browser that /authorize
// sees: it redirects back with a code for user at once, as after a
// sign-in and consent.
func (s *Server) SignIn(user string) { s.mu.Lock(); s.signedIn = user; s.mu.Unlock() }

// TokenCalls reports how many requests reached /token, refused ones
// included: a client guessing how to authenticate shows as two per token.
func (s *Server) TokenCalls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

// Requests reports how many token requests of a grant type succeeded.
func (s *Server) Requests(grantType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[grantType]
}

// Introspections reports how many introspection requests were answered.
func (s *Server) Introspections() int { s.mu.Lock(); defer s.mu.Unlock(); return s.intro }

func (s *Server) edit(f func(*grant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, g := range s.access {
		f(&g)
		s.access[k] = g
	}
}

func (s *Server) gate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			http.Error(w, "token server down for the test", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newToken(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, code int, e string) {
	writeJSON(w, code, map[string]string{"error": e})
}

// Refusals reports why client authentication failed, oldest first, like
// "client assertion: audience ...": the reasons a real provider puts in
// error_description.
func (s *Server) Refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refusals)
}

// authClient checks the client's credentials (basic auth, form, or a
// client assertion).
func (s *Server) authClient(r *http.Request) (string, Client, bool) {
	if r.PostFormValue("client_assertion_type") != "" || r.PostFormValue("client_assertion") != "" {
		id, c, err := s.checkAssertion(r)
		if err != nil {
			s.refusals = append(s.refusals, "client assertion: "+err.Error())
			return id, c, false
		}
		return id, c, true
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	c, ok := s.clients[id]
	if !ok || c.Secret != secret || (c.Secret == "" && c.Certificate != nil) {
		s.refusals = append(s.refusals, fmt.Sprintf("client %q: wrong or missing secret", id))
		return id, c, false
	}
	return id, c, true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if _, _, ok := r.BasicAuth(); ok {
		s.basic++
	}
	gt := r.PostFormValue("grant_type")
	var user, scope string
	var rt string // a refresh token to hand out with the access token
	var ok bool
	if gt == jwtBearer {
		// The assertion is the client's authentication and the grant.
		if user, scope, ok = s.jwtGrant(w, r); !ok {
			return
		}
	} else {
		id, client, ok := s.authClient(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": s.refusals[len(s.refusals)-1]})
			return
		}
		if e := s.grantRefused(gt, r); e != nil {
			e.write(w)
			return
		}
		switch gt {
		case "client_credentials":
			if client.Mailbox == "" {
				oauthError(w, http.StatusBadRequest, "unauthorized_client")
				return
			}
			user, scope = client.Mailbox, r.PostFormValue("scope")
		case "refresh_token":
			old := r.PostFormValue("refresh_token")
			g, ok := s.refresh[old]
			if !ok {
				oauthError(w, http.StatusBadRequest, "invalid_grant")
				return
			}
			user, scope = g.user, g.scope
			if s.rotate {
				delete(s.refresh, old)
				rt = newToken("rt")
				s.refresh[rt] = g
			}
		case deviceGrant:
			d, ok := s.devices[r.PostFormValue("device_code")]
			switch {
			case !ok:
				oauthError(w, http.StatusBadRequest, "expired_token")
				return
			case d.user == "":
				s.pending++
				if s.approve.user != "" && s.pending >= s.approve.after {
					d.user = s.approve.user
					s.devices[r.PostFormValue("device_code")] = d
				}
				oauthError(w, http.StatusBadRequest, "authorization_pending")
				return
			}
			delete(s.devices, r.PostFormValue("device_code"))
			user, scope = d.user, d.scope
			rt = newToken("rt")
			s.refresh[rt] = refreshGrant{user: user, scope: scope}
		case "authorization_code":
			c, e := s.redeemCode(id, r)
			if e != nil {
				e.write(w)
				return
			}
			user, scope = c.user, c.scope
			rt = newToken("rt")
			s.refresh[rt] = refreshGrant{user: user, scope: scope}
		default:
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
			return
		}
	}
	resp := map[string]any{"token_type": "Bearer"}
	if rt != "" {
		resp["refresh_token"] = rt
	}
	at := newToken("at")
	s.access[at] = grant{user: user, scope: scope, expires: time.Now().Add(s.skew + s.life)}
	s.requests[gt]++
	resp["access_token"] = at
	resp["expires_in"] = int(s.life / time.Second)
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[r.PostFormValue("client_id")]; !ok {
		if _, _, ok := s.authClient(r); !ok {
			oauthError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
	}
	if e := s.deviceRefused(r.PostFormValue("scope")); e != nil {
		e.write(w)
		return
	}
	code := newToken("dc")
	s.devices[code] = device{scope: r.PostFormValue("scope")}
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": code, "user_code": "ACKD-TEST", "verification_uri": s.URL + "/verify",
		"expires_in": 600, "interval": 1,
	})
}

// introspect answers RFC 7662 for Dovecot: active, and the user in both
// "email" and "username".
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	tok := r.PostFormValue("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intro++
	g, ok := s.access[tok]
	now := time.Now().Add(s.skew)
	if !ok || g.revoked || !now.Before(g.expires) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"active": true, "email": g.user, "username": g.user, "exp": g.expires.Unix(), "token_type": "Bearer", "scope": g.scope,
	})
}
