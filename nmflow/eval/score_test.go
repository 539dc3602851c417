package eval

import (
	"math"
	"math/rand/v2"
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
	inf := math.Float32frombits(0x7f800000) // +Inf as an input (infinite logits): the checks below are exact
	if sumExp([]float32{-inf, 0}, 0) != 1 || !math.IsNaN(sumExp([]float32{inf}, inf)) || !math.IsNaN(sumExp([]float32{0, float32(math.NaN())}, 0)) {
		t.Fatal("sumExp with -Inf, Inf or NaN")
	}
	// Rows of ten, as the evaluator's (eight lanes and a scalar tail where the build has AVX2).
	row := []float32{-100, -3, -2.5, -1, 0, -0.25, -7, -86, -88, -0.5}
	var want float64
	for _, v := range row {
		if v >= -87 {
			want += math.Exp(float64(v))
		}
	}
	if got := sumExp(row, 0); math.Abs(got-want) > 1e-6*want {
		t.Fatalf("sumExp of a row of ten = %g, want %g", got, want)
	}
	for i, bad := range []float32{float32(math.NaN()), inf} {
		r := append([]float32(nil), row...)
		r[3+i] = bad // in the vector part; the row's maximum is m (+Inf for the infinite one)
		if !math.IsNaN(sumExp(r, max(0, bad))) {
			t.Fatalf("sumExp with %v at %d is not NaN", bad, 3+i)
		}
	}
	r := append([]float32(nil), row...)
	r[2] = -inf
	if got := sumExp(r, 0); math.Abs(got-(want-math.Exp(-2.5))) > 1e-6*want {
		t.Fatalf("sumExp with −Inf in the vector part = %g", got)
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

// TestScoreBlocks checks the scoring of chunks long enough for eight examples at a time (score8
// where the build has AVX2) against float64 definitions: loss, correct predictions and predicted
// classes per model, with ties, a NaN logit, −Inf and +Inf logits and a label out of range in the
// vector part, and a scalar tail.
func TestScoreBlocks(t *testing.T) {
	const models, chunk, valid, classes = 3, 24, 21, 10
	r := rand.New(rand.NewPCG(11, 12))
	logits := make([]float32, models*chunk*classes)
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 4)
	}
	labels := make([]int32, valid)
	for i := range labels {
		labels[i] = int32(r.IntN(classes))
	}
	row := func(m, i int) []float32 { return logits[(m*chunk+i)*classes : (m*chunk+i+1)*classes] }
	copy(row(0, 2), []float32{5, 1, 5, 0, 0, 0, 0, 0, 0, 5}) // a tie: the first wins
	row(0, 9)[3] = -math.Float32frombits(0x7f800000)         // counts 0
	row(1, 4)[7] = float32(math.NaN())                       // model 1: NaN loss
	row(2, 6)[0] = math.Float32frombits(0x7f800000)          // model 2: NaN loss
	sumLoss, sumOK := make([]float64, models), make([]float64, models)
	pred := [][]int32{make([]int32, valid), make([]int32, valid), make([]int32, valid)}
	score(logits, labels, models, chunk, classes, sumLoss, sumOK, pred, 0)
	var loss, ok float64
	for i, y := range labels {
		z := row(0, i)
		best := 0
		var s float64
		for c, v := range z {
			if v > z[best] {
				best = c
			}
		}
		for _, v := range z {
			s += math.Exp(float64(v - z[best]))
		}
		loss += float64(z[best]) + math.Log(s) - float64(z[y])
		if int32(best) == y {
			ok++
		}
		if pred[0][i] != int32(best) {
			t.Fatalf("model 0, example %d: predicted %d, want %d", i, pred[0][i], best)
		}
	}
	if math.Abs(sumLoss[0]-loss) > 1e-5*math.Abs(loss) || sumOK[0] != ok {
		t.Fatalf("model 0: loss %g (want %g), correct %g (want %g)", sumLoss[0], loss, sumOK[0], ok)
	}
	if !math.IsNaN(sumLoss[1]) || !math.IsNaN(sumLoss[2]) {
		t.Fatalf("a NaN and a +Inf logit: losses %g and %g, want NaN", sumLoss[1], sumLoss[2])
	}
	labels[5] = classes // out of range
	sumLoss[0] = 0
	score(logits, labels, models, chunk, classes, sumLoss, sumOK, nil, 0)
	if !math.IsNaN(sumLoss[0]) {
		t.Fatalf("a label out of range: loss %g, want NaN", sumLoss[0])
	}
}
