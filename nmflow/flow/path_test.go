package flow

import (
	"math"
	"testing"
)

func TestLinearPath(t *testing.T) {
	x0 := []float32{1, 2, -1, 0}
	x1 := []float32{3, 2, 1, 4}
	tt := []float32{0.25, 1}
	eps := []float32{1, -1, 2, 0}
	xt, tg := make([]float32, 4), make([]float32, 4)
	linearPath(PredictVelocity, 0, x0, x1, tt, eps, xt, tg)
	want := []float32{1.5, 2, 1, 4}
	for i := range want {
		if xt[i] != want[i] || tg[i] != x1[i]-x0[i] {
			t.Fatalf("velocity path: x_t %v target %v", xt, tg)
		}
	}
	linearPath(PredictTarget, 0.5, x0, x1, tt, eps, xt, tg)
	for i := range want {
		if math.Abs(float64(xt[i]-(want[i]+0.5*eps[i]))) > 1e-6 || tg[i] != x1[i] {
			t.Fatalf("target path with noise: x_t %v target %v", xt, tg)
		}
	}
}
