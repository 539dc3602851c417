package flow

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestAdamEMABits checks that the vector update gives the scalar update's bits (checkpoints and
// resume stay bit-identical whichever runs), on a length with a scalar tail.
func TestAdamEMABits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 1003
	mk := func(scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
		return v
	}
	w, m1, e, g := mk(1), mk(0.1), mk(1), mk(3)
	m2 := mk(0.1)
	for i := range m2 {
		m2[i] *= m2[i]
	}
	k := adamEMA{c1g: 0.1 * 0.7, c2g: 0.001 * 0.49, decay: 1 - 1e-5, alpha: 1e-3, epsHat: 1e-8, rate: 0.01}
	clone := func(v []float32) []float32 { return append([]float32(nil), v...) }
	w2, m12, m22, e2 := clone(w), clone(m1), clone(m2), clone(e)
	k.update(w, m1, m2, e, g)
	done := k.update8(w2, m12, m22, e2, g)
	k.update(w2[done:], m12[done:], m22[done:], e2[done:], g[done:])
	for i := range w {
		if math.Float32bits(w[i]) != math.Float32bits(w2[i]) || math.Float32bits(m1[i]) != math.Float32bits(m12[i]) ||
			math.Float32bits(m2[i]) != math.Float32bits(m22[i]) || math.Float32bits(e[i]) != math.Float32bits(e2[i]) {
			t.Fatalf("element %d (vector part %d): w %g/%g m1 %g/%g m2 %g/%g ema %g/%g", i, done, w[i], w2[i], m1[i], m12[i], m2[i], m22[i], e[i], e2[i])
		}
	}
	t.Logf("%d of %d elements by the vector update", done, n)
}

// TestSumSquares checks the gradient norm's sum of squares against a float64 sum, that the vector
// lanes give the scalar lanes' bits, and that the cores' split does not change them.
func TestSumSquares(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	v := make([]float32, 3*splitMin+13) // past the split, with a partial block and a scalar tail
	var want float64
	for i := range v {
		v[i] = float32(r.NormFloat64() * 3)
		want += float64(v[i]) * float64(v[i])
	}
	got := sumSquares(v)
	if math.Abs(got-want) > 1e-6*want {
		t.Fatalf("sum of squares %v, float64 reference %v", got, want)
	}
	var lanes [8]float32
	for j, x := range v[:sumBlock] {
		lanes[j%8] += float32(x * x)
	}
	var scalar float64
	for _, l := range lanes {
		scalar += float64(l)
	}
	if vec := squares(v[:sumBlock]); math.Float64bits(vec) != math.Float64bits(scalar) {
		t.Fatalf("one block: %v with the vector lanes, %v with scalar lanes", vec, scalar)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if one := sumSquares(v); math.Float64bits(one) != math.Float64bits(got) {
		t.Fatalf("on one core %v, on several %v", one, got)
	}
}
