package adjoint

import (
	"fmt"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// Reward is a differentiable reward r(θ) of raw base-net weights θ [N,P] (after the decoder,
// see Options.Decoder). Its gradient is taken by autodiff through Graph.
type Reward interface {
	// Name labels logs and the saved result, e.g. "ce:fashion-mnist".
	Name() string
	// Metrics names the extra per-net values Graph returns besides r, for logging (e.g.
	// "accuracy"); nil when there are none.
	Metrics() []string
	// Inputs returns the extra graph inputs of one iteration (e.g. a minibatch), drawn with rng
	// (the iteration's own stream, so runs are reproducible). Shapes must not change between
	// iterations: the graph is compiled once.
	Inputs(rng *rand.Rand) ([]*tensors.Tensor, error)
	// Graph returns r(θ) [N] and one [N] node per metric, from theta [N,P] and the nodes of Inputs.
	Graph(theta *Node, in []*Node) (r *Node, metrics []*Node)
}

// Func is a user-defined reward with no inputs and no metrics: r = F(θ), F a differentiable
// graph function from [N,P] to [N].
type Func struct {
	Label string
	F     func(theta *Node) *Node
}

// Name returns f.Label.
func (f Func) Name() string { return f.Label }

// Metrics returns nil: a Func reports no metrics.
func (f Func) Metrics() []string { return nil }

// Inputs returns nil: a Func needs no inputs.
func (f Func) Inputs(*rand.Rand) ([]*tensors.Tensor, error) { return nil, nil }

// Graph returns F(θ).
func (f Func) Graph(theta *Node, _ []*Node) (*Node, []*Node) { return f.F(theta), nil }

// Linear is the reward r(θ) = aᵀθ. For a base law N(μ, Σ) the tilted law p_base·exp(λr) is
// N(μ + λΣa, Σ), the closed form the tests check fine-tuning against.
func Linear(a []float32) Func {
	a = append([]float32(nil), a...)
	return Func{Label: fmt.Sprintf("linear%v", a), F: func(theta *Node) *Node {
		return ReduceSum(Mul(theta, InsertAxes(Const(theta.Graph(), a), 0)), -1)
	}}
}

// CrossEntropy is the default reward: r(θ) = −(mean cross-entropy) of the base net with weights
// θ on a minibatch drawn afresh each iteration from a dataset split; it logs the minibatch
// accuracy. Each iteration's minibatch gives an unbiased estimate of ∇r, and the adjoint is
// linear in ∇r, so the regression target stays unbiased.
type CrossEntropy struct {
	net     arch.Net
	im      *feed.Images
	norm    *feed.Norm
	shape   []int
	batch   int
	dataset string
}

// NewCrossEntropy prepares the reward of net on split (dataset names it in logs). norm maps pixels
// to inputs as the base nets were trained (nil: pixels/255); batch is the minibatch size
// (default 256).
func NewCrossEntropy(net arch.Net, dataset string, split data.Split, norm *feed.Norm, batch int) (*CrossEntropy, error) {
	shape := net.Spec().Input
	d := 1
	for _, s := range shape {
		d *= s
	}
	if batch == 0 {
		batch = 256
	}
	if batch < 1 {
		return nil, fmt.Errorf("adjoint: reward minibatch must be ≥ 1, got %d", batch)
	}
	if split.N == 0 || len(split.Images) != split.N*d {
		return nil, fmt.Errorf("adjoint: %s split holds %d examples of %d values, the net wants %v inputs", dataset, split.N, len(split.Images)/max(split.N, 1), shape)
	}
	for _, l := range split.Labels {
		if l < 0 || l >= net.Spec().Classes {
			return nil, fmt.Errorf("adjoint: %s has label %d but the net has %d classes", dataset, l, net.Spec().Classes)
		}
	}
	im, norm, err := feed.Prepare(split, d, norm)
	if err != nil {
		return nil, err
	}
	return &CrossEntropy{net: net, im: im, norm: norm, shape: shape, batch: batch, dataset: dataset}, nil
}

// Name is "ce:<dataset>".
func (c *CrossEntropy) Name() string { return "ce:" + c.dataset }

// Metrics names the minibatch accuracy.
func (c *CrossEntropy) Metrics() []string { return []string{"accuracy"} }

// Inputs returns the split (on the device), a minibatch of indices drawn with replacement, and
// the pixel scale/shift.
func (c *CrossEntropy) Inputs(rng *rand.Rand) ([]*tensors.Tensor, error) {
	idx := make([]int32, c.batch)
	for i := range idx {
		idx[i] = int32(rng.IntN(c.im.N))
	}
	return []*tensors.Tensor{c.im.X, c.im.Y, tensors.FromFlatDataAndDimensions(idx, c.batch), c.norm.Scale, c.norm.Shift}, nil
}

// Graph returns −CE [N] and the accuracy [N] of the N nets on the minibatch.
func (c *CrossEntropy) Graph(theta *Node, in []*Node) (*Node, []*Node) {
	x, y, idx, scale, shift := in[0], in[1], InsertAxes(in[2], -1), in[3], in[4]
	px := feed.Pixels(x, idx, scale, shift, c.im.D, c.norm.On)
	logits := c.net.Forward(theta, Reshape(px, append([]int{c.batch}, c.shape...)...)) // [N,B,C]
	labels := InsertAxes(Gather(y, idx), 0)                                            // [1,B]
	picked := Neg(arch.CrossEntropy(logits, labels))                                   // [N,B]
	hits := arch.Correct(logits, labels)
	return ReduceMean(picked, -1), []*Node{ReduceMean(hits, -1)}
}
