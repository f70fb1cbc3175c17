package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
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
type schemaNode struct {
	typ     string // "object", "array", "string", "integer", "boolean"; "" with anyOf or ref
	desc    string
	enum    []string
	pattern string
	min     *int64
	max     *int64
	def     any
	props   []schemaProp // object: its keys, in the order written in config.yaml
	req     []string
	values  *schemaNode // object: a map from any name to values of this shape
	items   *schemaNode // array
	anyOf   []*schemaNode
	ref     string // "#/$defs/NAME"
	// extensions: the top level also takes x-* keys (anchors to share).
	extensions bool
	minItems   int
	enum0      bool // the enum also holds the integer 0 (keep_alive: 0)
}

type schemaProp struct {
	name string
	n    *schemaNode
}

func sObj(desc string, props ...schemaProp) *schemaNode {
	return &schemaNode{typ: "object", desc: desc, props: props}
}
func sKey(name string, n *schemaNode) schemaProp { return schemaProp{name, n} }
func sStr(desc string) *schemaNode               { return &schemaNode{typ: "string", desc: desc} }
func sPat(desc, p string) *schemaNode            { return &schemaNode{typ: "string", desc: desc, pattern: p} }
func sEnum(desc string, vs ...string) *schemaNode {
	return &schemaNode{typ: "string", desc: desc, enum: vs}
}
func sBool(desc string) *schemaNode { return &schemaNode{typ: "boolean", desc: desc} }
func sInt(desc string, lo, hi int64) *schemaNode {
	return &schemaNode{typ: "integer", desc: desc, min: &lo, max: &hi}
}
func sList(desc string, item *schemaNode) *schemaNode {
	return &schemaNode{typ: "array", desc: desc, items: item}
}
func sRef(desc, name string) *schemaNode { return &schemaNode{desc: desc, ref: "#/$defs/" + name} }

func (n *schemaNode) withDefault(v any) *schemaNode { n.def = v; return n }
func (n *schemaNode) required(keys ...string) *schemaNode {
	n.req = keys
	return n
}

// The keys several sections share.
func sPasswordEnv() schemaProp {
	return sKey("password_env", sStr("Name of the environment variable that holds the password. Set this or password_file; never the password itself."))
}
func sPasswordFile() schemaProp {
	return sKey("password_file", sStr("File whose content (trailing newline removed) is the password; relative to config.yaml. Set this or password_env."))
}
func sTLS(def string) schemaProp {
	return sKey("tls", sEnum("How the connection is secured: implicit (TLS from the first byte), starttls, or none (only for loopback hosts).",
		"implicit", "starttls", "none").withDefault(def))
}
func sProvider() schemaProp {
	return sKey("provider", sEnum("A preset for a mail provider: fills host, port, tls and the OAuth2 endpoints and scopes.",
		"microsoft365", "google", "generic"))
}
func sCAFile() schemaProp {
	return sKey("ca_file", sStr("PEM file of CA certificates to verify the server with, instead of the system's; relative to config.yaml."))
}
func sInsecure() schemaProp {
	return sKey("insecure_skip_verify", sBool("Do not verify the server's certificate. Only for loopback hosts.").withDefault(false))
}
func sAddresses(desc string) *schemaNode {
	return sList(desc, sPat("An email address.", patAddress))
}
func sOAuth2(what string) schemaProp {
	return sKey("oauth2", sObj("OAuth2 instead of a password for "+what+" (see docs/deployment.md).",
		sKey("flow", sEnum("How ackd gets tokens: client_credentials (app-only, Microsoft 365), refresh_token (a person's login, `ackd oauth login` once), service_account (Google, domain-wide delegation).",
			"client_credentials", "refresh_token", "service_account")),
		sKey("token_url", sStr("Token endpoint (https; http only on loopback). The provider preset fills it.")),
		sKey("auth_url", sStr("Authorization endpoint for the refresh_token login (https).")),
		sKey("device_auth_url", sStr("Device authorization endpoint for the refresh_token login by device code (https).")),
		sKey("client_id", sStr("The application's client ID.")),
		sKey("client_secret_env", sStr("Environment variable holding the client secret. Set this or client_secret_file.")),
		sKey("client_secret_file", sStr("File holding the client secret; relative to config.yaml.")),
		sKey("client_certificate_file", sStr("PEM certificate for certificate credentials (Microsoft 365 app-only).")),
		sKey("client_key_file", sStr("PEM private key of client_certificate_file, mode 0600.")),
		sKey("scopes", sList("Scopes to request; the provider preset fills them.", sStr("One scope, one word."))),
		sKey("tenant", sStr("Microsoft 365 tenant (contoso.onmicrosoft.com or its ID); only with provider: microsoft365.")),
		sKey("refresh_token_file", sStr("Where `ackd oauth login` stores the refresh token (mode 0600); flow: refresh_token.")),
		sKey("service_account_key_file", sStr("Google service account JSON key; flow: service_account.")),
		sKey("mechanism", sEnum("SASL mechanism.", "xoauth2", "oauthbearer").withDefault("xoauth2")),
	))
}

// configSchema is config.yaml, key by key, with a description for each:
// the reference an editor shows while typing. TestSchemaMatchesLoader
// fails when a section of the loader takes a key this tree lacks, or
// lacks one it has.
func configSchema() (root *schemaNode, defs map[string]*schemaNode) {
	history := func(where string) []schemaProp {
		return []schemaProp{
			sKey("backfill", sPat("On a first start (no checkpoint for a mailbox), answer the mail of this last stretch too: 2d, 36h. Default none: the past is never answered"+where+".", patAge)),
			sKey("max_age", sPat("No receipt, late notice or escalation ever goes out for mail older than this, nor for a step that fell due this long ago: 4d, 36h"+where+".", patAge).withDefault("4d")),
		}
	}
	authResults := func(where string) []schemaProp {
		return []schemaProp{
			sKey("trust_authentication_results", sBool("Accept dmarc=pass or aligned dkim=pass in the Authentication-Results your own receiving server writes as proof that staff mail is staff's"+where+".").withDefault(false)),
			sKey("authserv_id", sStr("The authserv-id of that server (mx.example.test): only its Authentication-Results count"+where+".")),
		}
	}
	category := sObj("A category: what ackd promises for its requests and whom it tells when the promise is in danger.",
		sKey("commitment", sPat("The promise: business time (4h, 90m, 1h30m) or working days (3d) on the department's calendar.", patCommitment)),
		sKey("followup", sPat("The commitment after the requester replies to an answered request; default: commitment.", patCommitment)),
		sKey("grace", sPat("The new commitment a late notice announces; default: half of commitment.", patCommitment)),
		sKey("escalate", sList("The escalation ladder: steps before the due time, in order.", sObj("One escalation step: set at or before_due, and to.",
			sKey("at", sPat("A share of the commitment, more than 0% and at most 100%: 50%.", patShare)),
			sKey("before_due", sPat("Business time before the due time: 2h.", patDuration)),
			sKey("to", &schemaNode{desc: "Who is told: staff, leads, or an email address.", anyOf: []*schemaNode{
				sEnum("The department's staff or leads list.", "staff", "leads"),
				sPat("An email address.", patAddress),
			}}),
		).required("to"))),
		sKey("closing", sBool("Send the requester a closing note when the request is resolved.").withDefault(false)),
		sKey("auto_resolve", sPat("Resolve an answered request when the requester has not replied for this long: business time or working days.", patCommitment)),
		sKey("promise", sEnum("Which date the receipt gives: commitment (its due time on the calendar) or forecast (the later of that and a forecast from the queue, the staff in and the record; see docs/promises.md).",
			"commitment", "forecast").withDefault("commitment")),
		sKey("aim", sPat("The team's own, shorter goal: the requester is promised the commitment, the escalation ladder and the digest run on the aim, and the report shows both. At most the commitment.", patCommitment)),
		sKey("ask_for", sRef("", "ask_for")),
		sKey("links", sRef("", "links")),
	)
	localised := func(what string) *schemaNode {
		return &schemaNode{desc: what + ": one text, or one per language code ({en: …, de: …}).", anyOf: []*schemaNode{
			{typ: "string"}, {typ: "object", values: &schemaNode{typ: "string"}},
		}}
	}
	askFor := sList("What the receipt asks the requester for so work can start; a line is left out when its present: clause matches the request.",
		&schemaNode{desc: "One thing to ask for: a text, or {ask: TEXT, present: MATCH}.", anyOf: []*schemaNode{
			localised("The line"),
			sObj("A line with a matcher.",
				sKey("ask", localised("The line")),
				sKey("present", sRef("A match expression (as a rule's match:) that says the request already holds it.", "match")),
			).required("ask"),
		}})
	links := sList("Forms and how-tos the receipt points to.", sObj("A link.",
		sKey("title", localised("What the link is")),
		sKey("url", sPat("An http or https address.", "^https?://")),
	).required("title", "url"))
	textPatterns := func(what string) *schemaNode {
		return &schemaNode{desc: what + ": a word or phrase (case-insensitive, on word boundaries), /RE2/ or /RE2/i, or a list of them (any matches).", anyOf: []*schemaNode{
			{typ: "string"}, {typ: "array", items: &schemaNode{typ: "string"}, minItems: 1},
		}}
	}
	addrPatterns := func(what string) *schemaNode {
		return &schemaNode{desc: what + ": an address, @domain, a glob (*@hr.example.test), a word of the display name, /RE2/, or a list of them (any matches).", anyOf: []*schemaNode{
			{typ: "string"}, {typ: "array", items: &schemaNode{typ: "string"}, minItems: 1},
		}}
	}
	match := sObj("A match expression: every key given must match.",
		sKey("subject", textPatterns("The decoded subject")),
		sKey("body", textPatterns("The plain-text body without quotes and signature")),
		sKey("from", addrPatterns("The sender")),
		sKey("to", addrPatterns("A To recipient")),
		sKey("cc", addrPatterns("A Cc recipient")),
		sKey("header", &schemaNode{typ: "object", desc: "Header fields by name, each a pattern or a list of patterns as for subject.", values: textPatterns("The header's value")}),
		sKey("all", sList("Every expression must match.", sRef("", "match"))),
		sKey("any", sList("At least one expression must match.", sRef("", "match"))),
		sKey("not", sRef("The expression must not match.", "match")),
	)
	defs = map[string]*schemaNode{"match": match, "category": category, "ask_for": askFor, "links": links}

	imap := sObj("The department's mailbox.",
		sKey("host", sStr("IMAP server host name or IP address.")),
		sKey("port", sInt("IMAP port; default 993 for implicit TLS, 143 otherwise.", 1, 65535)),
		sTLS("implicit"),
		sKey("username", sStr("Login name.")),
		sPasswordEnv(), sPasswordFile(), sCAFile(), sInsecure(),
		sKey("mailbox", sStr("The mailbox requests arrive in.").withDefault("INBOX")),
		sKey("sent_mailbox", sStr("The shared account's Sent mailbox: staff replies there mark requests answered. Without it, the mailbox the server marks \\Sent is used.")),
		sKey("idle", sBool("Wait for new mail with IMAP IDLE where the server has it.").withDefault(true)),
		sKey("poll_interval", sPat("How often to look for new mail without IDLE: 60s.", patDuration).withDefault("60s")),
		sKey("append_sent", sBool("Also put a copy of the mail ackd sends into the Sent mailbox.")),
		sProvider(),
		sOAuth2("IMAP"),
		sKey("discover_sent", sBool("Find the Sent mailbox by its \\Sent SPECIAL-USE flag when sent_mailbox is not set.").withDefault(true)),
	)
	department := sObj("One department: a shared mailbox and the promises made for the requests sent to it.",
		sKey("name", sStr("The name people see in receipts and digests. It may change; the store keys the department by its address.")),
		sKey("address", sPat("The address coworkers write to; receipts come from it.", patAddress)),
		sKey("aliases", sAddresses("Other addresses delivered into the same mailbox.")),
		sKey("imap", imap),
		sKey("staff", sAddresses("The people who answer requests.")),
		sKey("leads", sAddresses("Who is told when staff do not answer in time.")),
		sKey("allowed_senders", sList("Only senders matching one of these globs get receipts: \"*@example.test\"; \"*\" for anyone.", sStr("A glob over the sender's address."))),
		sKey("calendar", sObj("The business calendar commitments count on.",
			sKey("timezone", sStr("IANA time zone: Europe/Berlin.")),
			sKey("workdays", sList("Working days.", sEnum("A day of the week.", "mon", "tue", "wed", "thu", "fri", "sat", "sun")).withDefault([]any{"mon", "tue", "wed", "thu", "fri"})),
			sKey("hours", sPat("Working hours: 09:00-17:00, or split: 08:00-12:00,13:00-17:00.", patHours).withDefault("09:00-17:00")),
			sKey("holidays", sList("Days off on top of public_holidays.", sPat("A date: 2026-12-24.", patDate))),
			sKey("public_holidays", sStr("A public-holiday set by country or region code: DE, DE-BY, US, GB.")),
		)),
		sKey("digest", sObj("A morning overview of open requests for the staff.",
			sKey("to", sAddresses("Who gets the digest.")),
			sKey("at", sPat("When, on the department's clock: 08:30.", patClock)),
			sKey("skip_empty", sBool("Send nothing on a day with nothing open or new.").withDefault(false)),
		)),
		sKey("categories", &schemaNode{typ: "object", desc: "Categories by name; `default` catches what no rule matched.", values: sRef("", "category")}),
		sKey("rules", sList("Rules in order; the first that matches decides the category.", sObj("A rule.",
			sKey("name", sStr("The rule's name, shown in receipts' logs, `ackd classify` and `ackd explain`.")),
			sKey("category", sStr("The category it files requests under; must be one of categories.")),
			sKey("match", sRef("What the message must look like.", "match")),
			sKey("language", sStr("The language of every request the rule matches (en, de, fr, es, nl or one a templates directory adds), whatever the message says.")),
			sKey("ask_for", sRef("", "ask_for")),
			sKey("links", sRef("", "links")),
		).required("name", "category", "match"))),
		sKey("language", sStr("The language of requests whose own is unsure, and of command help to staff: en (default), de, fr, es, nl, or one a templates directory adds.").withDefault("en")),
		sKey("satisfaction", &schemaNode{desc: "Ask requesters how we did in the closing mail (opt-in): true for the defaults, or {every, low}.", anyOf: []*schemaNode{
			{typ: "boolean"},
			sObj("When to ask and what counts as low.",
				sKey("every", sPat("At most one question per requester in this period: 30d.", patAge).withDefault("30d")),
				sKey("low", sInt("An answer at or below this (1-5) goes to the leads with the thread.", 0, 4).withDefault(2)),
			),
		}}),
	)
	department.props = append(department.props, authResults(" for this department")...)
	department.props = append(department.props,
		sKey("assignable", sList("Who \"#assign\" may hand a request to besides staff and leads: globs over addresses.", sStr("A glob over an address."))),
		sKey("assign", sEnum("Who owns a new request from the start: nobody until the first staff answer or #take (none), staff in turn (round_robin) or the one with the fewest open requests (least_open); staff who are away are skipped.",
			"none", "round_robin", "least_open").withDefault("none")),
		sKey("primary", sBool("A message addressed to this department and to others ackd serves is this department's alone; without a primary, each registers it and its receipt names the others.").withDefault(false)),
		sKey("incident", sObj("Burst detection: this many requests alike (the same rule, or most subject words shared) within this time are a possible incident, and the leads get one mail.",
			sKey("count", sInt("Requests alike that make a burst; 0 turns detection off.", 0, 1000).withDefault(6)),
			sKey("within", sPat("The time they arrive in: 30m.", patDuration).withDefault("30m")))))
	department.props = append(department.props, history(" for this department")...)
	department.req = []string{"name", "address", "imap"}

	root = sObj("ackd's configuration: where it keeps its state, how it sends mail, and the departments it answers for.",
		sKey("store", sObj("Where requests, threads and the outbox live.",
			sKey("driver", sEnum("The database.", "sqlite", "postgres").withDefault("sqlite")),
			sKey("dsn", sStr("SQLite: a file path (relative to config.yaml). PostgreSQL: a URL or key=value string without a password; sslmode=verify-full for another machine.")),
			sPasswordEnv(), sPasswordFile(),
		)),
		sKey("smtp", sObj("The submission server all mail goes out through.",
			sKey("host", sStr("SMTP host name or IP address.")),
			sKey("port", sInt("SMTP port; default 587 (465 with tls: implicit).", 1, 65535)),
			sTLS("starttls"),
			sKey("username", sStr("Login name; without it, mail is sent without AUTH (a local relay).")),
			sPasswordEnv(), sPasswordFile(), sCAFile(), sInsecure(),
			sKey("timeout", sPat("How long one SMTP exchange may take: 30s.", patDuration).withDefault("30s")),
			sKey("keep_alive", &schemaNode{desc: "How long the connection stays open after a batch: 30s; 0 closes it after each batch.", anyOf: []*schemaNode{
				sPat("", patDuration), {typ: "string", enum: []string{"0", "0s"}}, {typ: "integer", enum0: true, desc: "0 closes the connection after each batch."},
			}}),
			sProvider(),
			sOAuth2("SMTP"),
		)),
		sKey("http", sObj("The HTTP server for /metrics, /healthz and the status page.",
			sKey("listen", sStr("host:port to listen on; empty turns it off.").withDefault("127.0.0.1:8025")),
			sKey("basic_auth_user", sStr("User name the status page asks for; needs basic_auth_password_file.")),
			sKey("basic_auth_password_file", sStr("File holding the status page's password; relative to config.yaml.")),
		)),
		sKey("templates", sStr("A directory of template overrides; relative to config.yaml. Default: the built-in templates.")),
		sKey("limits", sObj("Guard rails: sending caps (they cap mail, never tracking) and message sizes.",
			sKey("per_sender_per_hour", sInt("Mail to one requester address in any hour.", 1, 1_000_000).withDefault(10)),
			sKey("global_per_minute", sInt("All mail ackd sends in any minute.", 1, 1_000_000).withDefault(60)),
			sKey("escalations_per_request_per_day", sInt("Escalations about one request in any 24 hours.", 1, 10_000).withDefault(6)),
			sKey("relays_per_request_per_day", sInt("Staff words relayed to the requester of one request in any 24 hours.", 1, 10_000).withDefault(10)),
			sKey("max_message_bytes", sInt("Larger messages are recorded, not parsed.", 1024, 1<<40).withDefault(26214400)),
			sKey("max_text_bytes", sInt("The plain-text body kept for matching is cut here.", 1, 1<<30).withDefault(65536)),
		)),
		sKey("departments", &schemaNode{typ: "array", desc: "The departments ackd answers for.", items: department, minItems: 1}),
	)
	root.props = append(root.props, authResults(" (default of every department)")...)
	root.props = append(root.props,
		sKey("ha", sObj("Run as one of several replicas sharing one PostgreSQL store (docs/replicas.md).",
			sKey("replica_id", sStr("This process's name in the lease table; default hostname-pid.")),
			sKey("lease_ttl", sPat("How long a dead replica keeps its departments: 15s.", patDuration).withDefault("15s")),
		)))
	root.props = append(root.props, history(" (default of every department)")...)
	root.props = append(root.props,
		sKey("reload", sEnum("What makes `ackd run` reload config and templates: signal (SIGHUP only) or watch (also every save of this file; a broken save is refused and the running config kept).",
			"signal", "watch").withDefault("signal")),
		sKey("rule_tests", sStr("A file of rule test cases (a message, or inline headers and body, and the department, rule, category and reply expected) that `ackd check` runs; relative to config.yaml.")),
		sKey("push", sObj("An HTTP listener for the IMAP server's new-mail notifications (Dovecot's push_notification plugin, docs/deployment.md): the mailbox's watcher looks at once. IDLE and polling go on as configured.",
			sKey("listen", sStr("host:port to listen on; loopback unless the IMAP server is on another host.").withDefault("127.0.0.1:8026")),
			sPasswordEnv(),
			sPasswordFile(),
		)))
	root.req = []string{"smtp", "departments"}
	root.extensions = true
	return root, defs
}

// JSONSchema renders configSchema as a JSON Schema (draft 2020-12), the
// bytes of config.schema.json.
func JSONSchema() []byte {
	root, defs := configSchema()
	doc := renderSchema(root)
	doc.Schema = "https://json-schema.org/draft/2020-12/schema"
	doc.ID = SchemaID
	doc.Title = "ackd config.yaml"
	doc.Defs = map[string]*jsonSchema{}
	for name, n := range defs {
		doc.Defs[name] = renderSchema(n)
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

func renderSchema(n *schemaNode) *jsonSchema {
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
			s.Properties.by[p.name] = renderSchema(p.n)
		}
		// A misspelt key is an error, as in `ackd check`. YAML merge keys
		// (<<) are resolved before validation.
		s.AdditionalProperties = false
		if n.extensions {
			s.PatternProperties = map[string]*jsonSchema{"^x-": {Description: "Extension keys hold anchors shared by several sections; ackd ignores them."}}
		}
	}
	if n.values != nil {
		s.AdditionalProperties = renderSchema(n.values)
	}
	if n.items != nil {
		s.Items = renderSchema(n.items)
	}
	for _, a := range n.anyOf {
		s.AnyOf = append(s.AnyOf, renderSchema(a))
	}
	return s
}

// SchemaValue is the YAML document data as the JSON value that a YAML
// language server validates against config.schema.json: aliases and merge
// keys resolved, numbers as json.Number, unquoted dates as written.
func SchemaValue(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return jsonValue(v), nil
}

func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonValue(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = jsonValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonValue(x)
		}
		return out
	case int:
		return json.Number(strconv.Itoa(v))
	case int64:
		return json.Number(strconv.FormatInt(v, 10))
	case uint64:
		return json.Number(strconv.FormatUint(v, 10))
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64))
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format("2006-01-02")
		}
		return v.Format(time.RFC3339Nano)
	}
	return v
}
