package flow

import (
	"math"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// The optimizer inside the compiled training step: AdamW (PyTorch semantics) with global
// gradient-norm clipping and an EMA of the weights, and the learning-rate schedule (linear
// warm-up, then cosine). The two widest weights take the same update on the host (hostopt.go).

// trainable lists the trainable variables of scope used by g, but for the excluded ones, sorted by
// path: a store loaded from a checkpoint lists variables in another order than a fresh one, and
// the gradient-norm sum (float32) must be identical after a resume.
func trainable(scope *model.Scope, g *Graph, exclude ...*model.Variable) []*model.Variable {
	var vars []*model.Variable
	for vv := range scope.IterVariables() {
		if vv.Trainable && vv.InUseByGraph(g) && !slices.Contains(exclude, vv) {
			vars = append(vars, vv)
		}
	}
	sort.Slice(vars, func(a, b int) bool { return vars[a].Path() < vars[b].Path() })
	return vars
}

func varNodes(vars []*model.Variable, g *Graph) []*Node {
	nodes := make([]*Node, len(vars))
	for i, v := range vars {
		nodes[i] = v.NodeValue(g)
	}
	return nodes
}

// clipScale returns the global norm of grads and the scale min(1, Clip/‖g‖) that clips it.
func (t *trainer) clipScale(grads []*Node) (gnorm, scale *Node) {
	g := grads[0].Graph()
	var sq *Node
	for _, gr := range grads {
		s := sumSquares(gr)
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	gnorm = Sqrt(sq)
	scale = ScalarOne(g, dtypes.Float32)
	if t.cfg.Clip > 0 {
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, t.cfg.Clip), Add(gnorm, Scalar(g, dtypes.Float32, 1e-6))))
	}
	return gnorm, scale
}

// sumSquares is ‖x‖². Small tensors take one flat dot product, which the Go backend runs as a
// vectorized matmul (faster than a Square pass plus a generic reduction). Large ones take Square,
// a sum along the last axis and a sum of those: the matmul kernel pads a 1×N operand to its
// register tiles, which cost 42 ns per element at N = 8·10⁶ (343 ms against 32 ms this way, and
// most of a fit step at P ≈ 10⁵), and the two-level sum keeps float32 accurate (one sequential
// sum of those 8·10⁶ squares was 1.2% off).
func sumSquares(x *Node) *Node {
	n := x.Shape().Size()
	if n < 1<<16 {
		flat := Reshape(x, 1, n)
		return Reshape(DotGeneral(flat, []int{1}, nil, flat, []int{1}, nil))
	}
	sq := Square(x)
	if x.Rank() >= 2 {
		sq = ReduceSum(sq, -1)
	}
	return ReduceAllSum(sq)
}

// update applies one AdamW step, with the gradients scaled by scale, to vars and updates their EMA.
func (t *trainer) update(scope *model.Scope, vars []*model.Variable, grads []*Node, scale, lr, emaDecay *Node) {
	g := lr.Graph()
	// AdamW (PyTorch semantics, β = 0.9, 0.999, ε = 1e-8) with the bias corrections as scalars.
	stepVar := scope.Store().Scope("/adamw").WithInitializer(initializer.Zero).
		VariableWithShape("step", shapes.Make(dtypes.Float32)).SetTrainable(false)
	step := AddScalar(stepVar.NodeValue(g), 1)
	stepVar.SetNodeValue(step)
	gs := optimizer.GetGlobalStepVar(scope.Store())
	gs.SetNodeValue(AddScalar(gs.NodeValue(g), 1))
	c1 := OneMinus(Pow(Scalar(g, dtypes.Float32, 0.9), step))
	sc2 := Sqrt(OneMinus(Pow(Scalar(g, dtypes.Float32, 0.999), step)))
	alpha := Div(Mul(lr, sc2), c1)
	epsHat := MulScalar(sc2, 1e-8)
	decay := OneMinus(MulScalar(lr, t.cfg.WeightDecay))
	// The clip scale is folded into the moment coefficients (scalars) rather than applied to every
	// gradient: each pass over the 10⁶-parameter input/output layers costs about a millisecond here.
	c1g, c2g := MulScalar(scale, 0.1), MulScalar(Square(scale), 0.001)
	emaRate := OneMinus(emaDecay)
	for i, vv := range vars {
		gr := grads[i]
		ms := scope.Store().Scope("/adamw" + vv.Scope()).WithInitializer(initializer.Zero)
		m1v := ms.VariableWithShape(vv.Name()+"_m1", vv.Shape()).SetTrainable(false)
		m2v := ms.VariableWithShape(vv.Name()+"_m2", vv.Shape()).SetTrainable(false)
		m1 := Add(MulScalar(m1v.NodeValue(g), 0.9), Mul(gr, c1g))
		m2 := Add(MulScalar(m2v.NodeValue(g), 0.999), Mul(Square(gr), c2g))
		m1v.SetNodeValue(m1)
		m2v.SetNodeValue(m2)
		nv := Sub(Mul(vv.NodeValue(g), decay), Mul(Div(m1, Add(Sqrt(m2), epsHat)), alpha))
		vv.SetNodeValue(nv)
		// EMA of the weights, read by the sampler (see emaPath): e += (1−d)·(w − e).
		ev := scope.Store().Scope(emaScope+vv.Scope()).WithInitializer(initializer.BroadcastTensorToShape(tensors.FromScalar(float32(0)))).
			VariableWithShape(vv.Name(), vv.Shape()).SetTrainable(false)
		e := ev.NodeValue(g)
		ev.SetNodeValue(Add(e, Mul(Sub(nv, e), emaRate)))
	}
}

const emaScope = "/ema"

// lrAt is the learning rate of step s (0-based): linear warm-up, then cosine down to MinLR·LR.
func (c Config) lrAt(s int) float64 { return CosineLR(s, c.Steps, c.WarmUp, c.LR, c.MinLR) }

// CosineLR is the learning rate of step s (0-based) of a run of the given steps: a linear warm-up
// over warmUp steps to lr, then a cosine down to minFrac·lr at the last step.
func CosineLR(s, steps, warmUp int, lr, minFrac float64) float64 {
	if s < warmUp {
		return lr * float64(s+1) / float64(warmUp)
	}
	frac := float64(s-warmUp) / math.Max(1, float64(steps-warmUp))
	lo := lr * minFrac
	return lo + (lr-lo)*0.5*(1+math.Cos(math.Pi*frac))
}

// emaAt is the EMA decay at step s (0-based), warmed up so the average starts at the first weights.
func (c Config) emaAt(s int) float64 {
	return math.Min(c.EMA, float64(s)/float64(s+10)) // 0 at the first step: the average starts at w
}
