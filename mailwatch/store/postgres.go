package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ackd/ackd/internal/pgdsn"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// postgresMigrationLock makes replicas that start together migrate one after
// the other. Advisory locks are per database; the key is "ackd" in ASCII.
// The wait for it (and the migration's own locks) is exempt from a
// replica's lock_timeout (sessionLimits): a replica starting beside one
// that migrates waits for it, bounded by the query timeout.
const postgresMigrationLock = `SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(1633905508)`

// Pool bounds: a daemon's store traffic is a trickle, but RecordRequest
// holds a connection while build runs and the status page reads beside it.
const (
	postgresMaxConns     = 8
	postgresIdleConns    = 2
	postgresConnIdleTime = 5 * time.Minute
)

// openPostgres opens a PostgreSQL store through pgx's database/sql driver,
// so the queries of sqlStore serve both backends unchanged. pgxpool would
// need a second implementation of every method for no gain at ackd's load.
//
// The DSN must not carry a password (it ends up in config files and logs);
// opts.Password is put into the parsed config instead. No error names the
// DSN as given or the password.
func openPostgres(ctx context.Context, dsn string, opts Options) (Store, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("open postgres: empty dsn, want a connection URL or key=value string")
	}
	if pgdsn.HasPassword(dsn) {
		return nil, errors.New("open postgres: the dsn carries a password; remove it and set password_env or password_file instead")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords it recognises, but not inside every
		// malformed URL it quotes; scrub once more.
		return nil, fmt.Errorf("open postgres: %w", scrubbed(err, opts.Password))
	}
	if err := checkPostgresTLS(dsn, cfg); err != nil {
		return nil, err
	}
	if opts.Password != "" {
		cfg.Password = opts.Password
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > opts.QueryTimeout {
		cfg.ConnectTimeout = opts.QueryTimeout
	}
	// The server ends a statement that outlives the call's deadline even
	// if the client never gets to cancel it (a hung connection).
	if _, ok := cfg.RuntimeParams["statement_timeout"]; !ok {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.QueryTimeout.Milliseconds(), 10)
	}
	if opts.LeaseTTL > 0 {
		sessionLimits(cfg, opts.LeaseTTL)
	}
	if opts.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "ackd"
	}
	where := fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)

	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresIdleConns)
	db.SetConnMaxIdleTime(postgresConnIdleTime)

	ctx, cancel := context.WithTimeout(ctx, opts.QueryTimeout)
	defer cancel()
	fail := func(err error) (Store, error) {
		_ = db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where, scrubbed(err, opts.Password))
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	ms, err := loadMigrations(postgresMigrations, "migrations/postgres")
	if err != nil {
		return fail(err)
	}
	if opts.ReadOnly {
		err = checkReadOnlySchema(ctx, db, ms)
	} else {
		err = migrate(ctx, db, ms, postgresMigrationLock)
	}
	if err != nil {
		return fail(err)
	}
	return &sqlStore{w: db, r: db, opts: opts, textBytes: true, postgres: true}, nil
}

// sessionLimits makes every session of a replica give up its locks soon
// after the replica freezes or loses the network, so no department waits
// behind a zombie for longer than the lease it lost (docs/replicas.md,
// "What a freeze does"):
//
//   - idle_in_transaction_session_timeout ttl/3: the server ends a session
//     whose transaction has waited that long for its client, and with it
//     the transaction's row locks (a frozen RecordRequest holds its
//     department's ref_counters row and, under a fence, its lease row).
//     ackd's transactions run no slow client work between statements.
//   - lock_timeout ttl/2: a statement waiting behind a lock gives up
//     rather than hang, longer than the idle limit so a waiter behind a
//     frozen session gets through on its first try.
//   - TCP keepalives and tcp_user_timeout on both ends: a peer that
//     stopped answering (a partition, a dead host) is dropped within
//     about ttl/2, where the kernel's defaults take hours.
//
// statement_timeout stays the query timeout (set above): it bounds
// migrations too, which may take longer than a ttl. Values given in the
// DSN win.
func sessionLimits(cfg *pgx.ConnConfig, ttl time.Duration) {
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
	secs := func(d time.Duration) string { return strconv.Itoa(max(int(d/time.Second), 1)) }
	idle, interval, count := ttl/6, ttl/12, 3 // a silent peer is dropped after idle + count*interval = ttl/2
	for k, v := range map[string]string{
		"idle_in_transaction_session_timeout": ms(ttl / 3),
		"lock_timeout":                        ms(ttl / 2),
		"tcp_keepalives_idle":                 secs(idle),
		"tcp_keepalives_interval":             secs(interval),
		"tcp_keepalives_count":                strconv.Itoa(count),
		"tcp_user_timeout":                    ms(ttl / 2),
	} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	d := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: max(idle, time.Second), Interval: max(interval, time.Second), Count: count},
		Control:         tcpUserTimeout(ttl / 2),
	}
	cfg.DialFunc = d.DialContext
}

// checkPostgresTLS refuses a connection that could reach a server other
// than this machine's without verifying its certificate, the last line
// behind `ackd check` (which judges the DSN as written): it takes the hosts
// pgx will dial, PGHOST and the defaults included, and the sslmode pgx
// will use, the DSN's or else PGSSLMODE's.
func checkPostgresTLS(dsn string, cfg *pgx.ConnConfig) error {
	d, err := pgdsn.Parse(dsn)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	if d.SSLMode == "" {
		d.SSLMode = strings.ToLower(strings.TrimSpace(os.Getenv("PGSSLMODE")))
	}
	d.Hosts = []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		d.Hosts = append(d.Hosts, f.Host)
	}
	if p := d.Problem(); p != "" {
		return errors.New("open postgres: refused: " + p)
	}
	return nil
}

// secretFreeError carries an error whose text had secrets removed; Unwrap
// keeps errors.Is working (ErrSchemaTooNew, context errors).
type secretFreeError struct {
	msg string
	err error
}

func (e *secretFreeError) Error() string { return e.msg }
func (e *secretFreeError) Unwrap() error { return e.err }

var (
	urlUserinfo = regexp.MustCompile(`(?i)(postgres(?:ql)?://)[^@/\s"'` + "`" + `]*@`)
	kvSecret    = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&"'` + "`" + `]*)`)
)

// scrubbed returns err with its text cleared of password and of anything
// that looks like a password in a connection string.
func scrubbed(err error, password string) error {
	msg := err.Error()
	clean := urlUserinfo.ReplaceAllString(msg, "${1}xxxxx@")
	clean = kvSecret.ReplaceAllString(clean, "${1}xxxxx")
	if password != "" {
		clean = strings.ReplaceAll(clean, password, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &secretFreeError{msg: clean, err: err}
}
