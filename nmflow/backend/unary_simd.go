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
	zero, one, lo, half := archsimd.BroadcastFloat32x8(0), archsimd.BroadcastFloat32x8(1), archsimd.BroadcastFloat32x8(fastexp.Min), archsimd.BroadcastFloat32x8(0.5)
	l2e, hi, lo2 := archsimd.BroadcastFloat32x8(fastexp.Log2e), archsimd.BroadcastFloat32x8(fastexp.Ln2Hi), archsimd.BroadcastFloat32x8(fastexp.Ln2Lo)
	c0, c1, c2 := archsimd.BroadcastFloat32x8(fastexp.P0), archsimd.BroadcastFloat32x8(fastexp.P1), archsimd.BroadcastFloat32x8(fastexp.P2)
	c3, c4, c5 := archsimd.BroadcastFloat32x8(fastexp.P3), archsimd.BroadcastFloat32x8(fastexp.P4), archsimd.BroadcastFloat32x8(fastexp.P5)
	bias := archsimd.BroadcastInt32x8(127)
	for j := 0; j < n; j += 8 {
		x := archsimd.LoadFloat32x8Slice(v[j : j+8])
		y := zero.Sub(x.Max(zero.Sub(x))).Max(lo) // −|x|, at least fastexp.Min
		// fastexp.Neg(y):
		ni := y.Mul(l2e).Sub(half).ConvertToInt32()
		k := ni.ConvertToFloat32()
		r := y.Sub(k.Mul(hi)).Sub(k.Mul(lo2))
		p := c0.Mul(r).Add(c1)
		p = p.Mul(r).Add(c2)
		p = p.Mul(r).Add(c3)
		p = p.Mul(r).Add(c4)
		p = p.Mul(r).Add(c5)
		e := p.Mul(r).Mul(r).Add(r).Add(one)
		e = e.Mul(ni.Add(bias).ShiftAllLeft(23).AsFloat32x8())
		d := one.Add(e)
		s := one.Div(d).Merge(e.Div(d), x.GreaterEqual(zero))
		x.Merge(s, x.IsNaN()).StoreSlice(v[j : j+8])
	}
	return n
}
