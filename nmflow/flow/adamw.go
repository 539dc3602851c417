package flow

import (
	"math"
	"slices"
	"sort"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
)

// The fit's variables and schedules: which variables train, the learning rate (linear warm-up,
// then cosine) and the EMA decay of each step. The optimizer itself runs on the host (hostopt.go).

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

// emaScope holds the EMA of the weights, read by the sampler (see emaPath).
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
