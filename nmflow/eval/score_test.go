package eval

import (
	"math"
	"testing"
)

func TestSumExp(t *testing.T) {
	for x := float32(-90); x <= 0; x += 0.0137 {
		want := math.Exp(float64(x))
		got := sumExp([]float32{x}, 0)
		if math.Abs(got-want) > 3e-7*want+2e-38 { // below e^-87 (float32 subnormals) it counts 0
			t.Fatalf("sumExp([%g], 0) = %g, want %g", x, got, want)
		}
	}
	if got := sumExp([]float32{1, 2, 3}, 3); math.Abs(got-(math.Exp(-2)+math.Exp(-1)+1)) > 1e-6 {
		t.Fatalf("sumExp([1 2 3], 3) = %g", got)
	}
	inf := float32(math.Inf(1)) // an input (infinite logits), not a tolerance: the checks below are exact
	if sumExp([]float32{-inf, 0}, 0) != 1 || !math.IsNaN(sumExp([]float32{inf}, inf)) || !math.IsNaN(sumExp([]float32{0, float32(math.NaN())}, 0)) {
		t.Fatal("sumExp with -Inf, Inf or NaN")
	}
}

// TestScore checks the host-side scoring against the definitions: loss −log softmax(z)_y, a
// prediction the first largest logit, NaN logits a NaN loss.
func TestScore(t *testing.T) {
	logits := []float32{
		1, 2, 0.5, // model 0, example 0: argmax 1
		3, 3, -1, // example 1: tie, first wins
		0, 0, 0, // padding, not scored
		float32(math.NaN()), 0, 0, // model 1, example 0
		-2, 5, 1,
		0, 0, 0,
	}
	labels := []int32{1, 1}
	sumLoss, sumOK := make([]float64, 2), make([]float64, 2)
	pred := [][]int32{make([]int32, 2), make([]int32, 2)}
	score(logits, labels, 2, 3, 3, sumLoss, sumOK, pred, 0)
	lse := func(z ...float64) float64 {
		var s float64
		for _, v := range z {
			s += math.Exp(v)
		}
		return math.Log(s)
	}
	want := lse(1, 2, 0.5) - 2 + lse(3, 3, -1) - 3
	if math.Abs(sumLoss[0]-want) > 1e-5 || sumOK[0] != 1 || pred[0][0] != 1 || pred[0][1] != 0 {
		t.Fatalf("model 0: loss %g (want %g), correct %g (want 1), pred %v (want [1 0])", sumLoss[0], want, sumOK[0], pred[0])
	}
	if !math.IsNaN(sumLoss[1]) {
		t.Fatalf("model 1 has a NaN logit: loss %g, want NaN", sumLoss[1])
	}
}
