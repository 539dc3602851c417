//go:build amd64 && goexperiment.simd

package fastexp

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"testing"
)

// TestNeg8 checks that every lane of Neg8 has Neg's bits (on a CPU without AVX2 its callers take
// Neg for every element, which the comparison then covers).
func TestNeg8(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 8*10000)
	for i := range x {
		x[i] = float32(r.Float64() * Min)
	}
	copy(x, []float32{0, Min, -0.5 * math.Ln2, -1e-30})
	got := make([]float32, len(x))
	done := 0
	if archsimd.X86.AVX2() {
		for ; done < len(x); done += 8 {
			Neg8(archsimd.LoadFloat32x8Slice(x[done : done+8])).StoreSlice(got[done : done+8])
		}
	}
	for i := done; i < len(x); i++ {
		got[i] = Neg(x[i])
	}
	for i, v := range x {
		if want := Neg(v); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("Neg8 lane of %v = %v, Neg %v", v, got[i], want)
		}
	}
	t.Logf("%d of %d elements by Neg8", done, len(x))
}
