package adjoint

import (
	"sort"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// TrainFieldFn is a FieldFn for the network being trained: it also returns grads, which maps a
// scalar loss built from the field to the trainable variables and their gradients, in a fixed
// order. flow.Model.FieldGradients is one; Autodiff makes one from any FieldFn.
type TrainFieldFn func(scope *model.Scope, x, t *Node) (v *Node, grads func(loss *Node) ([]*model.Variable, []*Node))

// Autodiff turns a FieldFn into a TrainFieldFn whose gradients are plain autodiff over the
// trainable variables under scope.In("vel") that the loss uses, in path order (a store restored
// from a checkpoint lists them in another order than a fresh one, and the float32 gradient-norm
// sum must not change on resume).
func Autodiff(field FieldFn) TrainFieldFn {
	return func(scope *model.Scope, x, t *Node) (*Node, func(*Node) ([]*model.Variable, []*Node)) {
		v := field(scope, x, t)
		vel := scope.Store().Scope(model.JoinPath(scope.Scope(), "vel"))
		return v, func(loss *Node) ([]*model.Variable, []*Node) {
			g := loss.Graph()
			var vars []*model.Variable
			var nodes []*Node
			for v := range vel.IterVariables() {
				if v.Trainable && v.InUseByGraph(g) {
					vars = append(vars, v)
				}
			}
			sort.Slice(vars, func(i, j int) bool { return vars[i].Path() < vars[j].Path() })
			for _, v := range vars {
				nodes = append(nodes, v.NodeValue(g))
			}
			return vars, Gradient(loss, nodes...)
		}
	}
}

// adamUpdate adds one Adam step (PyTorch semantics: β = 0.9, 0.999, ε = 1e-8, no weight decay,
// so nothing pulls the fine-tuned net anywhere but where the loss does) on vars, after clipping
// all gradients together to a global norm ≤ clip (clip ≤ 0: off). It returns the gradient norm
// before clipping. The Adam state lives under /adam in store.
func adamUpdate(store *model.Store, vars []*model.Variable, grads []*Node, lr *Node, clip float64) *Node {
	g := lr.Graph()
	var sq *Node
	for _, gr := range grads {
		if s := ReduceAllSum(Square(gr)); sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	norm := Sqrt(sq)
	scale := ScalarOne(g, dtypes.Float32)
	if clip > 0 {
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, clip), Add(norm, Scalar(g, dtypes.Float32, 1e-6))))
	}
	zero := func(path string) *model.Scope { return store.Scope(path).WithInitializer(initializer.Zero) }
	stepVar := zero("/adam").VariableWithShape("step", shapes.Make(dtypes.Float32)).SetTrainable(false)
	step := AddScalar(stepVar.NodeValue(g), 1)
	stepVar.SetNodeValue(step)
	gs := optimizer.GetGlobalStepVar(store)
	gs.SetNodeValue(AddScalar(gs.NodeValue(g), 1))
	// Bias corrections folded into the step size and ε, as torch.optim.Adam does.
	c2 := Sqrt(OneMinus(Pow(Scalar(g, dtypes.Float32, 0.999), step)))
	alpha := Div(Mul(lr, c2), OneMinus(Pow(Scalar(g, dtypes.Float32, 0.9), step)))
	eps := MulScalar(c2, 1e-8)
	for i, v := range vars {
		gr := Mul(grads[i], scale)
		st := zero("/adam" + v.Scope())
		m1v := st.VariableWithShape(v.Name()+"_m1", v.Shape()).SetTrainable(false)
		m2v := st.VariableWithShape(v.Name()+"_m2", v.Shape()).SetTrainable(false)
		m1 := Add(MulScalar(m1v.NodeValue(g), 0.9), MulScalar(gr, 0.1))
		m2 := Add(MulScalar(m2v.NodeValue(g), 0.999), MulScalar(Square(gr), 0.001))
		m1v.SetNodeValue(m1)
		m2v.SetNodeValue(m2)
		v.SetNodeValue(Sub(v.NodeValue(g), Mul(Div(m1, Add(Sqrt(m2), eps)), alpha)))
	}
	return norm
}
