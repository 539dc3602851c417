package arch

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// CrossEntropy and LogSumExp against float64 references, gradients included, on logits with
// ordinary values, a gap of 200 (where softmax underflows to 0), ties, and a broadcast label row.
func TestCrossEntropyMatchesReference(t *testing.T) {
	be := testBackend(t)
	const r, b, c = 2, 3, 4
	logits := []float32{
		0.1, -0.5, 2, 0.3, 1, 1, 1, 1, -3, 0, 3, 0.5,
		200, 0, -1, 3, -7, 0.25, 0.25, -7, 5, -5, 5, -5,
	}
	labels := []int32{2, 1, 0}
	exec := MustNewExec(be, func(x, y *Node) []*Node {
		ce := CrossEntropy(x, InsertAxes(y, 0)) // [R,B]
		lse := LogSumExp(x)
		grad := Gradient(ReduceAllSum(ce), x)[0]
		return []*Node{ce, lse, grad, Correct(x, InsertAxes(y, 0))}
	})
	out := exec.MustExec(tensors.FromFlatDataAndDimensions(logits, r, b, c), tensors.FromFlatDataAndDimensions(labels, b))
	ce, lse := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	grad, hits := tensors.MustCopyFlatData[float32](out[2]), tensors.MustCopyFlatData[float32](out[3])
	for i := range r * b {
		row := logits[i*c : (i+1)*c]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		want := m + math.Log(s)
		y := int(labels[i%b])
		if d := math.Abs(float64(lse[i]) - want); d > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("row %d: logsumexp %v, want %v", i, lse[i], want)
		}
		if d := math.Abs(float64(ce[i]) - (want - float64(row[y]))); d > 1e-5*math.Max(1, want) {
			t.Errorf("row %d: cross-entropy %v, want %v", i, ce[i], want-float64(row[y]))
		}
		arg := 0
		for k := range row {
			p := math.Exp(float64(row[k])-m) / s
			if k == y {
				p--
			}
			if math.Abs(float64(grad[i*c+k])-p) > 1e-6 {
				t.Errorf("row %d: gradient[%d] %v, want %v", i, k, grad[i*c+k], p)
			}
			if row[k] > row[arg] {
				arg = k
			}
		}
		if (arg == y) != (hits[i] == 1) {
			t.Errorf("row %d: correct %v, argmax %d, label %d", i, hits[i], arg, y)
		}
	}
}
