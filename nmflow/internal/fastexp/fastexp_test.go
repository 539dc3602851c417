package fastexp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestNeg checks Neg against math.Exp to 2 ulp over [Min, 0], ends included.
func TestNeg(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := []float32{0, float32(math.Copysign(0, -1)), -1e-30, Min, -0.5 * math.Ln2, -86.99}
	for range 200000 {
		xs = append(xs, float32(r.Float64()*Min))
	}
	for _, x := range xs {
		got, want := Neg(x), math.Exp(float64(x))
		u := float64(math.Nextafter32(float32(want), 1) - float32(want))
		if d := math.Abs(float64(got) - want); d > 2*u {
			t.Fatalf("Neg(%v) = %v, want %v (off %.2f ulp)", x, got, want, d/u)
		}
	}
}
