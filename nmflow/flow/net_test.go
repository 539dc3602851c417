package flow

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// The hand-formed gradients of the two wide layers must be the derivative of the loss: compare
// them with a central finite difference along a random direction.
func TestWideGradientsMatchFiniteDifferences(t *testing.T) {
	be := testBackend(t)
	const b, d = 8, 30
	cfg := NetConfig{Width: 16, Depth: 1, TimeDim: 8}.withDefaults()
	rng := rand.New(rand.NewPCG(3, 4))
	randn := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(s * rng.NormFloat64())
		}
		return v
	}
	x, target, tt := randn(b*d, 1), randn(b*d, 1), make([]float32, b)
	for i := range tt {
		tt[i] = rng.Float32()
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil {
		t.Fatal(err)
	}
	var w *wide
	exec, err := model.NewExec(be, store, func(scope *model.Scope, in []*Node) []*Node {
		var v *Node
		v, w = velocity(scope.In("vel"), cfg, in[0], in[1], nil)
		loss := ReduceAllSum(Square(Sub(v, in[2])))
		grads := Gradient(loss, w.inOut, w.out)
		dIn, dOut := w.wideGradients(grads[0], grads[1])
		return []*Node{loss, dIn, dOut}
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func() []*tensors.Tensor {
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, b, d), tensors.FromFlatDataAndDimensions(tt, b),
			tensors.FromFlatDataAndDimensions(target, b, d))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	run() // creates the variables; W_out starts at zero, which would hide W_in's gradient
	inW := tensors.MustCopyFlatData[float32](w.inW.MustValue())
	outW := randn(w.outW.Shape().Size(), 0.3)
	set := func(v *model.Variable, base, dir []float32, eps float32) {
		vals := make([]float32, len(base))
		for i := range vals {
			vals[i] = base[i] + eps*dir[i]
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
	dirIn, dirOut := randn(len(inW), 1), randn(len(outW), 1)
	set(w.inW, inW, dirIn, 0)
	set(w.outW, outW, dirOut, 0)
	out := run()
	dIn, dOut := tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
	var analytic float64
	for i := range dIn {
		analytic += float64(dIn[i]) * float64(dirIn[i])
	}
	for i := range dOut {
		analytic += float64(dOut[i]) * float64(dirOut[i])
	}
	const eps = 1e-3
	loss := func(s float32) float64 {
		set(w.inW, inW, dirIn, s)
		set(w.outW, outW, dirOut, s)
		return float64(tensors.MustCopyFlatData[float32](run()[0])[0])
	}
	numeric := (loss(eps) - loss(-eps)) / (2 * eps)
	if math.Abs(analytic) < 1 || math.Abs(numeric-analytic) > 1e-2*math.Abs(analytic) {
		t.Fatalf("directional derivative: hand-formed gradients give %.5f, finite differences %.5f", analytic, numeric)
	}
}
