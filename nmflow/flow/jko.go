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
// From fresh inits (the independent coupling) one explicit step per interval is a regression:
// the first step can only move a fresh draw by what it predicts of a run it knows nothing about
// (on issue 17's zoo the state after it was 0.53 accurate against 0.87 for the zoo's checkpoint
// 1). With JKOConfig.SubSteps = n the sampler splits each interval into n steps of τ/n and the
// fit evaluates ∇V at the n points of the chord x_j + (k/n)·(x_{j+1} − x_j) where those steps
// stand (the loss stays ‖τ·∇V + x_{j+1} − x_j‖²): as n grows, the sampler integrates a
// flow-matching field along the piecewise-linear path through the anchors, restricted to the
// gradient of a potential, and moves each net gradually towards one the zoo could hold.
//
// This file holds the potential and its configuration; the loss is jkoLoss (loss.go), the
// explicit sampler sampleJKO (sample.go), the consecutive pairs come from batch.go.

// JKOConfig sets NM-JKO's potential.
type JKOConfig struct {
	Tau float64 `json:"tau"` // step size τ (default 1; V absorbs the scale)
	// TimeDependent feeds the time embedding of the step's end point into V (V_ψ(x, t)).
	TimeDependent bool `json:"time_dependent,omitempty"`
	// Separable is the potential's per-coordinate part, the one that can move the coordinates
	// outside the MLP's Width-dimensional gradient span (see potential):
	//   - SeparableShift (the default): a linear term c_j·x per anchor interval j, picked by the
	//     step's index (a per-coordinate shift of step j by −τ·c_j);
	//   - SeparableInterval: c_j·x + ½·Σ d_ji·x_i² per interval;
	//   - SeparableShared: one c·x + ½·Σ d_i·x_i² for every step — what every fit made before the
	//     field existed holds; their model.json leaves the field out, and Load reads "" as shared.
	// On issue 17's zoo (docs/metamodel.md) shift measured best: the per-coordinate d shrinks a
	// fresh init's noise without adapting the rest of the net to it.
	Separable string `json:"separable,omitempty"`
	// SubSteps n > 1 splits each anchor interval into n explicit steps x ← x − (τ/n)·∇V(x, t_{j+1}),
	// and fits ∇V at the n points x_j + (k/n)·(x_{j+1} − x_j) of the chord, k = 0 … n−1, each drawn
	// with probability 1/n (the loss ‖τ·∇V + x_{j+1} − x_j‖² is the same at each). 0 or 1: one
	// step per interval, as every fit made before the field existed (Load reads 0 as 1); new fits
	// default to DefaultJKOSubSteps.
	SubSteps int `json:"sub_steps,omitempty"`
}

// Values of JKOConfig.Separable.
const (
	SeparableShift    = "shift"
	SeparableInterval = "interval"
	SeparableShared   = "shared"
)

// DefaultJKOSubSteps is the default JKOConfig.SubSteps: on issue 17's zoo one step per interval
// gave nets at 81% of the zoo's accuracy, 10 sub-steps 84%, 30 the same (docs/metamodel.md).
const DefaultJKOSubSteps = 10

// separableScale multiplies the per-interval separable variables (they store c_j/10, d_j/10):
// AdamW moves a parameter by about lr per step, so at lr 3·10⁻³ a few hundred steps left c_j and
// d_j at ≈ 0.2 where the fit wanted d_0 = 0.25 and |c_j| up to 1.2; ×10 gives them ten times the
// learning rate. The shared terms of older fits keep scale 1.
const separableScale = 10

func (c JKOConfig) withDefaults() JKOConfig {
	if c.Tau == 0 {
		c.Tau = 1
	}
	if c.Separable == "" {
		c.Separable = SeparableShift
	}
	if c.SubSteps == 0 {
		c.SubSteps = DefaultJKOSubSteps
	}
	return c
}

func (c JKOConfig) validate() error {
	if !(c.Tau > 0) || math.IsInf(c.Tau, 0) {
		return fmt.Errorf("flow: jko tau must be > 0, got %v", c.Tau)
	}
	if c.SubSteps < 0 {
		return fmt.Errorf("flow: jko sub-steps must be ≥ 0, got %d", c.SubSteps)
	}
	if c.Separable != SeparableShift && c.Separable != SeparableInterval && c.Separable != SeparableShared {
		return fmt.Errorf("flow: unknown jko separable term %q (want %s, %s or %s)", c.Separable, SeparableShift, SeparableInterval, SeparableShared)
	}
	return nil
}

// potential returns V(x, t) [B] and ∇_x V [B,D] of a softplus MLP with Net.Width units and
// Net.Depth hidden layers after the first, plus a separable term (JKOConfig.Separable):
// V = w·softplus(a_L) + b + c·x [+ ½·Σ d_i·x_i²], a_{l+1} = W_l·softplus(a_l) + b_l,
// a_1 = W_in·x (+ W_t·emb(t)) + b_in. The MLP's gradient W_inᵀ·δ lies in a Width-dimensional
// subspace of the D weights, so on its own it cannot shift every coordinate of a fresh init
// by the zoo's displacement; c (+ d ⊙ x), D parameters each starting at zero, can.
//
// times are the anchor times t_0 < … < t_K; with SeparableShift and SeparableInterval the terms
// of interval j (c_j, d_j: rows of [K, D] variables) are taken for rows whose t is t_{j+1}.
func potential(scope *model.Scope, cfg Config, x, t *Node, times []float64) (v, grad *Node) {
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
	var sepGrad *Node
	switch cfg.JKO.Separable {
	case SeparableShift, SeparableInterval:
		// One row per interval of [K, D] variables, gathered by each row's interval index.
		k := len(times) - 1
		idx := intervalIndex(t, times)
		row := func(name string) *Node {
			return MulScalar(Gather(sep.VariableWithShape(name, shapes.Make(dtypes.Float32, k, d)).NodeValue(g), idx), separableScale)
		}
		lin := row("linear")
		sepV := Mul(lin, x)
		sepGrad = lin
		if cfg.JKO.Separable == SeparableInterval {
			quad := row("quadratic")
			sepV = Add(sepV, MulScalar(Mul(quad, Square(x)), 0.5))
			sepGrad = Add(sepGrad, Mul(quad, x))
		}
		v = Add(v, ReduceSum(sepV, 1))
	default: // SeparableShared, or "" in a model.json written before the field existed
		lin := InsertAxes(sep.VariableWithShape("linear", shapes.Make(dtypes.Float32, d)).NodeValue(g), 0)
		quad := InsertAxes(sep.VariableWithShape("quadratic", shapes.Make(dtypes.Float32, d)).NodeValue(g), 0)
		v = Add(v, ReduceSum(Add(Mul(lin, x), MulScalar(Mul(quad, Square(x)), 0.5)), 1))
		sepGrad = Add(lin, Mul(quad, x))
	}
	// Backward by hand: δ_L = w ⊙ σ(a_L), δ_l = (W_lᵀ·δ_{l+1}) ⊙ σ(a_l), ∇_x V = W_inᵀ·δ_1.
	delta := Mul(Sigmoid(pre[len(pre)-1]), wo)
	for i := net.Depth - 1; i >= 0; i-- {
		delta = Mul(DotGeneral(delta, []int{1}, nil, ws[i], []int{0}, nil), Sigmoid(pre[i]))
	}
	return v, Add(DotGeneral(delta, []int{1}, nil, win, []int{0}, nil), sepGrad)
}

// intervalIndex maps each row's step end time t [B] (one of times[1:]) to its interval index j
// ([B, 1] int32, for Gather): the number of midpoints between consecutive end times below t.
func intervalIndex(t *Node, times []float64) *Node {
	g := t.Graph()
	idx := Zeros(g, shapes.Make(dtypes.Int32, t.Shape().Dimensions...))
	for j := 1; j+1 < len(times); j++ {
		mid := Scalar(g, t.DType(), (times[j]+times[j+1])/2)
		idx = Add(idx, ConvertDType(GreaterThan(t, mid), dtypes.Int32))
	}
	return InsertAxes(idx, -1)
}
