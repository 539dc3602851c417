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
		vel := scope.In("vel")
		v, w = velocity(vel, cfg, in[0], in[1], nil)
		loss := ReduceAllSum(Square(Sub(v, in[2])))
		dIn, dOut := wideOf(w, vel, loss)
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

// The exported Velocity trains with plain autodiff: its wide-weight gradients equal the
// hand-formed ones of the training step.
func TestVelocityPlainAutodiff(t *testing.T) {
	be := testBackend(t)
	const b, d = 4, 12
	cfg := NetConfig{Width: 8, Depth: 1, TimeDim: 4}.withDefaults()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(2); err != nil {
		t.Fatal(err)
	}
	wide := func(g *Graph) []*Node {
		return []*Node{store.GetVariable("/vel/in/weights").NodeValue(g), store.GetVariable("/vel/out/weights").NodeValue(g)}
	}
	plain, err := model.NewExec(be, store, func(scope *model.Scope, in []*Node) []*Node {
		loss := ReduceAllSum(Square(Velocity(scope.In("vel"), cfg, in[0], in[1], nil)))
		return Gradient(loss, wide(loss.Graph())...)
	})
	if err != nil {
		t.Fatal(err)
	}
	hand, err := model.NewExec(be, store, func(scope *model.Scope, in []*Node) []*Node {
		vel := scope.In("vel")
		v, w := velocity(vel, cfg, in[0], in[1], nil)
		dIn, dOut := wideOf(w, vel, ReduceAllSum(Square(v)))
		return []*Node{dIn, dOut}
	})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, b*d)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	args := []any{tensors.FromFlatDataAndDimensions(x, b, d), tensors.FromFlatDataAndDimensions([]float32{0.1, 0.4, 0.6, 0.9}, b)}
	if _, err := plain.Exec(args...); err != nil { // creates the variables
		t.Fatal(err)
	}
	out := store.GetVariable("/vel/out/weights")
	ow := make([]float32, out.Shape().Size())
	for i := range ow {
		ow[i] = 0.05 * float32(i%7-3) // the output layer starts at zero, which would zero the input layer's gradient
	}
	if err := out.SetValue(tensors.FromFlatDataAndDimensions(ow, out.Shape().Dimensions...)); err != nil {
		t.Fatal(err)
	}
	a, err := plain.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hand.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"input", "output"} {
		pa, ha := tensors.MustCopyFlatData[float32](a[i]), tensors.MustCopyFlatData[float32](h[i])
		var worst, size float64
		for j := range pa {
			worst = math.Max(worst, math.Abs(float64(pa[j]-ha[j])))
			size = math.Max(size, math.Abs(float64(pa[j])))
		}
		if size == 0 || worst > 1e-4*size {
			t.Errorf("%s layer: plain autodiff vs hand-formed max |Δ| %g, max |g| %g", name, worst, size)
		}
	}
}

// wideOf is the two wide weights' gradients of loss as wide.gradients forms them.
func wideOf(w *wide, vel *model.Scope, loss *Node) (dIn, dOut *Node) {
	vars, grads := w.gradients(vel, loss)
	for i, v := range vars {
		switch v {
		case w.inW:
			dIn = grads[i]
		case w.outW:
			dOut = grads[i]
		}
	}
	return dIn, dOut
}
