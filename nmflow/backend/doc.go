// Package backend chooses the GoMLX compute backend for the library, the CLI and the notebooks.
//
// Order: GOMLX_BACKEND when set (its failure is an error, never silently replaced); otherwise XLA
// through a PJRT plugin found without any download (go-xla's standard folders,
// PJRT_PLUGIN_LIBRARY_PATH, or the CUDA plugin inside an installed JAX); otherwise the pure-Go
// backend, with a one-line notice saying how to enable XLA. Nothing happens at package init.
package backend
