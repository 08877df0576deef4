// Package triagem holds what the whole program shares: the annotated default configuration,
// embedded so that the demo and `triagem classify` work without any file.
package triagem

import _ "embed"

// DefaultConfig is config.toml as shipped: the Médis procedure (seed 001).
//
//go:embed config.toml
var DefaultConfig []byte
