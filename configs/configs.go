// Package configs holds the configuration Signpost ships: the app catalog,
// the default configuration the binary runs on when given no --config, and
// deploy examples. It only embeds files; the config package reads them.
package configs

import (
	"embed"
	"io/fs"
)

// Catalog is the built-in app catalog (catalog.yaml).
//
//go:embed catalog.yaml
var Catalog []byte

//go:embed default
var defaultFS embed.FS

// Default is the default configuration directory (default/), the one
// `signpost run` uses without --config.
var Default fs.FS = mustSub(defaultFS, "default")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, which is a constant here.
		panic(err)
	}
	return s
}
