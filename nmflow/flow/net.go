package flow

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"
)

// NetConfig sizes the velocity network: a residual MLP with LayerNorm and SiLU.
//
//	h = W_in·[x ‖ emb(t) ‖ c]
//	repeat Depth: h += W_b·SiLU(W_a·SiLU(LN(h)) + W_t·emb(t))
//	v = W_out·SiLU(LN(h)) + c(t) ⊙ x   (W_out and c start at zero: v = 0 at step 0)
//	c(t) = d + E·emb(t)                 (Skip = SkipDiag; see velocity)
//
// emb(t) is the sinusoidal embedding cos‖sin(1000·t·ω_i), ω_i = 10⁻⁴ᐟ⁽ⁱ/half⁾.
type NetConfig struct {
	Width   int `json:"width"`    // hidden width (default 128)
	Depth   int `json:"depth"`    // residual blocks (default 1)
	TimeDim int `json:"time_dim"` // time-embedding size, even (default 64)
	// CondDim is the size of an optional condition embedding concatenated to the input (0: none).
	// Reserved for conditional generation; unconditional models leave it 0.
	CondDim int `json:"cond_dim,omitempty"`
	// Skip adds a per-coordinate term to the output: SkipDiag, or none (the default, stored as "";
	// SkipNone is accepted and normalized to it).
	Skip string `json:"skip,omitempty"`
}

// Output skip terms of the velocity network (NetConfig.Skip).
const (
	SkipNone = "none"
	SkipDiag = "diag"
)

func (c NetConfig) withDefaults() NetConfig {
	// 128 × 1 (6.5M parameters at P = 25,450, most of them in the two P-wide layers): with
	// endpoint prediction it matched 256 × 2 on MNIST zoos at a third of the time per step.
	if c.Width == 0 {
		c.Width = 128
	}
	if c.Depth == 0 {
		c.Depth = 1
	}
	if c.TimeDim == 0 {
		c.TimeDim = 64
	}
	if c.Skip == SkipNone {
		// None is stored as "" (omitted), as in every model.json written before the field
		// existed, so that those fits still resume and are reused. Not SkipDiag by default: on
		// issue 17's zoo it lifts the default fit from 0.861 to 0.910 accuracy by copying the
		// training nets (nearest-neighbour distance 5.78 → 0.17); docs/metamodel.md.
		c.Skip = ""
	}
	return c
}

func (c NetConfig) validate() error {
	if c.Skip != "" && c.Skip != SkipNone && c.Skip != SkipDiag {
		return fmt.Errorf("flow: unknown network skip %q (want %s or %s)", c.Skip, SkipDiag, SkipNone)
	}
	if c.Width < 1 || c.Depth < 0 || c.TimeDim < 2 || c.TimeDim%2 != 0 || c.CondDim < 0 {
		return fmt.Errorf("flow: bad network size %+v (width ≥ 1, depth ≥ 0, even time_dim ≥ 2)", c)
	}
	return nil
}

// TimeEmbedding returns cos‖sin(1000·t·ω) for t [B] → [B, dim].
func TimeEmbedding(t *Node, dim int) *Node {
	half := dim / 2
	freqs := make([]float32, half)
	for i := range freqs {
		freqs[i] = float32(1000 * math.Exp(-math.Log(1e4)*float64(i)/float64(half)))
	}
	args := Mul(InsertAxes(t, -1), InsertAxes(Const(t.Graph(), freqs), 0))
	return Concatenate([]*Node{Cos(args), Sin(args)}, -1)
}

// dense is a Linear layer with PyTorch's [out,in] weight layout (cheaper gradients on the Go
// backend) and PyTorch's default init U(±1/√in), or zeros when zero is set.
func dense(scope *model.Scope, x *Node, out int, zero bool) *Node {
	w, bias := denseVars(scope, x.Shape().Dimensions[x.Rank()-1], out, zero)
	return nn.Dense(x, w.NodeValue(x.Graph()), bias.NodeValue(x.Graph()), compute.DenseLayoutOutputsInput)
}

// denseVars creates (or finds) a Linear layer's weights [out,in] and bias [out].
func denseVars(scope *model.Scope, in, out int, zero bool) (w, bias *model.Variable) {
	b := 1 / math.Sqrt(float64(in))
	init := initializer.RandomUniformFn(scope, -b, b)
	if zero {
		init = initializer.Zero
	}
	scope = scope.WithInitializer(init)
	w = scope.VariableWithShape("weights", shapes.Make(dtypes.Float32, out, in))
	bias = scope.VariableWithShape("biases", shapes.Make(dtypes.Float32, out))
	return w, bias
}

func layerNorm(scope *model.Scope, x *Node) *Node {
	d := x.Shape().Dimensions[x.Rank()-1]
	g := x.Graph()
	gamma := scope.WithInitializer(initializer.One).VariableWithShape("gain", shapes.Make(dtypes.Float32, d)).NodeValue(g)
	beta := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", shapes.Make(dtypes.Float32, d)).NodeValue(g)
	return nn.LayerNorm(x, []int{-1}, 1e-5, gamma, beta, nil)
}

// Velocity is the velocity network v(x, t; c): x [B,D], t [B], cond [B,CondDim] or nil → [B,D].
// Plain autodiff works through it; the training step forms the gradients of its two widest
// layers itself (see wide and Model.FieldGradients), which is faster on the Go backend.
func Velocity(scope *model.Scope, cfg NetConfig, x, t, cond *Node) *Node {
	v, _ := velocity(scope, cfg, x, t, cond)
	return v
}

// wide holds the nodes of the two layers whose size grows with the number of base-network
// parameters D, so that the training step can form their weight gradients itself (see
// gradients): autodiff's generic rule would copy D-sized tensors several times per step.
type wide struct {
	inX       *Node           // [B, D+TimeDim(+CondDim)]: the first layer's input
	inOut     *Node           // [Width, B]: W_in·inXᵀ, before the bias
	outX      *Node           // [B, Width]: the last layer's input
	out       *Node           // [B, D]: the network output
	inW, outW *model.Variable // [Width, D+…] and [D, Width]
}

// velocity builds the network and returns, besides its output, the nodes the gradients of its
// two wide weights are formed from (wide.gradients).
func velocity(scope *model.Scope, cfg NetConfig, x, t, cond *Node) (*Node, *wide) {
	g := x.Graph()
	d := x.Shape().Dimensions[1]
	emb := TimeEmbedding(t, cfg.TimeDim)
	in := []*Node{x, emb}
	if cfg.CondDim > 0 {
		if cond == nil {
			cond = Zeros(g, shapes.Make(dtypes.Float32, x.Shape().Dimensions[0], cfg.CondDim))
		}
		in = append(in, cond)
	}
	w := &wide{inX: Concatenate(in, -1)}
	// The first layer as W·xᵀ ([Width,B]).
	var inB *model.Variable
	w.inW, inB = denseVars(scope.In("in"), w.inX.Shape().Dimensions[1], cfg.Width, false)
	w.inOut = DotGeneral(w.inW.NodeValue(g), []int{1}, nil, w.inX, []int{1}, nil)
	h := Add(Transpose(w.inOut, 0, 1), InsertAxes(inB.NodeValue(g), 0))
	for i := 0; i < cfg.Depth; i++ {
		blk := scope.In("block%d", i)
		a := swish(layerNorm(blk.In("norm"), h))
		a = Add(dense(blk.In("a"), a, cfg.Width, false), dense(blk.In("time"), emb, cfg.Width, false))
		h = Add(h, dense(blk.In("b"), swish(a), cfg.Width, false))
	}
	w.outX = swish(layerNorm(scope.In("out_norm"), h))
	var outB *model.Variable
	w.outW, outB = denseVars(scope.In("out"), cfg.Width, d, true)
	w.out = nn.Dense(w.outX, w.outW.NodeValue(g), outB.NodeValue(g), compute.DenseLayoutOutputsInput)
	if cfg.Skip != SkipDiag {
		return w.out, w
	}
	// W_out·s spans only Width directions of the D weights, so on its own the flow cannot move a
	// fresh draw's coordinates outside them: a generated net kept its init's noise there. A
	// per-coordinate term c(t) ⊙ x, c(t) = d + E·emb(t) (zero at step 0), can.
	sk := scope.In("skip").WithInitializer(initializer.Zero)
	diag := sk.VariableWithShape("diag", shapes.Make(dtypes.Float32, d)).NodeValue(g)
	byTime := sk.VariableWithShape("time", shapes.Make(dtypes.Float32, cfg.TimeDim, d)).NodeValue(g)
	coef := Add(InsertAxes(diag, 0), DotGeneral(emb, []int{1}, nil, byTime, []int{0}, nil))
	return Add(w.out, Mul(coef, x)), w
}

// gradients returns the trainable variables of vel used by loss's graph (trainable's order) and
// the gradients of loss with respect to them. Autodiff forms all but the two wide weights'; those
// come from the gradients of their layers' outputs, each one matmul in the backend's native
// layouts: dW_in = d(inOut)·inX needs no transpose at all, dW_out = d(out)ᵀ·outX one of the [B,D]
// gradient. (Autodiff never forms the wide weights' gradients: nothing asks for them.)
func (w *wide) gradients(vel *model.Scope, loss *Node) ([]*model.Variable, []*Node) {
	g := loss.Graph()
	others := trainable(vel, g, w.inW, w.outW)
	n := len(others)
	gs := Gradient(loss, append(varNodes(others, g), w.inOut, w.out)...)
	byVar := map[*model.Variable]*Node{
		w.inW:  DotGeneral(gs[n], []int{1}, nil, w.inX, []int{0}, nil),
		w.outW: DotGeneral(gs[n+1], []int{0}, nil, w.outX, []int{0}, nil),
	}
	for i, o := range others {
		byVar[o] = gs[i]
	}
	vars := trainable(vel, g)
	grads := make([]*Node, len(vars))
	for i, v := range vars {
		grads[i] = byVar[v]
	}
	return vars, grads
}

func swish(x *Node) *Node { return Mul(x, Sigmoid(x)) }
