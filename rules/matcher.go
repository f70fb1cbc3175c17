package rules

// STUB: owned by the matcher helper; the signature is the contract.

import "gopkg.in/yaml.v3"

// CompileMatcher compiles a rule's `match:` node. Problems name file, line
// and column of every bad pattern or key.
func CompileMatcher(n *yaml.Node, file string) (Matcher, Problems) { return matchNothing{}, nil }

type matchNothing struct{}

func (matchNothing) Match(*Message) bool { return false }
