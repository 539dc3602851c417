package spline

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFill fills x(t) and x'(t) for one run of the size of the MNIST MLP (P = 12,730) with
// 11 anchors: the per-example cost of building an MMFM minibatch on the host.
func BenchmarkFill(b *testing.B) {
	const n, p = 11, 12730
	knots := make([]float64, n)
	for k := range knots {
		knots[k] = float64(k) / (n - 1)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	anchors := make([][]float32, n)
	for k := range anchors {
		anchors[k] = make([]float32, p)
		for j := range anchors[k] {
			anchors[k][j] = float32(rng.NormFloat64())
		}
	}
	x, dx := make([]float32, p), make([]float32, p)
	for _, kind := range []Kind{Cubic, Linear} {
		basis, err := NewBasis(kind, knots)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * p * (n + 2)))
			for i := 0; b.Loop(); i++ {
				if err := basis.Fill(anchors, float64(i%997)/997, x, dx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
