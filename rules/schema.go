package rules

import (
	"bytes"
	"encoding/json"
)

// SchemaID is where editors find config.schema.json: the file sits beside
// the example config.yaml, whose first line names it for YAML language
// servers (`# yaml-language-server: $schema=...`).
const SchemaID = "https://github.com/ackd/ackd/raw/main/config.schema.json"

// Patterns of the scalar formats the loader reads. Each is what the loader
// accepts, no more: a value the pattern refuses, `ackd check` refuses too.
const (
	// A Go duration, positive: 30s, 5m, 1h30m (time.ParseDuration).
	patDuration = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*$`
	// backfill and max_age (ParseAge): a Go duration, whole days or 0.
	patAge = `^(0|[0-9]+d|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// A commitment (calendar.ParseCommitment): business time or working days, any case.
	patCommitment = `^\s*([0-9]+[dD]|(([0-9]+(\.[0-9]*)?|\.[0-9]+)([nN][sS]|[uU][sS]|µ[sS]|μ[sS]|[mM][sS]|[sS]|[mM]|[hH]))+)\s*$`
	// A time of day, 24-hour clock.
	patClock = `^([01][0-9]|2[0-3]):[0-5][0-9]$`
	// Working hours: spans separated by commas; 24:00 may end a span.
	patHours = `^\s*[0-9]{1,2}:[0-5][0-9]\s*-\s*[0-9]{1,2}:[0-5][0-9]\s*(,\s*[0-9]{1,2}:[0-5][0-9]\s*-\s*[0-9]{1,2}:[0-5][0-9]\s*)*$`
	patDate  = `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	patShare = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*%$`
	// Something with an @ in it; the loader checks addresses in full.
	patAddress = `@`
)

// node is one value of config.yaml as the schema describes it.
type node struct {
	typ     string // "object", "array", "string", "integer", "boolean"; "" with anyOf or ref
	desc    string
	enum    []string
	pattern string
	min     *int64
	max     *int64
	def     any
	props   []prop // object: its keys, in the order written in config.yaml
	req     []string
	values  *node // object: a map from any name to values of this shape
	items   *node // array
	anyOf   []*node
	ref     string // "#/$defs/NAME"
	// extensions: the top level also takes x-* keys (anchors to share).
	extensions bool
	minItems   int
	enum0      bool // the enum also holds the integer 0 (keep_alive: 0)
}

type prop struct {
	name string
	n    *node
}

func obj(desc string, props ...prop) *node { return &node{typ: "object", desc: desc, props: props} }
func key(name string, n *node) prop        { return prop{name, n} }
func str(desc string) *node                { return &node{typ: "string", desc: desc} }
func pat(desc, p string) *node             { return &node{typ: "string", desc: desc, pattern: p} }
func enum(desc string, vs ...string) *node {
	return &node{typ: "string", desc: desc, enum: vs}
}
func boolean(desc string) *node { return &node{typ: "boolean", desc: desc} }
func integer(desc string, lo, hi int64) *node {
	return &node{typ: "integer", desc: desc, min: &lo, max: &hi}
}
func list(desc string, item *node) *node { return &node{typ: "array", desc: desc, items: item} }
func ref(desc, name string) *node        { return &node{desc: desc, ref: "#/$defs/" + name} }

func (n *node) withDefault(v any) *node { n.def = v; return n }
func (n *node) required(keys ...string) *node {
	n.req = keys
	return n
}

// The keys several sections share.
func passwordEnv() prop {
	return key("password_env", str("Name of the environment variable that holds the password. Set this or password_file; never the password itself."))
}
func passwordFile() prop {
	return key("password_file", str("File whose content (trailing newline removed) is the password; relative to config.yaml. Set this or password_env."))
}
func tlsKey(def string) prop {
	return key("tls", enum("How the connection is secured: implicit (TLS from the first byte), starttls, or none (only for loopback hosts).",
		"implicit", "starttls", "none").withDefault(def))
}
func providerKey() prop {
	return key("provider", enum("A preset for a mail provider: fills host, port, tls and the OAuth2 endpoints and scopes.",
		"microsoft365", "google", "generic"))
}
func caFile() prop {
	return key("ca_file", str("PEM file of CA certificates to verify the server with, instead of the system's; relative to config.yaml."))
}
func insecureSkipVerify() prop {
	return key("insecure_skip_verify", boolean("Do not verify the server's certificate. Only for loopback hosts.").withDefault(false))
}
func addresses(desc string) *node {
	return list(desc, pat("An email address.", patAddress))
}
func oauth2(what string) prop {
	return key("oauth2", obj("OAuth2 instead of a password for "+what+" (see docs/deployment.md).",
		key("flow", enum("How ackd gets tokens: client_credentials (app-only, Microsoft 365), refresh_token (a person's login, `ackd oauth login` once), service_account (Google, domain-wide delegation).",
			"client_credentials", "refresh_token", "service_account")),
		key("token_url", str("Token endpoint (https; http only on loopback). The provider preset fills it.")),
		key("auth_url", str("Authorization endpoint for the refresh_token login (https).")),
		key("device_auth_url", str("Device authorization endpoint for the refresh_token login by device code (https).")),
		key("client_id", str("The application's client ID.")),
		key("client_secret_env", str("Environment variable holding the client secret. Set this or client_secret_file.")),
		key("client_secret_file", str("File holding the client secret; relative to config.yaml.")),
		key("client_certificate_file", str("PEM certificate for certificate credentials (Microsoft 365 app-only).")),
		key("client_key_file", str("PEM private key of client_certificate_file, mode 0600.")),
		key("scopes", list("Scopes to request; the provider preset fills them.", str("One scope, one word."))),
		key("tenant", str("Microsoft 365 tenant (contoso.onmicrosoft.com or its ID); only with provider: microsoft365.")),
		key("refresh_token_file", str("Where `ackd oauth login` stores the refresh token (mode 0600); flow: refresh_token.")),
		key("service_account_key_file", str("Google service account JSON key; flow: service_account.")),
		key("mechanism", enum("SASL mechanism.", "xoauth2", "oauthbearer").withDefault("xoauth2")),
	))
}

// configSchema is config.yaml, key by key, with a description for each:
// the reference an editor shows while typing. TestSchemaMatchesLoader
// fails when a section of the loader takes a key this tree lacks, or
// lacks one it has.
func configSchema() (root *node, defs map[string]*node) {
	history := func(where string) []prop {
		return []prop{
			key("backfill", pat("On a first start (no checkpoint for a mailbox), answer the mail of this last stretch too: 2d, 36h. Default none: the past is never answered"+where+".", patAge)),
			key("max_age", pat("No receipt, late notice or escalation ever goes out for mail older than this, nor for a step that fell due this long ago: 4d, 36h"+where+".", patAge).withDefault("4d")),
		}
	}
	authResults := func(where string) []prop {
		return []prop{
			key("trust_authentication_results", boolean("Accept dmarc=pass or aligned dkim=pass in the Authentication-Results your own receiving server writes as proof that staff mail is staff's"+where+".").withDefault(false)),
			key("authserv_id", str("The authserv-id of that server (mx.example.test): only its Authentication-Results count"+where+".")),
		}
	}
	category := obj("A category: what ackd promises for its requests and whom it tells when the promise is in danger.",
		key("commitment", pat("The promise: business time (4h, 90m, 1h30m) or working days (3d) on the department's calendar.", patCommitment)),
		key("followup", pat("The commitment after the requester replies to an answered request; default: commitment.", patCommitment)),
		key("grace", pat("The new commitment a late notice announces; default: half of commitment.", patCommitment)),
		key("escalate", list("The escalation ladder: steps before the due time, in order.", obj("One escalation step: set at or before_due, and to.",
			key("at", pat("A share of the commitment, more than 0% and at most 100%: 50%.", patShare)),
			key("before_due", pat("Business time before the due time: 2h.", patDuration)),
			key("to", &node{desc: "Who is told: staff, leads, or an email address.", anyOf: []*node{
				enum("The department's staff or leads list.", "staff", "leads"),
				pat("An email address.", patAddress),
			}}),
		).required("to"))),
		key("closing", boolean("Send the requester a closing note when the request is resolved.").withDefault(false)),
		key("auto_resolve", pat("Resolve an answered request when the requester has not replied for this long: business time or working days.", patCommitment)),
	)
	textPatterns := func(what string) *node {
		return &node{desc: what + ": a word or phrase (case-insensitive, on word boundaries), /RE2/ or /RE2/i, or a list of them (any matches).", anyOf: []*node{
			{typ: "string"}, {typ: "array", items: &node{typ: "string"}, minItems: 1},
		}}
	}
	addrPatterns := func(what string) *node {
		return &node{desc: what + ": an address, @domain, a glob (*@hr.example.test), a word of the display name, /RE2/, or a list of them (any matches).", anyOf: []*node{
			{typ: "string"}, {typ: "array", items: &node{typ: "string"}, minItems: 1},
		}}
	}
	match := obj("A match expression: every key given must match.",
		key("subject", textPatterns("The decoded subject")),
		key("body", textPatterns("The plain-text body without quotes and signature")),
		key("from", addrPatterns("The sender")),
		key("to", addrPatterns("A To recipient")),
		key("cc", addrPatterns("A Cc recipient")),
		key("header", &node{typ: "object", desc: "Header fields by name, each a pattern or a list of patterns as for subject.", values: textPatterns("The header's value")}),
		key("all", list("Every expression must match.", ref("", "match"))),
		key("any", list("At least one expression must match.", ref("", "match"))),
		key("not", ref("The expression must not match.", "match")),
	)
	defs = map[string]*node{"match": match, "category": category}

	imap := obj("The department's mailbox.",
		key("host", str("IMAP server host name or IP address.")),
		key("port", integer("IMAP port; default 993 for implicit TLS, 143 otherwise.", 1, 65535)),
		tlsKey("implicit"),
		key("username", str("Login name.")),
		passwordEnv(), passwordFile(), caFile(), insecureSkipVerify(),
		key("mailbox", str("The mailbox requests arrive in.").withDefault("INBOX")),
		key("sent_mailbox", str("The shared account's Sent mailbox: staff replies there mark requests answered. Without it, the mailbox the server marks \\Sent is used.")),
		key("idle", boolean("Wait for new mail with IMAP IDLE where the server has it.").withDefault(true)),
		key("poll_interval", pat("How often to look for new mail without IDLE: 60s.", patDuration).withDefault("60s")),
		key("append_sent", boolean("Also put a copy of the mail ackd sends into the Sent mailbox.")),
		providerKey(),
		oauth2("IMAP"),
		key("discover_sent", boolean("Find the Sent mailbox by its \\Sent SPECIAL-USE flag when sent_mailbox is not set.").withDefault(true)),
	)
	department := obj("One department: a shared mailbox and the promises made for the requests sent to it.",
		key("name", str("The name people see in receipts and digests. It may change; the store keys the department by its address.")),
		key("address", pat("The address coworkers write to; receipts come from it.", patAddress)),
		key("aliases", addresses("Other addresses delivered into the same mailbox.")),
		key("imap", imap),
		key("staff", addresses("The people who answer requests.")),
		key("leads", addresses("Who is told when staff do not answer in time.")),
		key("allowed_senders", list("Only senders matching one of these globs get receipts: \"*@example.test\"; \"*\" for anyone.", str("A glob over the sender's address."))),
		key("calendar", obj("The business calendar commitments count on.",
			key("timezone", str("IANA time zone: Europe/Berlin.")),
			key("workdays", list("Working days.", enum("A day of the week.", "mon", "tue", "wed", "thu", "fri", "sat", "sun")).withDefault([]any{"mon", "tue", "wed", "thu", "fri"})),
			key("hours", pat("Working hours: 09:00-17:00, or split: 08:00-12:00,13:00-17:00.", patHours).withDefault("09:00-17:00")),
			key("holidays", list("Days off on top of public_holidays.", pat("A date: 2026-12-24.", patDate))),
			key("public_holidays", str("A public-holiday set by country or region code: DE, DE-BY, US, GB.")),
		)),
		key("digest", obj("A morning overview of open requests for the staff.",
			key("to", addresses("Who gets the digest.")),
			key("at", pat("When, on the department's clock: 08:30.", patClock)),
			key("skip_empty", boolean("Send nothing on a day with nothing open or new.").withDefault(false)),
		)),
		key("categories", &node{typ: "object", desc: "Categories by name; `default` catches what no rule matched.", values: ref("", "category")}),
		key("rules", list("Rules in order; the first that matches decides the category.", obj("A rule.",
			key("name", str("The rule's name, shown in receipts' logs, `ackd classify` and `ackd explain`.")),
			key("category", str("The category it files requests under; must be one of categories.")),
			key("match", ref("What the message must look like.", "match")),
		).required("name", "category", "match"))),
	)
	department.props = append(department.props, authResults(" for this department")...)
	department.props = append(department.props,
		key("assignable", list("Who \"#assign\" may hand a request to besides staff and leads: globs over addresses.", str("A glob over an address."))))
	department.props = append(department.props, history(" for this department")...)
	department.req = []string{"name", "address", "imap"}

	root = obj("ackd's configuration: where it keeps its state, how it sends mail, and the departments it answers for.",
		key("store", obj("Where requests, threads and the outbox live.",
			key("driver", enum("The database.", "sqlite", "postgres").withDefault("sqlite")),
			key("dsn", str("SQLite: a file path (relative to config.yaml). PostgreSQL: a URL or key=value string without a password; sslmode=verify-full for another machine.")),
			passwordEnv(), passwordFile(),
		)),
		key("smtp", obj("The submission server all mail goes out through.",
			key("host", str("SMTP host name or IP address.")),
			key("port", integer("SMTP port; default 587 (465 with tls: implicit).", 1, 65535)),
			tlsKey("starttls"),
			key("username", str("Login name; without it, mail is sent without AUTH (a local relay).")),
			passwordEnv(), passwordFile(), caFile(), insecureSkipVerify(),
			key("timeout", pat("How long one SMTP exchange may take: 30s.", patDuration).withDefault("30s")),
			key("keep_alive", &node{desc: "How long the connection stays open after a batch: 30s; 0 closes it after each batch.", anyOf: []*node{
				pat("", patDuration), {typ: "string", enum: []string{"0", "0s"}}, {typ: "integer", enum0: true, desc: "0 closes the connection after each batch."},
			}}),
			providerKey(),
			oauth2("SMTP"),
		)),
		key("http", obj("The HTTP server for /metrics, /healthz and the status page.",
			key("listen", str("host:port to listen on; empty turns it off.").withDefault("127.0.0.1:8025")),
			key("basic_auth_user", str("User name the status page asks for; needs basic_auth_password_file.")),
			key("basic_auth_password_file", str("File holding the status page's password; relative to config.yaml.")),
		)),
		key("templates", str("A directory of template overrides; relative to config.yaml. Default: the built-in templates.")),
		key("limits", obj("Guard rails: sending caps (they cap mail, never tracking) and message sizes.",
			key("per_sender_per_hour", integer("Mail to one requester address in any hour.", 1, 1_000_000).withDefault(10)),
			key("global_per_minute", integer("All mail ackd sends in any minute.", 1, 1_000_000).withDefault(60)),
			key("escalations_per_request_per_day", integer("Escalations about one request in any 24 hours.", 1, 10_000).withDefault(6)),
			key("relays_per_request_per_day", integer("Staff words relayed to the requester of one request in any 24 hours.", 1, 10_000).withDefault(10)),
			key("max_message_bytes", integer("Larger messages are recorded, not parsed.", 1024, 1<<40).withDefault(26214400)),
			key("max_text_bytes", integer("The plain-text body kept for matching is cut here.", 1, 1<<30).withDefault(65536)),
		)),
		key("departments", &node{typ: "array", desc: "The departments ackd answers for.", items: department, minItems: 1}),
	)
	root.props = append(root.props, authResults(" (default of every department)")...)
	root.props = append(root.props,
		key("ha", obj("Run as one of several replicas sharing one PostgreSQL store (docs/replicas.md).",
			key("replica_id", str("This process's name in the lease table; default hostname-pid.")),
			key("lease_ttl", pat("How long a dead replica keeps its departments: 15s.", patDuration).withDefault("15s")),
		)))
	root.props = append(root.props, history(" (default of every department)")...)
	root.req = []string{"smtp", "departments"}
	root.extensions = true
	return root, defs
}

// JSONSchema renders configSchema as a JSON Schema (draft 2020-12), the
// bytes of config.schema.json.
func JSONSchema() []byte {
	root, defs := configSchema()
	doc := render(root)
	doc.Schema = "https://json-schema.org/draft/2020-12/schema"
	doc.ID = SchemaID
	doc.Title = "ackd config.yaml"
	doc.Defs = map[string]*jsonSchema{}
	for name, n := range defs {
		doc.Defs[name] = render(n)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		panic(err) // only our own types: a bug, never input
	}
	return buf.Bytes()
}

type jsonSchema struct {
	Schema               string                 `json:"$schema,omitempty"`
	ID                   string                 `json:"$id,omitempty"`
	Title                string                 `json:"title,omitempty"`
	Description          string                 `json:"description,omitempty"`
	Ref                  string                 `json:"$ref,omitempty"`
	Type                 string                 `json:"type,omitempty"`
	Enum                 []any                  `json:"enum,omitempty"`
	Pattern              string                 `json:"pattern,omitempty"`
	Minimum              *int64                 `json:"minimum,omitempty"`
	Maximum              *int64                 `json:"maximum,omitempty"`
	Default              any                    `json:"default,omitempty"`
	Properties           *orderedProps          `json:"properties,omitempty"`
	PatternProperties    map[string]*jsonSchema `json:"patternProperties,omitempty"`
	AdditionalProperties any                    `json:"additionalProperties,omitempty"`
	Required             []string               `json:"required,omitempty"`
	Items                *jsonSchema            `json:"items,omitempty"`
	MinItems             int                    `json:"minItems,omitempty"`
	AnyOf                []*jsonSchema          `json:"anyOf,omitempty"`
	Defs                 map[string]*jsonSchema `json:"$defs,omitempty"`
}

// orderedProps keeps properties in the order config.yaml writes them, so
// editors list them that way.
type orderedProps struct {
	names []string
	by    map[string]*jsonSchema
}

func (o *orderedProps) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, name := range o.names {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		v, err := json.Marshal(o.by[name])
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func render(n *node) *jsonSchema {
	s := &jsonSchema{Description: n.desc, Ref: n.ref, Type: n.typ, Pattern: n.pattern, Minimum: n.min, Maximum: n.max,
		Default: n.def, Required: n.req, MinItems: n.minItems}
	for _, e := range n.enum {
		s.Enum = append(s.Enum, e)
	}
	if n.enum0 {
		s.Enum = append(s.Enum, 0)
	}
	if n.typ == "object" && n.values == nil {
		s.Properties = &orderedProps{by: map[string]*jsonSchema{}}
		for _, p := range n.props {
			s.Properties.names = append(s.Properties.names, p.name)
			s.Properties.by[p.name] = render(p.n)
		}
		// A misspelt key is an error, as in `ackd check`. YAML merge keys
		// (<<) are resolved before validation.
		s.AdditionalProperties = false
		if n.extensions {
			s.PatternProperties = map[string]*jsonSchema{"^x-": {Description: "Extension keys hold anchors shared by several sections; ackd ignores them."}}
		}
	}
	if n.values != nil {
		s.AdditionalProperties = render(n.values)
	}
	if n.items != nil {
		s.Items = render(n.items)
	}
	for _, a := range n.anyOf {
		s.AnyOf = append(s.AnyOf, render(a))
	}
	return s
}
