package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/calendar"
)

// Config is a loaded, validated config.yaml. Build it with Load or Parse;
// a Config is immutable once returned and safe for concurrent readers.
type Config struct {
	// File is the path the config was read from (for messages).
	File string

	Store StoreConfig
	SMTP  SMTPConfig
	HTTP  HTTPConfig
	// Templates is a directory of template overrides; empty means the
	// embedded defaults only. Relative paths are resolved against the
	// config file's directory.
	Templates string
	Limits    Limits
	// TrustAuthenticationResults and AuthservID are the top-level defaults
	// of the department keys of the same name.
	TrustAuthenticationResults bool
	AuthservID                 string
	// Backfill and MaxAge are the top-level defaults of the department
	// keys of the same name.
	Backfill time.Duration
	MaxAge   time.Duration

	Departments []*Department

	// HA, when set (the ha: key), makes this ackd one of several replicas
	// sharing one PostgreSQL store; nil means a single ackd.
	HA *HAConfig

	// Reload says what makes `ackd run` reload the config: SIGHUP only
	// (ReloadSignal, the default), or also saving the file (ReloadWatch).
	Reload ReloadMode
	// RuleTests is a file of rule test cases `ackd check` runs (the
	// rule_tests: key, relative paths resolved against the config file's
	// directory); "" for none.
	RuleTests string
	// Push, when set (the push: key), listens for the IMAP server's
	// push notifications; nil means none (IDLE and polling only).
	Push *PushConfig
}

// ReloadMode is the reload: key.
type ReloadMode int

const (
	// ReloadSignal reloads on SIGHUP only.
	ReloadSignal ReloadMode = iota
	// ReloadWatch reloads on SIGHUP and whenever the config file's
	// content changes, with the same checks: a broken file is refused and
	// the running config kept.
	ReloadWatch
)

func (r ReloadMode) String() string {
	if r == ReloadWatch {
		return "watch"
	}
	return "signal"
}

// PushConfig is the push: section: an HTTP listener where the IMAP
// server's notification plugin (Dovecot's push_notification) reports new
// mail, so that the mailbox's watcher looks at once (docs/deployment.md).
// IDLE and polling go on as configured: a lost push costs what it would
// cost without push.
type PushConfig struct {
	// Listen is host:port, default DefaultPushListen (loopback).
	Listen string
	// Password is the shared secret the server must present (bearer
	// token, or basic auth's password); required.
	Password Secret
}

// HAConfig is the ha: section: how this replica takes part in sharing the
// departments with others (see docs/replicas.md).
type HAConfig struct {
	// ReplicaID names this running ackd in the lease table; unique per
	// process. Defaults to hostname-pid.
	ReplicaID string
	// LeaseTTL is how long a dead replica keeps its departments; a
	// takeover after a crash takes up to LeaseTTL + LeaseTTL/3.
	LeaseTTL time.Duration
}

// StoreConfig selects the database.
type StoreConfig struct {
	Driver string // "sqlite" (default) or "postgres"
	// DSN is the SQLite file path (relative to the config file's directory)
	// or a PostgreSQL connection string without a password.
	DSN          string
	PasswordEnv  string
	PasswordFile string
}

// TLS modes for IMAP and SMTP connections.
const (
	TLSImplicit = "implicit"
	TLSStartTLS = "starttls"
	TLSNone     = "none" // loopback hosts only
)

// Secret names where a password comes from; never the password itself.
type Secret struct {
	Env  string // environment variable name
	File string // path to a file holding the password
}

// IsSet says whether any source is configured.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" }

// SMTPConfig is the submission server ackd sends through.
type SMTPConfig struct {
	Host string
	Port int    // default 587
	TLS  string // implicit, starttls (default), none
	// Username empty means no AUTH (a local relay).
	Username           string
	Password           Secret
	CAFile             string
	InsecureSkipVerify bool          // loopback hosts only
	Timeout            time.Duration // per connection attempt, default 30s
	// KeepAlive is how long an idle connection stays open for the next
	// batch, default 30s; 0 closes it after each batch.
	KeepAlive time.Duration
	// Provider names a preset (ProviderMicrosoft365, …) that filled Host.
	Provider string
	// OAuth2, when set, replaces the password: AUTH with a bearer token.
	OAuth2 *OAuth2Config
}

// HTTPConfig is the listener for /metrics, /healthz and the status page.
type HTTPConfig struct {
	Listen string // empty disables it; default 127.0.0.1:8025
	// BasicAuthUser, when set, makes the status page and /metrics ask for
	// HTTP basic auth (/healthz and /readyz stay open for probes).
	BasicAuthUser string
	// BasicAuthPasswordFile holds the password; required with
	// BasicAuthUser. Never inline in the YAML.
	BasicAuthPasswordFile string
}

// Limits guard against ackd becoming a spam cannon. The sending caps
// (the per-hour, per-minute and per-day ones) cap mail, never tracking:
// every request is recorded and followed, and the outbox sender holds a
// mail over a cap until its window allows it (see mailwatch/limit.go).
type Limits struct {
	// PerSenderPerHour caps the mail ackd sends to one requester address
	// in any hour: receipts, due updates, late notices, closings, relays,
	// command help. Staff mail (escalations, digests) neither counts nor
	// waits for it. YAML per_sender_per_hour.
	PerSenderPerHour int // default 10
	// GlobalPerMinute caps all mail ackd sends, of every kind and every
	// department, in any minute.
	GlobalPerMinute int // default 60
	// EscalationsPerRequestPerDay and RelaysPerRequestPerDay cap the
	// escalations, and the staff words relayed to the requester, sent
	// about one request in any 24 hours.
	EscalationsPerRequestPerDay int // default 6
	RelaysPerRequestPerDay      int // default 10
	// MaxMessageBytes is the largest message ackd parses; larger ones are
	// recorded as skipped. Default 25 MiB.
	MaxMessageBytes int64
	// MaxTextBytes caps the plain-text body kept for matching. Default 64 KiB.
	MaxTextBytes int
}

// IMAPConfig is one department's mailbox.
type IMAPConfig struct {
	Host               string
	Port               int    // default 993 (implicit), 143 otherwise
	TLS                string // implicit (default), starttls, none
	Username           string
	Password           Secret
	CAFile             string
	InsecureSkipVerify bool
	Mailbox            string        // default INBOX
	SentMailbox        string        // optional; staff replies sent from the shared account
	IDLE               bool          // default true
	PollInterval       time.Duration // default 60s
	// AppendSent stores a copy of every receipt in SentMailbox so staff see
	// what ackd sent.
	AppendSent bool
	// DiscoverSent watches the mailbox the server marks \Sent (RFC 6154)
	// when SentMailbox is empty. The loader sets it unless the file says
	// discover_sent: false; a Config built in code opts in explicitly.
	DiscoverSent bool
	// Provider names a preset (ProviderMicrosoft365, …) that filled Host.
	Provider string
	// OAuth2, when set, replaces the password: AUTHENTICATE with a bearer token.
	OAuth2 *OAuth2Config
}

// Department is one shared address that ackd answers for.
type Department struct {
	Name    string
	Address string
	// Aliases are other addresses that deliver into the same mailbox.
	Aliases []string

	IMAP           IMAPConfig
	Staff          []string
	Leads          []string
	AllowedSenders []string // glob patterns; "*" for anyone
	// Assignable are glob patterns ("*@contractor.example") of addresses
	// besides staff and leads that "#assign" may hand a request to; empty
	// means staff and leads only.
	Assignable []string
	// Assign says who owns a new request from the start: nobody
	// (AssignNone, the default), or one of the staff who are not away,
	// in turn (AssignRoundRobin) or the one with the fewest open requests
	// (AssignLeastOpen).
	Assign AssignMode
	// Incident is burst detection: Count requests alike (the same rule,
	// or most subject words shared) within Within are a possible
	// incident, and the leads hear of it once.
	Incident IncidentConfig
	// Primary: a message addressed to this department and to others it
	// serves is this department's alone; the others record it and send
	// nothing. Without a primary among them, each department registers
	// it and its receipt names the others.
	Primary bool

	Calendar *calendar.Calendar
	Digest   DigestConfig

	// Satisfaction, when set, asks requesters how we did in the closing
	// mail of a resolved request.
	Satisfaction *Satisfaction

	// Language is the base language code ("en", "de") the department
	// writes in when a request's own language is unsure, and the language
	// of staff command help. Default lang.Default.
	Language string

	// TrustAuthenticationResults says the receiving server writes a
	// trustworthy Authentication-Results header (RFC 8601): a forged
	// internal From then gets no receipt and forged staff mail carries no
	// commands. Off by default: where the server does not strip such
	// headers from incoming mail, a sender could write their own.
	TrustAuthenticationResults bool
	// AuthservID, when set, is the only authserv-id whose results count.
	AuthservID string

	// Backfill: on a mailbox's first start (no checkpoint), messages
	// that arrived within Backfill of now are answered; older ones are
	// history. Zero (the default) answers nothing that was there before.
	Backfill time.Duration
	// MaxAge: no receipt, notice or escalation ever goes out for mail
	// that arrived longer ago, nor for a scheduled step that fell due
	// longer ago. Default DefaultMaxAge.
	MaxAge time.Duration

	// Categories by name; always holds "default".
	Categories map[string]*Category
	// Rules in config order; the first match wins.
	Rules []*Rule

	// Others holds every other department's address and aliases,
	// lower-cased, for loop protection (ackd never answers another
	// department). The loader fills it; a Department built in code sets it
	// itself.
	Others []string
}

// DigestConfig says who gets the staff digest and when.
type DigestConfig struct {
	To        []string
	At        string // "08:30" in the department's time zone; empty disables it
	SkipEmpty bool
}

// Category is a kind of request with a service commitment.
type Category struct {
	Name       string
	Commitment calendar.Commitment
	// Followup is the commitment after a requester replies to an answered
	// request; defaults to Commitment.
	Followup calendar.Commitment
	// Grace is the new commitment announced in a late notice; defaults to
	// half of Commitment.
	Grace    calendar.Commitment
	Escalate []EscalationStep
	// Closing sends the requester a closing note when the request is resolved.
	Closing bool
	// AutoResolve resolves an answered request when the requester has not
	// replied for this long (business time or working days); zero never.
	AutoResolve calendar.Commitment
	// Aim, when set, is the team's own, shorter goal: the requester is
	// promised Commitment, the escalation ladder and the digest run on
	// Aim, and the report shows both. Zero means Commitment.
	Aim calendar.Commitment
	// AskFor lists what the receipt asks the requester for; Links the
	// forms and how-tos it points to (ask_for, links).
	AskFor []AskItem
	Links  []Link
	// Promise says which date the receipt gives (YAML promise:
	// commitment, the default, or forecast).
	Promise Promise
}

// Promise is how a category's receipt dates its answer.
type Promise int

const (
	// PromiseCommitment: the commitment's due time on the calendar.
	PromiseCommitment Promise = iota
	// PromiseForecast: the later of the commitment and the forecast from
	// the open queue, the staff in and the record (package forecast). The
	// escalation ladder still runs on the commitment.
	PromiseForecast
)

// String is the YAML spelling.
func (p Promise) String() string {
	if p == PromiseForecast {
		return "forecast"
	}
	return "commitment"
}

// EscalationStep is one rung of a category's escalation ladder.
type EscalationStep struct {
	// Exactly one of At (share of the commitment, 0 < At ≤ 1) and
	// BeforeDue (business time before the due time) is set.
	At        float64
	BeforeDue time.Duration
	// To is the target as written: "staff", "leads" or an address.
	To string
}

// Rule classifies a message into a category.
type Rule struct {
	Name     string
	Category string
	// Match is the rule's match: clause as written (aliases followed), with
	// its positions; nil when the key is missing. Its language is package
	// rules', which compiles it (rules.Compile).
	Match *yaml.Node
	// Language, when set, is the language of every request the rule
	// matches, whatever the message says; "" detects it.
	Language string
	// AskFor and Links come after the category's in the receipt.
	AskFor []AskItem
	Links  []Link
}

// AssignMode is how a department gives new requests an owner.
type AssignMode int

// Assignment modes (the YAML key assign).
const (
	AssignNone       AssignMode = iota // "none": the first staff answer or #take makes the owner
	AssignRoundRobin                   // "round_robin": staff in turn, skipping who is away
	AssignLeastOpen                    // "least_open": the staff member with the fewest open requests
)

// assignModes are the YAML spellings of AssignMode.
var assignModes = map[string]AssignMode{"none": AssignNone, "round_robin": AssignRoundRobin, "least_open": AssignLeastOpen}

// String is the YAML spelling.
func (m AssignMode) String() string {
	for k, v := range assignModes {
		if v == m {
			return k
		}
	}
	return fmt.Sprintf("AssignMode(%d)", int(m))
}

// IncidentConfig is burst detection (the YAML key incident).
type IncidentConfig struct {
	// Count requests alike make a burst; 0 turns detection off.
	Count int
	// Within is the window they arrive in.
	Within time.Duration
}

// DefaultIncident: 6 requests alike within 30 minutes, tuned on the
// simulated month of a 500-person IT desk (ackd simulate --bursts,
// docs/promises.md "Tuning the burst defaults"): of the settings with at
// most one false alarm a month it saw the two-day outage on the most
// seeds (6 of 10, 0.5 false alarms a month); the former 5 within 10m
// never saw it.
var DefaultIncident = IncidentConfig{Count: 6, Within: 30 * time.Minute}
