package zoo

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// stepGraph builds one training step for R models at once. Inputs: x, y, idx [R,B] int32,
// scale, shift ([D], standardization), params [R,P], state1 [R,P], state2 [R,P], a, b (float32
// scalars, meaning depends on the optimizer). Outputs: params', state1', state2', loss [R].
func stepGraph(net arch.Net, cfg Config, inputShape []int) func(in []*Node) []*Node {
	d := 1
	for _, v := range inputShape {
		d *= v
	}
	return func(in []*Node) []*Node {
		x, y, idx, scale, shift, params, s1, s2, a, b := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9]
		r, bs := idx.Shape().Dimensions[0], idx.Shape().Dimensions[1]
		idx3 := InsertAxes(idx, -1)
		parts := arch.SplitParams(params, net.Layout())
		fwd := parts
		var px *Node
		if first := net.Layout().Segments[0]; cfg.Standardize || first.Size() >= bs*d {
			px = feed.Pixels(x, idx3, scale, shift, d, cfg.Standardize)
		} else {
			// The first layer is linear in its input, W·(x/255) = (W/255)·x, and its weight
			// (segment 0) is smaller than a model's minibatch: one pass over it instead.
			px = feed.Raw(x, idx3, d)
			fwd = append(arch.Parts{MulScalar(parts[0], 1.0/255)}, parts[1:]...)
		}
		px = Reshape(px, append([]int{r, bs}, inputShape...)...)
		logits := net.ForwardParts(fwd, px)                                                        // [R,B,C]
		perRun := DivScalar(ReduceSum(arch.CrossEntropy(logits, Gather(y, idx3)), 1), float64(bs)) // [R]
		// Summing over runs keeps each run's gradient exactly its own mean-loss gradient. The
		// gradient is taken per layer and joined once: through the slicing it would be one
		// zero-padded [R,P] copy per layer, summed.
		grad := arch.JoinParts(Gradient(ReduceAllSum(perRun), parts...))
		if cfg.WeightDecay > 0 {
			grad = Add(grad, MulScalar(params, cfg.WeightDecay))
		}
		switch cfg.Optimizer {
		case "adam":
			// PyTorch Adam with the bias corrections folded into a = lr·√(1−β2ᵗ)/(1−β1ᵗ) and
			// b = ε·√(1−β2ᵗ), computed on the host: p −= a·m/(√v + b).
			m := Add(MulScalar(s1, adamB1), MulScalar(grad, 1-adamB1))
			v := Add(MulScalar(s2, adamB2), MulScalar(Square(grad), 1-adamB2))
			params = Sub(params, Mul(a, Div(m, Add(Sqrt(v), b))))
			return []*Node{params, m, v, perRun}
		default: // "sgd", PyTorch semantics: buf = μ·buf + g; p −= lr·buf.
			if cfg.Momentum > 0 {
				s1 = Add(MulScalar(s1, cfg.Momentum), grad)
				params = Sub(params, Mul(a, s1))
			} else {
				params = Sub(params, Mul(a, grad))
			}
			return []*Node{params, s1, s2, perRun}
		}
	}
}

const (
	adamB1  = 0.9
	adamB2  = 0.999
	adamEps = 1e-8
)
