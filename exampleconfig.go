// Package ackd carries the example configuration at the root of the module,
// so that `ackd demo` runs the very file the README points at.
package ackd

import _ "embed"

// ExampleConfig is the content of config.yaml.
//
//go:embed config.yaml
var ExampleConfig []byte
