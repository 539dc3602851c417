//go:build amd64 && goexperiment.simd

package backend

import (
	"simd/archsimd"

	"github.com/nmflow/nmflow/nmflow/internal/fastexp"
)

// sigmoid8 runs sigmoid1 on the first len(v)/8·8 elements with AVX2, eight at a time, and returns
// how many it did (0 without AVX2): the same float32 operations in the same order.
func sigmoid8(v []float32) int {
	if !archsimd.X86.AVX2() {
		return 0
	}
	n := len(v) &^ 7
	zero, one, lo := archsimd.BroadcastFloat32x8(0), archsimd.BroadcastFloat32x8(1), archsimd.BroadcastFloat32x8(fastexp.Min)
	for j := 0; j < n; j += 8 {
		x := archsimd.LoadFloat32x8Slice(v[j : j+8])
		e := fastexp.Neg8(zero.Sub(x.Max(zero.Sub(x))).Max(lo)) // exp(−|x|), −|x| at least fastexp.Min
		d := one.Add(e)
		s := one.Div(d).Merge(e.Div(d), x.GreaterEqual(zero))
		x.Merge(s, x.IsNaN()).StoreSlice(v[j : j+8])
	}
	return n
}
