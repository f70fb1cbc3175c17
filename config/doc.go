// Package config is ackd's config.yaml: the schema with its defaults, and
// the loader that reads it from a yaml.Node tree so every problem names its
// file:line:col, all problems are reported at once, and inline passwords
// are refused without being echoed.
//
//   - The schema (config.go, oauth.go): Config, Department, Category,
//     Rule and the connection settings, immutable once loaded.
//   - Loading (load*.go, history.go): Load and Parse, defaults, validation
//     within and across departments, problems sorted by place (problem.go).
//   - Warnings for `ackd check` about settings that weaken ackd
//     (authority_warn.go, history.go, provider_warn.go).
//
// A rule's match: clause is kept as the yaml.Node it was written as
// (Rule.Match): its language belongs to package rules, which compiles it
// (rules.Compile) and checks it while a file loads (rules.Load passes
// CheckMatches), so its problems come with the rest.
//
// config imports yaml.v3, the standard library, the pure calendar package
// (calendars, holidays, commitments) and the internal leaves addrspec,
// editdist, loopback and pgdsn; never rules nor anything of the daemon.
// Files are read only while loading.
package config
