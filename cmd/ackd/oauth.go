package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ackd/ackd/internal/secret"
	"github.com/ackd/ackd/mailwatch/oauth"
	"github.com/ackd/ackd/rules"
)

// cmdOAuth runs `ackd oauth login`: the device-code flow, once, storing the
// refresh token where the config's refresh_token_file says.
func cmdOAuth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "login" {
		fmt.Fprintln(stderr, "usage: ackd oauth login -c config.yaml (--department NAME | --smtp)")
		return 2
	}
	fs := newFlags("oauth login", stderr)
	cfgPath := fs.String("c", "config.yaml", "config file")
	dept := fs.String("department", "", "log in for this department's IMAP mailbox")
	smtpFlag := fs.Bool("smtp", false, "log in for the smtp: section instead")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if (*dept == "") == !*smtpFlag {
		fmt.Fprintln(stderr, "ackd oauth login: give exactly one of --department NAME and --smtp")
		return 2
	}
	cfg, err := rules.Load(*cfgPath)
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	oc, who, err := oauthSection(cfg, *dept, *smtpFlag)
	if err == nil {
		err = deviceLogin(ctx, oc, who, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ackd oauth login: %v\n", err)
		return 1
	}
	return 0
}

func oauthSection(cfg *rules.Config, dept string, smtp bool) (*rules.OAuth2Config, string, error) {
	var oc *rules.OAuth2Config
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
	case oc.Flow != rules.FlowRefreshToken:
		return nil, "", fmt.Errorf("flow is %s; only flow: refresh_token needs a login", oc.Flow)
	case oc.DeviceAuthURL == "":
		return nil, "", errors.New("oauth2 has no device_auth_url (set it, or provider: microsoft365 or google)")
	}
	return oc, who, nil
}

// deviceLogin runs RFC 8628 with x/oauth2 and stores the refresh token.
func deviceLogin(ctx context.Context, oc *rules.OAuth2Config, who string, stdout io.Writer) error {
	clientSecret, err := secret.Read(oc.ClientSecret)
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
	fmt.Fprintf(stdout, "Sign in as %s: open %s and enter the code %s\nWaiting…\n", who, uri, da.UserCode)
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		return fmt.Errorf("device login: %w", err)
	}
	if tok.RefreshToken == "" {
		return errors.New("the provider returned no refresh token (Microsoft needs the offline_access scope)")
	}
	if err := oauth.WriteRefreshToken(oc.RefreshTokenFile, tok.RefreshToken); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Stored the refresh token in %s (mode 0600).\n", oc.RefreshTokenFile)
	return nil
}
