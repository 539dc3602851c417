// Package backend chooses the GoMLX compute backend for the library, the CLI and the notebooks.
//
// Order: GOMLX_BACKEND when set (its failure is an error, never silently replaced); otherwise XLA
// through a PJRT plugin found without any download (go-xla's standard folders,
// PJRT_PLUGIN_LIBRARY_PATH, or the CUDA plugin inside an installed JAX); otherwise the pure-Go
// backend, with a one-line notice saying how to enable XLA. Nothing happens at package init.
//
// On the pure-Go backend the float32 matmuls run nmflow/gemm where the CPU has AVX2 and FMA
// (GoMLX's own kernel there reaches a fifth of the machine's peak), and its float32 Transpose,
// ReduceSum, Slice and Logistic run nmflow's loops (swap.go: GoMLX's walk a generic index iterator per
// element, or a float64 exp); Info.Name says which run, and NMFLOW_GEMM=gomlx keeps all of
// GoMLX's. The swaps reach into GoMLX's internal registries (gemm.go, swap.go) and each is
// refused, keeping GoMLX's code, if its registry is not the one it knows.
package backend
