package config

import (
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/internal/loopback"
)

// Mail providers whose hosts and OAuth2 endpoints ackd knows.
const (
	ProviderMicrosoft365 = "microsoft365"
	ProviderGoogle       = "google"
	ProviderGeneric      = "generic"
)

// OAuth2 grant types ackd can hold a token with.
const (
	// FlowClientCredentials is app-only access (Microsoft 365 with an
	// Exchange service principal): client id and a secret or a
	// certificate, no user.
	FlowClientCredentials = "client_credentials"
	// FlowRefreshToken keeps a refresh token that `ackd oauth login` got
	// once: in the browser with a loopback redirect and PKCE (Google), or
	// by the device-code flow (delegated Microsoft 365).
	FlowRefreshToken = "refresh_token"
	// FlowServiceAccount is Google's server-to-server access: a service
	// account with domain-wide delegation signs a JWT naming the mailbox
	// (sub = the section's username) and trades it for a token with the
	// JWT-bearer grant (RFC 7523 section 2.1).
	FlowServiceAccount = "service_account"
)

// SASL mechanisms that carry an OAuth2 bearer token.
const (
	MechXOAuth2     = "xoauth2"     // Google's and Microsoft's
	MechOAuthBearer = "oauthbearer" // RFC 7628
)

// OAuth2Config logs in to IMAP or SMTP with an OAuth2 access token instead
// of a password. The loader fills endpoints, scopes and the mechanism from
// the provider preset when the file leaves them out.
type OAuth2Config struct {
	// Provider is the imap or smtp section's provider preset ("" when none):
	// it decides how the token endpoint wants the client authenticated,
	// whether refresh requests carry scope, and which keys a certificate
	// may have.
	Provider string
	Flow     string
	TokenURL string
	// AuthURL is where `ackd oauth login` sends the browser (authorization
	// code with PKCE and a loopback redirect); DeviceAuthURL is where it
	// starts the device-code flow instead when there is no AuthURL.
	AuthURL       string
	DeviceAuthURL string
	ClientID      string
	// ClientSecret is required for client_credentials; public clients
	// holding a refresh token may have none.
	ClientSecret Secret
	// ClientCertificateFile and ClientKeyFile (PEM) replace the client
	// secret for client_credentials: ackd signs a JWT client assertion
	// (RFC 7523, Microsoft's "certificate credentials") with the key.
	ClientCertificateFile string
	ClientKeyFile         string
	Scopes                []string
	Tenant                string // microsoft365 only: the directory (tenant) id or domain
	// RefreshTokenFile holds the refresh token (mode 0600); ackd rewrites it
	// when the provider rotates the token.
	RefreshTokenFile string
	// ServiceAccountKeyFile is the JSON key of a Google service account
	// (flow: service_account), holding its private key: mode 0600.
	ServiceAccountKeyFile string
	Mechanism             string
}

// providerPreset is what a provider: key fills in.
type providerPreset struct {
	imapHost, smtpHost string
	mechanism          string
	tokenURL           string              // may hold {tenant}
	authURL            string              // for `ackd oauth login` in a browser
	deviceURL          string              // for `ackd oauth login` by device code
	scopes             map[string][]string // by flow
}

var providerPresets = map[string]providerPreset{
	ProviderMicrosoft365: {
		imapHost:  "outlook.office365.com",
		smtpHost:  "smtp.office365.com",
		mechanism: MechXOAuth2,
		tokenURL:  "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
		deviceURL: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
		scopes: map[string][]string{
			// App-only tokens carry the roles granted to the app; .default asks for them.
			FlowClientCredentials: {"https://outlook.office365.com/.default"},
			FlowRefreshToken: {"https://outlook.office365.com/IMAP.AccessAsUser.All",
				"https://outlook.office365.com/SMTP.Send", "offline_access"},
		},
	},
	ProviderGoogle: {
		imapHost:  "imap.gmail.com",
		smtpHost:  "smtp.gmail.com",
		mechanism: MechXOAuth2,
		tokenURL:  "https://oauth2.googleapis.com/token",
		// No device flow: Google's device endpoint refuses Gmail's scope
		// (invalid_scope). Installed apps use a loopback redirect and PKCE.
		authURL: "https://accounts.google.com/o/oauth2/v2/auth",
		scopes: map[string][]string{
			FlowRefreshToken:   {"https://mail.google.com/"},
			FlowServiceAccount: {"https://mail.google.com/"},
		},
	},
	ProviderGeneric: {mechanism: MechOAuthBearer},
}

// provider reads the provider: key of an imap or smtp mapping.
func (l *loader) provider(m *cfgMapping, what string) (string, providerPreset) {
	v := m.get("provider")
	if v == nil {
		return "", providerPreset{}
	}
	s, ok := l.str(v, "provider")
	if !ok {
		return "", providerPreset{}
	}
	p, known := providerPresets[s]
	if !known {
		l.at(v, "%s: provider %q is not microsoft365, google or generic", what, s)
		return "", providerPreset{}
	}
	return s, p
}

var oauth2Keys = []string{"flow", "token_url", "auth_url", "device_auth_url", "client_id", "client_secret_env",
	"client_secret_file", "client_certificate_file", "client_key_file", "scopes", "tenant", "refresh_token_file",
	"service_account_key_file", "mechanism"}

// oauth2 reads an oauth2: block; what is "imap" or "smtp".
func (l *loader) oauth2(n *yaml.Node, what, provider string, pre providerPreset) *OAuth2Config {
	what += ": oauth2"
	// Secrets written inline get their own message, not "unknown key".
	if mn := followAlias(n); mn != nil && mn.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(mn.Content); i += 2 {
			switch k := mn.Content[i]; k.Value {
			case "client_secret":
				l.at(k, "%s: inline client secret refused: use client_secret_env or client_secret_file", what)
			case "refresh_token", "access_token":
				l.at(k, "%s: inline %s refused: run `ackd oauth login` and name the file in refresh_token_file", what, k.Value)
			}
		}
		n = withoutKeys(mn, "client_secret", "refresh_token", "access_token")
	}
	m := l.mapping(n, what, oauth2Keys...)
	if m == nil {
		return nil
	}
	oc := &OAuth2Config{Provider: provider, Mechanism: pre.mechanism}
	l.require(m, what, "flow")
	text := func(key string) (string, *yaml.Node) {
		v := m.get(key)
		if v == nil {
			return "", nil
		}
		s, ok := l.str(v, key)
		if ok && strings.TrimSpace(s) == "" {
			l.at(v, "%s: %s is empty", what, key)
		}
		return s, v
	}
	flow, fv := text("flow")
	switch flow {
	case "", FlowClientCredentials, FlowRefreshToken, FlowServiceAccount:
		oc.Flow = flow
	default:
		l.at(fv, "%s: flow %q is not client_credentials, refresh_token or service_account", what, flow)
	}
	if oc.Flow == FlowServiceAccount {
		// The key file names the account; a client_id here would be ignored.
		if m.has("client_id") {
			l.at(m.keyNode("client_id"), "%s: flow: service_account takes the client from service_account_key_file; remove client_id", what)
		}
	} else {
		l.require(m, what, "client_id")
	}
	oc.ClientID, _ = text("client_id")
	oc.Tenant, _ = text("tenant")
	if provider == ProviderMicrosoft365 && oc.Tenant == "" && !m.has("token_url") {
		l.at(m.node, "%s: microsoft365 needs tenant (the directory id or domain, like contoso.onmicrosoft.com)", what)
	}
	if oc.Tenant != "" && provider != ProviderMicrosoft365 {
		l.at(m.keyNode("tenant"), "%s: tenant is only for provider: microsoft365", what)
	}
	if provider == ProviderGoogle && oc.Flow == FlowClientCredentials {
		l.at(fv, "%s: Google does not give Gmail tokens for client_credentials; use flow: service_account (a service account with domain-wide delegation) or flow: refresh_token and `ackd oauth login`", what)
	}
	if provider == ProviderMicrosoft365 && oc.Flow == FlowServiceAccount {
		l.at(fv, "%s: service_account is Google's; Microsoft 365 app-only access is flow: client_credentials", what)
	}
	if provider == ProviderGoogle && m.has("device_auth_url") {
		l.at(m.keyNode("device_auth_url"), "%s: Google's device flow refuses Gmail's scope (invalid_scope); remove device_auth_url: `ackd oauth login` signs in with the browser", what)
	}
	tenant := url.PathEscape(oc.Tenant)
	oc.TokenURL = strings.ReplaceAll(pre.tokenURL, "{tenant}", tenant)
	oc.AuthURL = pre.authURL
	oc.DeviceAuthURL = strings.ReplaceAll(pre.deviceURL, "{tenant}", tenant)
	for key, dst := range map[string]*string{"token_url": &oc.TokenURL, "auth_url": &oc.AuthURL, "device_auth_url": &oc.DeviceAuthURL} {
		s, v := text(key)
		if v == nil {
			continue
		}
		if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback.Host(u.Hostname()))) {
			l.at(v, "%s: %s %q is not an https URL (http only on loopback)", what, key, s)
		}
		*dst = s
	}
	if oc.TokenURL == "" {
		l.at(m.node, "%s: missing token_url (or set provider: microsoft365 or google)", what)
	}
	sec := Secret{}
	if s, v := text("client_secret_env"); v != nil {
		sec.Env = s
	}
	if s, v := text("client_secret_file"); v != nil {
		sec.File = l.resolve(s)
	}
	if m.has("client_secret_env") && m.has("client_secret_file") {
		l.at(m.keyNode("client_secret_file"), "%s: set only one of client_secret_env and client_secret_file", what)
	}
	oc.ClientSecret = sec
	l.oauth2Certificate(m, what, oc)
	l.oauth2ServiceAccount(m, what, oc)
	if oc.Flow == FlowClientCredentials && !sec.IsSet() && oc.ClientCertificateFile == "" && oc.ClientKeyFile == "" {
		l.at(m.node, "%s: client_credentials needs client_secret_env, client_secret_file, or client_certificate_file with client_key_file", what)
	}
	if s, v := text("refresh_token_file"); v != nil {
		oc.RefreshTokenFile = l.resolve(s)
		if oc.Flow != FlowRefreshToken {
			l.at(m.keyNode("refresh_token_file"), "%s: refresh_token_file is for flow: refresh_token", what)
		}
	} else if oc.Flow == FlowRefreshToken {
		l.at(m.node, "%s: refresh_token needs refresh_token_file (written by `ackd oauth login`)", what)
	}
	if v := m.get("scopes"); v != nil {
		scopes, nodes := l.strs(v, "scopes")
		for i, s := range scopes {
			if s == "" || strings.ContainsAny(s, " \t\n") {
				l.at(nodes[i], "%s: scope %q must be one word", what, s)
				continue
			}
			oc.Scopes = append(oc.Scopes, s)
		}
	} else {
		oc.Scopes = pre.scopes[oc.Flow]
	}
	if s, v := text("mechanism"); v != nil {
		switch strings.ToLower(s) {
		case MechXOAuth2, MechOAuthBearer:
			oc.Mechanism = strings.ToLower(s)
		default:
			l.at(v, "%s: mechanism %q is not xoauth2 or oauthbearer", what, s)
		}
	}
	if oc.Mechanism == "" {
		oc.Mechanism = MechOAuthBearer
	}
	return oc
}

// oauth2Certificate reads client_certificate_file and client_key_file.
// Whether the files exist and match is checked when the token source is
// built: the config may be validated on another machine.
func (l *loader) oauth2Certificate(m *cfgMapping, what string, oc *OAuth2Config) {
	for key, dst := range map[string]*string{"client_certificate_file": &oc.ClientCertificateFile, "client_key_file": &oc.ClientKeyFile} {
		if v := m.get(key); v != nil {
			if s, ok := l.str(v, key); ok {
				if strings.TrimSpace(s) == "" {
					l.at(v, "%s: %s is empty", what, key)
				} else {
					*dst = l.resolve(s)
				}
			}
		}
	}
	hasCert, hasKey := m.has("client_certificate_file"), m.has("client_key_file")
	switch {
	case hasCert && !hasKey:
		l.at(m.keyNode("client_certificate_file"), "%s: client_certificate_file needs client_key_file (the certificate's private key, PEM)", what)
	case hasKey && !hasCert:
		l.at(m.keyNode("client_key_file"), "%s: client_key_file needs client_certificate_file (the certificate uploaded to the app registration, PEM)", what)
	}
	if !hasCert && !hasKey {
		return
	}
	first := m.keyNode("client_certificate_file")
	if !hasCert {
		first = m.keyNode("client_key_file")
	}
	if m.has("client_secret_env") || m.has("client_secret_file") {
		l.at(first, "%s: set either a client secret or a client certificate, not both", what)
	}
	if oc.Flow == FlowRefreshToken {
		l.at(first, "%s: client certificates are for flow: client_credentials", what)
	}
}

// oauth2ServiceAccount reads service_account_key_file. Like the
// certificate, the file is read when the token source is built, and its
// mode is checked with the other secrets.
func (l *loader) oauth2ServiceAccount(m *cfgMapping, what string, oc *OAuth2Config) {
	v := m.get("service_account_key_file")
	if v != nil {
		if s, ok := l.str(v, "service_account_key_file"); ok {
			if strings.TrimSpace(s) == "" {
				l.at(v, "%s: service_account_key_file is empty", what)
			} else {
				oc.ServiceAccountKeyFile = l.resolve(s)
			}
		}
	}
	switch {
	case oc.Flow == FlowServiceAccount && v == nil:
		l.at(m.node, "%s: service_account needs service_account_key_file (the service account's JSON key)", what)
	case oc.Flow != FlowServiceAccount && v != nil:
		l.at(m.keyNode("service_account_key_file"), "%s: service_account_key_file is for flow: service_account", what)
	case oc.Flow == FlowServiceAccount:
		for _, k := range []string{"client_secret_env", "client_secret_file", "client_certificate_file", "client_key_file"} {
			if m.has(k) {
				l.at(m.keyNode(k), "%s: flow: service_account signs with the key in service_account_key_file; remove %s", what, k)
			}
		}
	}
}

// withoutKeys returns a copy of mapping n without the given keys, so that
// keys already reported are not reported again as unknown.
func withoutKeys(n *yaml.Node, keys ...string) *yaml.Node {
	c := *n
	c.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		skip := false
		for _, k := range keys {
			if n.Content[i].Value == k {
				skip = true
			}
		}
		if !skip {
			c.Content = append(c.Content, n.Content[i], n.Content[i+1])
		}
	}
	return &c
}

// oauthLogin applies the rules shared by imap and smtp once both the
// password and the oauth2 block are known.
func (l *loader) oauthLogin(m *cfgMapping, what, username string, pass Secret, oc *OAuth2Config) {
	if oc == nil {
		return
	}
	if pass.IsSet() {
		l.at(m.keyNode("oauth2"), "%s: oauth2 replaces the password; remove password_env and password_file", what)
	}
	if username == "" {
		l.at(m.keyNode("oauth2"), "%s: oauth2 needs username (the mailbox to log in as)", what)
	}
}
