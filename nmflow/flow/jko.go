package flow

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// NM-JKO(k) (METHODS.md §4, after JKOnet*): a scalar potential V_ψ(x[, t]) whose gradient moves
// one checkpoint to the next. JKOnet*'s first-order optimality condition of the JKO step
// ρ_{k+1} = argmin F(ρ) + W₂²(ρ, ρ_k)/(2τ) puts ∇V at the *next* point (an implicit step), but
// sampling takes explicit steps x ← x − τ·∇V(x) from a source draw, one per checkpoint interval,
// and would then evaluate V where it was never trained (measured: nets no better than an init
// plus the mean displacement). So the loss is the explicit step's, on coupled pairs:
//
//	‖τ·∇V(x_k) + x_{k+1} − x_k‖²      (∇V at the point the sampler stands on),
//
// with V(·, t_{k+1}) when time-dependent. JKO(k) knows only its k + 1 time points. ∇_x V is formed in the graph by hand
// (backpropagation through the MLP written out), so the fit needs first-order autodiff only.
//
// This file holds the potential and its configuration; the loss is jkoLoss (loss.go), the
// explicit sampler sampleJKO (sample.go), the consecutive pairs come from batch.go.

// JKOConfig sets NM-JKO's potential.
type JKOConfig struct {
	Tau float64 `json:"tau"` // step size τ (default 1; V absorbs the scale)
	// TimeDependent feeds the time embedding of the step's end point into V (V_ψ(x, t)).
	TimeDependent bool `json:"time_dependent,omitempty"`
}

func (c JKOConfig) withDefaults() JKOConfig {
	if c.Tau == 0 {
		c.Tau = 1
	}
	return c
}

func (c JKOConfig) validate() error {
	if !(c.Tau > 0) || math.IsInf(c.Tau, 0) {
		return fmt.Errorf("flow: jko tau must be > 0, got %v", c.Tau)
	}
	return nil
}

// potential returns V(x, t) [B] and ∇_x V [B,D] of a softplus MLP with Net.Width units and
// Net.Depth hidden layers after the first, plus a separable quadratic:
// V = w·softplus(a_L) + b + c·x + ½·Σ d_i·x_i², a_{l+1} = W_l·softplus(a_l) + b_l,
// a_1 = W_in·x (+ W_t·emb(t)) + b_in. The MLP's gradient W_inᵀ·δ lies in a Width-dimensional
// subspace of the D weights, so on its own it cannot pull every coordinate of a fresh init
// towards the trained nets; c + d ⊙ x (2·D parameters, starting at zero) can.
func potential(scope *model.Scope, cfg Config, x, t *Node) (v, grad *Node) {
	g := x.Graph()
	net := cfg.Net
	wIn, bIn := denseVars(scope.In("in"), x.Shape().Dimensions[1], net.Width, false)
	win := wIn.NodeValue(g)
	a := Add(DotGeneral(x, []int{1}, nil, win, []int{1}, nil), InsertAxes(bIn.NodeValue(g), 0))
	if cfg.JKO.TimeDependent {
		a = Add(a, dense(scope.In("time"), TimeEmbedding(t, net.TimeDim), net.Width, false))
	}
	pre := []*Node{a}
	var ws []*Node
	for i := 0; i < net.Depth; i++ {
		w, b := denseVars(scope.In("block%d", i), net.Width, net.Width, false)
		ws = append(ws, w.NodeValue(g))
		a = Add(DotGeneral(Softplus(a), []int{1}, nil, ws[i], []int{1}, nil), InsertAxes(b.NodeValue(g), 0))
		pre = append(pre, a)
	}
	wOut, bOut := denseVars(scope.In("out"), net.Width, 1, false)
	wo := wOut.NodeValue(g) // [1, Width]
	v = Reshape(Add(DotGeneral(Softplus(a), []int{1}, nil, wo, []int{1}, nil), InsertAxes(bOut.NodeValue(g), 0)), -1)
	d := x.Shape().Dimensions[1]
	sep := scope.In("separable").WithInitializer(initializer.Zero)
	lin := InsertAxes(sep.VariableWithShape("linear", shapes.Make(dtypes.Float32, d)).NodeValue(g), 0)
	quad := InsertAxes(sep.VariableWithShape("quadratic", shapes.Make(dtypes.Float32, d)).NodeValue(g), 0)
	v = Add(v, ReduceSum(Add(Mul(lin, x), MulScalar(Mul(quad, Square(x)), 0.5)), 1))
	sepGrad := Add(lin, Mul(quad, x))
	// Backward by hand: δ_L = w ⊙ σ(a_L), δ_l = (W_lᵀ·δ_{l+1}) ⊙ σ(a_l), ∇_x V = W_inᵀ·δ_1.
	delta := Mul(Sigmoid(pre[len(pre)-1]), wo)
	for i := net.Depth - 1; i >= 0; i-- {
		delta = Mul(DotGeneral(delta, []int{1}, nil, ws[i], []int{0}, nil), Sigmoid(pre[i]))
	}
	return v, Add(DotGeneral(delta, []int{1}, nil, win, []int{0}, nil), sepGrad)
}
