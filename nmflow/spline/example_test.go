package spline_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/spline"
)

// Interpolate one run's checkpoints, each a vector of P = 2 weights, at t = 0.25: once per series
// and once batched through the shared Basis. The checkpoints lie on the cubic y = t³, which the
// not-a-knot spline reproduces exactly (x = 1/64, x' = 3/16).
func Example() {
	knots := []float64{0, 0.1, 0.5, 1}
	anchors := make([][]float32, len(knots)) // [K+1][P]
	for k, t := range knots {
		anchors[k] = []float32{float32(t * t * t), 1 - float32(t)}
	}

	basis, err := spline.NewBasis(spline.Cubic, knots)
	if err != nil {
		panic(err)
	}
	x, dx := make([]float32, 2), make([]float32, 2)
	if err := basis.Fill(anchors, 0.25, x, dx); err != nil {
		panic(err)
	}
	fmt.Printf("batched:    x = %.6f, x' = %.6f\n", x, dx)

	s, err := spline.New(knots, []float64{0, 0.001, 0.125, 1})
	if err != nil {
		panic(err)
	}
	fmt.Printf("per series: x = %.6f, x' = %.6f\n", s.Eval(0.25), s.Deriv(0.25))

	// With 4 knots the not-a-knot spline is the one cubic through the 4 points, so the weights are
	// the Lagrange basis polynomials at t, e.g. w_0 = (t−0.1)(t−0.5)(t−1)/((−0.1)(−0.5)(−1)).
	w := make([]float64, basis.NumKnots())
	basis.Weights(0.25, w, nil)
	fmt.Printf("weights at t = 0.25: %.4f\n", w)

	_, err = spline.New([]float64{0, 0.5, 0.5}, []float64{1, 2, 3})
	fmt.Println(err)
	// Output:
	// batched:    x = [0.015625 0.750000], x' = [0.187500 -1.000000]
	// per series: x = 0.015625, x' = 0.187500
	// weights at t = 0.25: [-0.5625 1.3021 0.2812 -0.0208]
	// spline: knots must be strictly increasing, but knots[2] = 0.5 follows knots[1] = 0.5
}
