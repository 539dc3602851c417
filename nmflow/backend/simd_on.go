//go:build goexperiment.simd

package backend

// simdBuild: GoMLX's SIMD matmuls (AVX2, AVX-512) are compiled in only under GOEXPERIMENT=simd.
const simdBuild = true
