// Package rules decides, without I/O, what ackd does with a message. The
// settings it decides by are package config's types.
//
//   - Compiling (compile.go, matcher.go, text*.go): a config's match:
//     clauses become a Set of matchers on normalised text; Load and Parse
//     load a config file with config and compile its rules in one pass, so
//     a bad pattern is reported with file:line:col among every other
//     problem.
//   - Decide (decide.go, decision.go): given a Message, a Department and
//     the arrival time, Set.Decide says whether to send a receipt and why
//     (a Refusal code and words), the matching rule, the category, its
//     commitment and the due time.
//   - Loop protection (loop.go, headerless.go, heuristic.go,
//     authresults.go): RFC 3834 and the signs of robots, bounces, lists
//     and forged senders; a refusal always says which rule refused.
//   - Staff commands (commands.go) and authority (authority.go,
//     AuthProof): "#eta", "#assign" and the rest, and what may act on a
//     request.
//
// The business calendar (working hours, holidays, commitments and due
// times) is package calendar.
//
// Nothing here reads the network or the clock; files are read only while
// loading a config. rules imports config and calendar, never the daemon.
package rules
