//go:build amd64 && goexperiment.simd

package eval

import "simd/archsimd"

// clearUpper runs VZEROUPPER: the backend's AVX-512 matmuls can leave the upper register halves
// dirty on this thread, and the scalar (legacy SSE) float code of the scoring then runs many
// times slower (docs/bench.md, "Exp after AVX-512 kernels").
func clearUpper() { archsimd.ClearAVXUpperBits() }
