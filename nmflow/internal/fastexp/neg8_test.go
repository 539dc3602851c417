//go:build amd64 && goexperiment.simd

package fastexp

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"testing"
)

// TestNeg8 checks that every lane of Neg8 has Neg's bits.
func TestNeg8(t *testing.T) {
	if !archsimd.X86.AVX2() {
		t.Skip("no AVX2 on this CPU: Neg8 is never called")
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 8*10000)
	for i := range x {
		x[i] = float32(r.Float64() * Min)
	}
	copy(x, []float32{0, Min, -0.5 * math.Ln2, -1e-30})
	got := make([]float32, len(x))
	for j := 0; j < len(x); j += 8 {
		Neg8(archsimd.LoadFloat32x8Slice(x[j : j+8])).StoreSlice(got[j : j+8])
	}
	for i, v := range x {
		if want := Neg(v); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("Neg8 lane of %v = %v, Neg %v", v, got[i], want)
		}
	}
}
