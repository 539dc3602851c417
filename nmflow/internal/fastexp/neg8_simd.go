//go:build amd64 && goexperiment.simd

package fastexp

import "simd/archsimd"

// Neg8 is Neg on eight lanes (AVX2; callers check archsimd.X86.AVX2 and clamp to [Min, 0]): the
// same float32 operations in the same order, so each lane has Neg's bits.
func Neg8(x archsimd.Float32x8) archsimd.Float32x8 {
	n := x.Mul(archsimd.BroadcastFloat32x8(Log2e)).Sub(archsimd.BroadcastFloat32x8(0.5)).ConvertToInt32()
	k := n.ConvertToFloat32()
	r := x.Sub(k.Mul(archsimd.BroadcastFloat32x8(Ln2Hi))).Sub(k.Mul(archsimd.BroadcastFloat32x8(Ln2Lo)))
	p := archsimd.BroadcastFloat32x8(P0).Mul(r).Add(archsimd.BroadcastFloat32x8(P1))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x8(P2))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x8(P3))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x8(P4))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x8(P5))
	e := p.Mul(r).Mul(r).Add(r).Add(archsimd.BroadcastFloat32x8(1))
	return e.Mul(n.Add(archsimd.BroadcastInt32x8(127)).ShiftAllLeft(23).AsFloat32x8())
}
