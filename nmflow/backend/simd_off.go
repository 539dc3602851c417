//go:build !goexperiment.simd

package backend

// simdBuild: without GOEXPERIMENT=simd GoMLX's matmul is its plain-Go one (7 GFLOP/s measured).
const simdBuild = false
