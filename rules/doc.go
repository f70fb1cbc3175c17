// Package rules decides, without I/O, what ackd does with a message, and
// holds the configuration it decides by.
//
//   - Config and loading (config.go, load*.go, oauth.go, history.go): the
//     YAML schema with its defaults, read from a yaml.Node tree so every
//     problem names its file:line:col, all problems reported at once, and
//     inline passwords refused without echoing them.
//   - Decide (decide.go, decision.go): given a Message, a Department and
//     the arrival time, whether to send a receipt and why (a Refusal code
//     and words), the matching rule, the category, its commitment and the
//     due time.
//   - Loop protection (loop.go, headerless.go, heuristic.go,
//     authresults.go): RFC 3834 and the signs of robots, bounces, lists
//     and forged senders; a refusal always says which rule refused.
//   - Matchers (matcher.go, text*.go): the match clauses of rules, on
//     normalised text.
//   - Staff commands (commands.go) and authority (authority.go): "#eta",
//     "#assign" and the rest, and what may act on a request.
//
// The business calendar (working hours, holidays, commitments and due
// times) is package calendar.
//
// Nothing here reads the network or the clock; files are read only while
// loading a config.
package rules
