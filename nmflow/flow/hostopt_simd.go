//go:build amd64 && goexperiment.simd

package flow

import "simd/archsimd"

// update8 runs adamEMA.update on the first len(g)/8·8 elements with AVX2, eight at a time, and
// returns how many it did (0 without AVX2). Same operations, same order, no fused multiply-add:
// bit-identical to update. The scalar loop's square root and division made the fit's host step
// a third of a P = 101,770 fit step.
func (k adamEMA) update8(w, m1, m2, e, g []float32) int {
	if !archsimd.X86.AVX2() {
		return 0
	}
	n := len(g) &^ 7
	b1, b2 := archsimd.BroadcastFloat32x8(0.9), archsimd.BroadcastFloat32x8(0.999)
	c1g, c2g := archsimd.BroadcastFloat32x8(k.c1g), archsimd.BroadcastFloat32x8(k.c2g)
	decay, alpha := archsimd.BroadcastFloat32x8(k.decay), archsimd.BroadcastFloat32x8(k.alpha)
	eps, rate := archsimd.BroadcastFloat32x8(k.epsHat), archsimd.BroadcastFloat32x8(k.rate)
	for j := 0; j < n; j += 8 {
		gj := archsimd.LoadFloat32x8Slice(g[j : j+8])
		a := b1.Mul(archsimd.LoadFloat32x8Slice(m1[j : j+8])).Add(c1g.Mul(gj))
		b := b2.Mul(archsimd.LoadFloat32x8Slice(m2[j : j+8])).Add(c2g.Mul(gj).Mul(gj))
		a.StoreSlice(m1[j : j+8])
		b.StoreSlice(m2[j : j+8])
		nv := archsimd.LoadFloat32x8Slice(w[j : j+8]).Mul(decay).Sub(a.Div(b.Sqrt().Add(eps)).Mul(alpha))
		nv.StoreSlice(w[j : j+8])
		ej := archsimd.LoadFloat32x8Slice(e[j : j+8])
		ej.Add(nv.Sub(ej).Mul(rate)).StoreSlice(e[j : j+8])
	}
	return n
}

// squares8 adds the squares of the first len(v)/8·8 elements into lanes (lane j: elements j, j+8,
// …) with AVX2 and returns how many it did (0 without AVX2): a multiply then an add, as squares.
func squares8(v []float32, lanes *[8]float32) int {
	if !archsimd.X86.AVX2() {
		return 0
	}
	n := len(v) &^ 7
	acc := archsimd.LoadFloat32x8Slice(lanes[:])
	for j := 0; j < n; j += 8 {
		x := archsimd.LoadFloat32x8Slice(v[j : j+8])
		acc = acc.Add(x.Mul(x))
	}
	acc.StoreSlice(lanes[:])
	return n
}
