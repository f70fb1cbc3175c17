// Command ackd acknowledges requests sent to a department's shared mailbox,
// tells requesters when to expect an answer, and follows up so nobody has
// to chase. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	_ "time/tzdata" // departments name IANA zones; do not depend on the host having them

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/secret"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/ruletests"
	"github.com/ackd/ackd/templates"
)

const usage = `usage: ackd COMMAND [flags]

commands:
  run      -c config.yaml [--log-format text|json]   watch the mailboxes and send receipts
  check    -c config.yaml                            validate config, rules and templates
  classify -c config.yaml [--at TIME] [--json] [--department NAME] FILE.eml…
                                                     dry run: how would ackd answer these messages
  backfill -c config.yaml [--since DURATION] [--dept NAME]
                                                     dry run: what a first start would answer (reads IMAP, writes nothing)
  status   -c config.yaml                            open requests and recently skipped mail
  digest   -c config.yaml --print|--send [--force] [--department NAME]   render or queue today's staff digest
  report   -c config.yaml [--since 30d] [--json]     commitments kept, response times, per category
  explain  -c config.yaml [--department NAME] REF    why a request is where it is: rule and words, due-date arithmetic, escalations, history
  replay   -c NEW.yaml [--since 30d]                 what-if: decide the stored requests again with NEW.yaml (read-only)
  oauth login -c config.yaml (--department NAME | --smtp) [--port N]
                                                     one-time login (Google: browser, Microsoft: device code); stores the refresh token
  migrate  --from sqlite:PATH --to postgres:DSN [--to-password-env NAME | --to-password-file PATH]
                                                     copy every request and the outbox into an empty store
  simulate SCENARIO.yaml [--seed N] [--svg FILE]    a simulated month: static commitments vs queue-aware promises
  demo     [--once]                                  a self-contained demo: in-process IMAP and SMTP
  version                                            print the version
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, args, stderr)
	case "check":
		return cmdCheck(args, stdout, stderr)
	case "classify":
		return cmdClassify(args, stdout, stderr)
	case "backfill":
		return cmdBackfill(ctx, args, stdout, stderr)
	case "status":
		return cmdStatus(ctx, args, stdout, stderr)
	case "digest":
		return cmdDigest(ctx, args, stdout, stderr)
	case "report":
		return cmdReport(ctx, args, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, args, stdout, stderr)
	case "explain":
		return cmdExplain(ctx, args, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args, stdout, stderr)
	case "simulate":
		return cmdSimulate(args, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args, stdout, stderr)
	case "oauth":
		return cmdOAuth(ctx, args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ackd: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "ackd (unknown version)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	rev, dirty := "", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return fmt.Sprintf("ackd %s (%s%s, %s)", v, rev, dirty, info.GoVersion)
	}
	return fmt.Sprintf("ackd %s (%s)", v, info.GoVersion)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ackd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// loadAll loads the config, its rules compiled and its templates,
// printing every problem.
func loadAll(path string, stderr io.Writer) (*mailwatch.Runtime, bool) {
	cfg, set, err := rules.Load(path)
	if err != nil {
		printProblems(stderr, err)
		return nil, false
	}
	tpl, err := templates.Load(cfg.Templates)
	if err != nil {
		fmt.Fprintf(stderr, "%s: templates: %v\n", path, err)
		return nil, false
	}
	if err := missingLanguages(cfg, tpl); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return nil, false
	}
	return &mailwatch.Runtime{Config: cfg, Rules: set, Templates: tpl}, true
}

// missingLanguages reports every department or rule language that has no
// templates: built in are en, de, fr, es and nl, and a templates
// directory adds one with a LANG/ subdirectory.
func missingLanguages(cfg *config.Config, tpl *templates.Set) error {
	var errs []error
	have := tpl.Languages()
	check := func(what, l string) {
		if l != "" && !slices.Contains(have, l) {
			errs = append(errs, fmt.Errorf("%s: language %q has no templates (have %s; add a %s/ directory of templates)",
				what, l, strings.Join(have, ", "), l))
		}
	}
	for _, d := range cfg.Departments {
		check(fmt.Sprintf("department %q", d.Name), d.Language)
		for _, r := range d.Rules {
			check(fmt.Sprintf("department %q, rule %q", d.Name, r.Name), r.Language)
		}
	}
	return errors.Join(errs...)
}

func printProblems(w io.Writer, err error) {
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	path := fs.String("c", "config.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rt, ok := loadAll(*path, stderr)
	if !ok {
		return 1
	}
	cfg := rt.Config
	for _, w := range mailwatch.SecretWarnings(cfg) {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	for _, w := range cfg.AuthorityWarnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	for _, w := range cfg.HistoryWarnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	for _, w := range cfg.ProviderWarnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	for _, w := range cfg.PushWarnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	// OAuth2 certificates and keys are checked when check can read them;
	// under systemd the unit's own check before each start can.
	files := mailwatch.OAuthFiles(cfg, time.Now())
	for _, w := range files.Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	if len(files.Problems) > 0 {
		for _, p := range files.Problems {
			fmt.Fprintf(stderr, "%s: %s\n", *path, p)
		}
		return 1
	}
	for _, n := range files.Notes {
		fmt.Fprintf(stdout, "%s: note: %s\n", *path, n)
	}
	if cfg.RuleTests != "" {
		n, ps := ruletests.Run(cfg, rt.Rules, cfg.RuleTests)
		if len(ps) > 0 {
			for _, p := range ps {
				fmt.Fprintln(stderr, p.Error())
			}
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d rule test case(s) passed\n", cfg.RuleTests, n)
	}
	nrules := 0
	for _, d := range cfg.Departments {
		nrules += len(d.Rules)
	}
	fmt.Fprintf(stdout, "%s: OK (%d department(s), %d rule(s))\n", *path, len(cfg.Departments), nrules)
	return 0
}

func newLogger(format string, w io.Writer, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("c", "config.yaml", "config file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	debugLog := fs.Bool("debug", false, "log at debug level")
	profileDir := fs.String("profile", "", "write CPU, mutex, block, heap and goroutine profiles of the run into this directory (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *profileDir != "" {
		stopProfiles, err := startProfiles(*profileDir)
		if err != nil {
			fmt.Fprintln(stderr, "ackd:", err)
			return 1
		}
		defer func() {
			if err := stopProfiles(); err != nil {
				fmt.Fprintln(stderr, "ackd:", err)
			}
		}()
	}
	level := slog.LevelInfo
	if *debugLog {
		level = slog.LevelDebug
	}
	log, err := newLogger(*logFormat, stderr, level)
	if err != nil {
		fmt.Fprintln(stderr, "ackd:", err)
		return 2
	}
	rt, ok := loadAll(*path, stderr)
	if !ok {
		return 1
	}
	cfg, tpl := rt.Config, rt.Templates
	st, err := openStore(ctx, cfg)
	if err != nil {
		log.Error("open store", "err", err)
		return 1
	}
	defer st.Close()
	// The daemon writes through the counters' observer, which counts what
	// it does; the counters read the configuration in force from inForce,
	// which reload keeps in step with the daemon's. The scrape-time gauges
	// read the daemon's sessions, so they are built after it.
	var inForce atomic.Pointer[config.Config]
	inForce.Store(cfg)
	counters := web.NewCounters(inForce.Load)
	ha, err := haOption(cfg, st, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	d, err := mailwatch.NewDaemon(cfg, tpl, counters.Observe(st), log, ha)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	metrics := web.NewMetrics(web.Sources{Store: st, Config: func() *config.Config { return d.Runtime().Config }, Mailboxes: mailboxes(d), Counters: counters})

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.HTTP.Listen != "" {
		if err := startHTTP(ctx, cfg, st, d, metrics, log); err != nil {
			log.Error("start", "err", err)
			return 1
		}
	}
	if cfg.Push != nil {
		if err := startPush(ctx, cfg, d, log); err != nil {
			log.Error("start", "err", err)
			return 1
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// reload: watch turns a save of the file into the same reload as
	// SIGHUP, run by the same goroutine so reloads never overlap.
	saved := make(chan struct{}, 1)
	if cfg.Reload == config.ReloadWatch {
		go func() {
			err := mailwatch.WatchConfig(ctx, *path, 0, log, func() {
				select {
				case saved <- struct{}{}:
				default: // a reload is already due
				}
			})
			if err != nil {
				log.Error("reload: watch: not watching the config file; SIGHUP still reloads", "err", err)
			}
		}()
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(d, &inForce, *path, log)
			case <-saved:
				reload(d, &inForce, *path, log)
			}
		}
	}()

	log.Info("ackd started", "version", versionString(), "departments", len(cfg.Departments), "store", cfg.Store.Driver)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		log.Info("shutting down: finishing the message in hand and the delivery in flight")
		select {
		case runErr = <-done:
		case <-time.After(10 * time.Second):
			log.Error("shutdown took longer than 10s; exiting anyway (unsent mail stays queued)")
			return 1
		}
	}
	if runErr != nil {
		log.Error("ackd stopped", "err", runErr)
		return 1
	}
	log.Info("ackd stopped")
	return 0
}

// reload validates the config on disk and swaps it in; a broken config is
// refused with every problem logged, and the old one keeps running.
func reload(d *mailwatch.Daemon, inForce *atomic.Pointer[config.Config], path string, log *slog.Logger) {
	cfg, _, err := rules.Load(path)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				log.Error("reload refused: config problem", "problem", p.Error())
			}
		} else {
			log.Error("reload refused", "err", err)
		}
		return
	}
	tpl, err := templates.Load(cfg.Templates)
	if err != nil {
		log.Error("reload refused: templates", "err", err)
		return
	}
	if err := missingLanguages(cfg, tpl); err != nil {
		log.Error("reload refused: templates", "err", err)
		return
	}
	if err := d.Reload(cfg, tpl); err != nil {
		log.Error("reload refused", "err", err)
		return
	}
	inForce.Store(cfg)
	log.Info("reloaded rules and templates", "config", path)
}

// openStore opens the configured store, with its password read from
// password_env or password_file (never from the DSN).
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	pw, err := secret.Read(cfg.Store.PasswordEnv, cfg.Store.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	opts := store.Options{Password: pw, TestPause: testPause()}
	if cfg.HA != nil {
		// Replicas: no lock outlives a frozen holder by much.
		opts.LeaseTTL = cfg.HA.LeaseTTL
	}
	return store.OpenOptions(ctx, cfg.Store.Driver, cfg.Store.DSN, opts)
}

// configAndStore loads the config and opens its store for the read-side
// commands, printing what went wrong under the command's name.
func configAndStore(ctx context.Context, cmd, path string, stderr io.Writer) (*config.Config, store.Store, bool) {
	cfg, _, err := rules.Load(path)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, false
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "ackd %s: open store: %v\n", cmd, err)
		return nil, nil, false
	}
	// A store written before departments were keyed by address is read
	// the way the daemon will leave it.
	if err := mailwatch.AdoptDepartments(ctx, st, cfg, slog.New(slog.NewTextHandler(stderr, nil))); err != nil {
		st.Close()
		fmt.Fprintf(stderr, "ackd %s: %v\n", cmd, err)
		return nil, nil, false
	}
	return cfg, st, true
}
