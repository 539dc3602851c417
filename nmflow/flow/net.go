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
//	v = W_out·SiLU(LN(h))          (W_out starts at zero, so v = 0 at step 0)
//
// emb(t) is the sinusoidal embedding cos‖sin(1000·t·ω_i), ω_i = 10⁻⁴ᐟ⁽ⁱ/half⁾.
type NetConfig struct {
	Width   int `json:"width"`    // hidden width (default 256)
	Depth   int `json:"depth"`    // residual blocks (default 2)
	TimeDim int `json:"time_dim"` // time-embedding size, even (default 64)
	// CondDim is the size of an optional condition embedding concatenated to the input (0: none).
	// Reserved for conditional generation; unconditional models leave it 0.
	CondDim int `json:"cond_dim,omitempty"`
}

func (c NetConfig) withDefaults() NetConfig {
	if c.Width == 0 {
		c.Width = 256
	}
	if c.Depth == 0 {
		c.Depth = 2
	}
	if c.TimeDim == 0 {
		c.TimeDim = 64
	}
	return c
}

func (c NetConfig) validate() error {
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
	in := x.Shape().Dimensions[x.Rank()-1]
	b := 1 / math.Sqrt(float64(in))
	init := initializer.RandomUniformFn(scope, -b, b)
	if zero {
		init = initializer.Zero
	}
	w := scope.WithInitializer(init).VariableWithShape("weights", shapes.Make(dtypes.Float32, out, in)).NodeValue(x.Graph())
	bias := scope.WithInitializer(init).VariableWithShape("biases", shapes.Make(dtypes.Float32, out)).NodeValue(x.Graph())
	return nn.Dense(x, w, bias, compute.DenseLayoutOutputsInput)
}

func layerNorm(scope *model.Scope, x *Node) *Node {
	d := x.Shape().Dimensions[x.Rank()-1]
	g := x.Graph()
	gamma := scope.WithInitializer(initializer.One).VariableWithShape("gain", shapes.Make(dtypes.Float32, d)).NodeValue(g)
	beta := scope.WithInitializer(initializer.Zero).VariableWithShape("offset", shapes.Make(dtypes.Float32, d)).NodeValue(g)
	return nn.LayerNorm(x, []int{-1}, 1e-5, gamma, beta, nil)
}

// Velocity is the velocity network v(x, t; c): x [B,D], t [B], cond [B,CondDim] or nil → [B,D].
func Velocity(scope *model.Scope, cfg NetConfig, x, t, cond *Node) *Node {
	d := x.Shape().Dimensions[1]
	emb := TimeEmbedding(t, cfg.TimeDim)
	in := []*Node{x, emb}
	if cfg.CondDim > 0 {
		if cond == nil {
			cond = Zeros(x.Graph(), shapes.Make(dtypes.Float32, x.Shape().Dimensions[0], cfg.CondDim))
		}
		in = append(in, cond)
	}
	h := dense(scope.In("in"), Concatenate(in, -1), cfg.Width, false)
	for i := 0; i < cfg.Depth; i++ {
		blk := scope.In("block%d", i)
		a := swish(layerNorm(blk.In("norm"), h))
		a = Add(dense(blk.In("a"), a, cfg.Width, false), dense(blk.In("time"), emb, cfg.Width, false))
		h = Add(h, dense(blk.In("b"), swish(a), cfg.Width, false))
	}
	return dense(scope.In("out"), swish(layerNorm(scope.In("out_norm"), h)), d, true)
}

func swish(x *Node) *Node { return Mul(x, Sigmoid(x)) }
