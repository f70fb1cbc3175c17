package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/secret"
	"github.com/ackd/ackd/mailwatch/oauth"
	"github.com/ackd/ackd/rules"
)

// loginTimeout bounds how long `ackd oauth login` waits for the browser.
const loginTimeout = 10 * time.Minute

// cmdOAuth runs `ackd oauth login`: once, it gets a refresh token and
// stores it where the config's refresh_token_file says. With an auth_url
// (Google) the person signs in with a browser that is sent back to a
// loopback redirect (authorization code with PKCE, RFC 8252); otherwise
// (Microsoft) with the device-code flow.
func cmdOAuth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "login" {
		fmt.Fprintln(stderr, "usage: ackd oauth login -c config.yaml (--department NAME | --smtp) [--port N]")
		return 2
	}
	fs := newFlags("oauth login", stderr)
	cfgPath := fs.String("c", "config.yaml", "config file")
	dept := fs.String("department", "", "log in for this department's IMAP mailbox")
	smtpFlag := fs.Bool("smtp", false, "log in for the smtp: section instead")
	port := fs.Int("port", 0, "browser login: the port of the loopback redirect on 127.0.0.1 (0: any free port; fix it to forward it with ssh -L)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if (*dept == "") == !*smtpFlag {
		fmt.Fprintln(stderr, "ackd oauth login: give exactly one of --department NAME and --smtp")
		return 2
	}
	if *port < 0 || *port > 65535 {
		fmt.Fprintln(stderr, "ackd oauth login: --port must be 0..65535")
		return 2
	}
	cfg, _, err := rules.Load(*cfgPath)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	oc, who, err := oauthSection(cfg, *dept, *smtpFlag)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, loginTimeout)
		defer cancel()
		if oc.AuthURL != "" {
			err = browserLogin(ctx, oc, who, *port, stdout)
		} else {
			err = deviceLogin(ctx, oc, who, stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "ackd oauth login: %v\n", err)
		return 1
	}
	return 0
}

func oauthSection(cfg *config.Config, dept string, smtp bool) (*config.OAuth2Config, string, error) {
	var oc *config.OAuth2Config
	var who string
	if smtp {
		oc, who = cfg.SMTP.OAuth2, cfg.SMTP.Username
	} else {
		for _, d := range cfg.Departments {
			if d.Name == dept {
				oc, who = d.IMAP.OAuth2, d.IMAP.Username
			}
		}
		if who == "" {
			return nil, "", fmt.Errorf("no department %q in %s", dept, cfg.File)
		}
	}
	switch {
	case oc == nil:
		return nil, "", errors.New("that section has no oauth2: block")
	case oc.Flow != config.FlowRefreshToken:
		return nil, "", fmt.Errorf("flow is %s; only flow: refresh_token needs a login", oc.Flow)
	case oc.AuthURL == "" && oc.DeviceAuthURL == "":
		return nil, "", errors.New("oauth2 has neither auth_url nor device_auth_url (set one, or provider: microsoft365 or google)")
	}
	return oc, who, nil
}

// signInAs tells who must sign in. A Microsoft 365 shared mailbox has no
// password of its own and cannot sign in: a user with Full Access to it
// does, and ackd then logs in to the shared mailbox with that user's token.
func signInAs(oc *config.OAuth2Config, who string) string {
	if oc.Provider == config.ProviderMicrosoft365 {
		return "as a user with Full Access to " + who + " (a shared mailbox cannot sign in itself; a user mailbox can sign in as itself)"
	}
	return "as " + who
}

// deviceLogin runs RFC 8628 with x/oauth2 and stores the refresh token.
func deviceLogin(ctx context.Context, oc *config.OAuth2Config, who string, stdout io.Writer) error {
	clientSecret, err := secret.Read(oc.ClientSecret.Env, oc.ClientSecret.File)
	if err != nil {
		return fmt.Errorf("client secret: %w", err)
	}
	conf := oauth.Config(oc, clientSecret)
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("start device login at %s: %w", oc.DeviceAuthURL, err)
	}
	uri := da.VerificationURIComplete
	if uri == "" {
		uri = da.VerificationURI
	}
	fmt.Fprintf(stdout, "Sign in %s: open %s and enter the code %s\nWaiting…\n", signInAs(oc, who), uri, da.UserCode)
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		return fmt.Errorf("device login: %w", err)
	}
	return storeRefreshToken(oc, tok, stdout)
}

func storeRefreshToken(oc *config.OAuth2Config, tok *oauth2.Token, stdout io.Writer) error {
	if tok.RefreshToken == "" {
		return errors.New("the provider returned no refresh token (Microsoft needs the offline_access scope)")
	}
	if err := oauth.WriteRefreshToken(oc.RefreshTokenFile, tok.RefreshToken); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Stored the refresh token in %s (mode 0600).\n", oc.RefreshTokenFile)
	return nil
}

// listenLoopback listens on 127.0.0.1 only: the redirect carries the
// authorization code, which nobody on the network may send or read.
func listenLoopback(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listen for the login redirect on 127.0.0.1:%d: %w", port, err)
	}
	return ln, nil
}

// browserLogin is the installed-app flow (RFC 8252) with x/oauth2: the
// person opens the printed URL, signs in, and the browser is redirected
// to http://127.0.0.1:PORT/ where ackd takes the code and redeems it with
// the PKCE verifier (RFC 7636, S256).
func browserLogin(ctx context.Context, oc *config.OAuth2Config, who string, port int, stdout io.Writer) error {
	clientSecret, err := secret.Read(oc.ClientSecret.Env, oc.ClientSecret.File)
	if err != nil {
		return fmt.Errorf("client secret: %w", err)
	}
	ln, err := listenLoopback(port)
	if err != nil {
		return err
	}
	defer ln.Close()
	conf := oauth.Config(oc, clientSecret)
	conf.RedirectURL = "http://" + ln.Addr().String() + "/"
	verifier := oauth2.GenerateVerifier()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("make login state: %w", err)
	}
	state := hex.EncodeToString(b[:])
	// access_type=offline and prompt=consent: Google hands out a refresh
	// token only then, and again on a second login only after consent.
	authURL := conf.AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("prompt", "consent"), oauth2.SetAuthURLParam("login_hint", who))

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/" || q.Get("state") != state {
			// Not our redirect (a favicon, or a forged request): ignore it
			// and keep waiting.
			http.Error(w, "not the login redirect ackd is waiting for", http.StatusBadRequest)
			return
		}
		res := result{code: q.Get("code")}
		if e := q.Get("error"); e != "" {
			res = result{err: fmt.Errorf("the provider refused the login: %s %s", e, q.Get("error_description"))}
		} else if res.code == "" {
			res.err = errors.New("the redirect carried no code")
		}
		select {
		case got <- res:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			fmt.Fprintf(w, "<p>ackd: login failed: %s</p>", html.EscapeString(res.err.Error()))
			return
		}
		fmt.Fprint(w, "<p>ackd: signed in. You can close this tab; the terminal says where the token was stored.</p>")
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	fmt.Fprintf(stdout, "Sign in %s: open this URL in a browser on this machine\n\n  %s\n\n"+
		"(On a server without a browser, forward the port first: ssh -L %d:127.0.0.1:%d this-host, then open the URL on your computer.)\nWaiting…\n",
		signInAs(oc, who), authURL, ln.Addr().(*net.TCPAddr).Port, ln.Addr().(*net.TCPAddr).Port)
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return fmt.Errorf("no browser came back to %s: %w", conf.RedirectURL, ctx.Err())
	}
	if res.err != nil {
		return res.err
	}
	tok, err := conf.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("redeem the login code at %s: %w", oc.TokenURL, err)
	}
	return storeRefreshToken(oc, tok, stdout)
}
