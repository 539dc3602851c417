// Package nmflow holds what every part of the library shares: the version recorded in each
// artifact and the Provenance header of saved models. The work itself lives in the subpackages,
// in the order data flows (ARCHITECTURE.md at the repository root has the map):
// data → arch → zoo/traj → (flow, solve) → eval → plot/nb.
package nmflow

// Version of the nmflow library, written into every artifact's metadata.
const Version = "0.1.0"

// GoMLXVersion is the pinned GoMLX release the library is built and tested against.
const GoMLXVersion = "v0.28.2"
