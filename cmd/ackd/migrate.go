package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ackd/ackd/internal/secret"
	"github.com/ackd/ackd/mailwatch/store"
)

// cmdMigrate copies a whole store into another, empty one: the way from
// the embedded SQLite file to a PostgreSQL that several replicas share.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("migrate", stderr)
	from := fs.String("from", "", "source store: sqlite:PATH (or postgres:DSN)")
	to := fs.String("to", "", "target store, empty: postgres:DSN without a password (or sqlite:PATH)")
	pwEnv := fs.String("to-password-env", "", "environment variable holding the target's password")
	pwFile := fs.String("to-password-file", "", "file holding the target's password")
	fromPwEnv := fs.String("from-password-env", "", "environment variable holding a PostgreSQL source's password")
	fromPwFile := fs.String("from-password-file", "", "file holding a PostgreSQL source's password")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *from == "" || *to == "" {
		fmt.Fprintln(stderr, "ackd migrate: want --from sqlite:PATH --to postgres:DSN [--to-password-env NAME | --to-password-file PATH]")
		return 2
	}
	if *pwEnv != "" && *pwFile != "" || *fromPwEnv != "" && *fromPwFile != "" {
		fmt.Fprintln(stderr, "ackd migrate: give a password as an environment variable or a file, not both")
		return 2
	}
	srcDriver, srcDSN, err := storeSpec(*from)
	if err != nil {
		fmt.Fprintln(stderr, "ackd migrate: --from:", err)
		return 2
	}
	dstDriver, dstDSN, err := storeSpec(*to)
	if err != nil {
		fmt.Fprintln(stderr, "ackd migrate: --to:", err)
		return 2
	}
	if srcDriver == dstDriver && srcDSN == dstDSN {
		fmt.Fprintln(stderr, "ackd migrate: --from and --to name the same store")
		return 2
	}
	// Opening a store creates a missing SQLite file; a typo in --from must
	// not "migrate" an empty history.
	for _, s := range []struct{ flag, driver, dsn string }{{"--from", srcDriver, srcDSN}, {"--to", dstDriver, dstDSN}} {
		if s.driver != "sqlite" {
			continue
		}
		_, err := os.Stat(s.dsn)
		switch {
		case s.flag == "--from" && err != nil:
			fmt.Fprintf(stderr, "ackd migrate: --from: %v\n", err)
			return 1
		case s.flag == "--to" && err == nil:
			fmt.Fprintf(stderr, "ackd migrate: --to: %s exists; name a new file\n", s.dsn)
			return 1
		}
	}
	srcPw, err := secret.Read(*fromPwEnv, *fromPwFile)
	if err != nil {
		fmt.Fprintln(stderr, "ackd migrate: source:", err)
		return 1
	}
	dstPw, err := secret.Read(*pwEnv, *pwFile)
	if err != nil {
		fmt.Fprintln(stderr, "ackd migrate: target:", err)
		return 1
	}
	src, err := store.OpenOptions(ctx, srcDriver, srcDSN, store.Options{Password: srcPw})
	if err != nil {
		fmt.Fprintln(stderr, "ackd migrate: open source:", err)
		return 1
	}
	defer src.Close()
	dst, err := store.OpenOptions(ctx, dstDriver, dstDSN, store.Options{Password: dstPw})
	if err != nil {
		fmt.Fprintln(stderr, "ackd migrate: open target:", err)
		return 1
	}
	defer dst.Close()
	counts, err := store.Copy(ctx, dst, src)
	if err != nil {
		if errors.Is(err, store.ErrTargetNotEmpty) {
			fmt.Fprintln(stderr, "ackd migrate: REFUSED, nothing was written:", err)
		} else {
			fmt.Fprintln(stderr, "ackd migrate: FAILED, nothing was written:", err)
		}
		return 1
	}
	var total int64
	for _, c := range counts {
		fmt.Fprintf(stdout, "%-13s %8d rows\n", c.Table, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(stdout, "copied %d rows from %s to %s; row counts match table by table\n", total, srcDriver, dstDriver)
	fmt.Fprintln(stdout, "next: point store.driver/dsn of config.yaml at the target, then start ackd")
	return 0
}

// storeSpec splits "sqlite:PATH" or "postgres:DSN".
func storeSpec(s string) (driver, dsn string, err error) {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return "postgres", s, nil // a bare URL names its driver already
	}
	driver, dsn, ok := strings.Cut(s, ":")
	switch {
	case !ok || dsn == "":
		return "", "", fmt.Errorf("%q: want sqlite:PATH or postgres:DSN", s)
	case driver == "sqlite":
		return driver, dsn, nil
	case driver == "postgres" || driver == "postgresql":
		// postgres:postgres://… and postgres:host=… both arrive here.
		return "postgres", dsn, nil
	}
	return "", "", fmt.Errorf("%q: unknown store %q, want sqlite or postgres", s, driver)
}
