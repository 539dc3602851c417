package solve

import (
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"
)

// dense is layers.Dense (same variable paths, same fused op) without the ml/layers import:
// ml/layers pulls in ml/train/metric → github.com/google/uuid, which go.sum does not list yet.
func dense(scope *model.Scope, x *Node, out int) *Node {
	scope = scope.In("dense")
	in := x.Shape().Dimensions[x.Rank()-1]
	w := scope.VariableWithShape("weights", shapes.Make(x.DType(), in, out)).NodeValue(x.Graph())
	b := scope.VariableWithShape("biases", shapes.Make(x.DType(), out)).NodeValue(x.Graph())
	return nn.Dense(x, w, b, compute.DenseLayoutInputOutputs)
}

// tinyVelocity is a meta-model-like field: a 2-layer Dense net on [x, t] with weights in a Store.
func tinyVelocity(scope *model.Scope, x, t *Node) *Node {
	n, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	vs := scope.In("velocity")
	h := Concatenate([]*Node{x, BroadcastToDims(Reshape(t, 1, 1), n, 1)}, -1)
	h = Tanh(dense(vs.In("l1"), h, 16))
	return dense(vs.In("l2"), h, d)
}

// The same net with the Store's weights frozen into graph constants, for GraphCompiler.
func frozenVelocity(t *testing.T, store *model.Store) VelocityFn {
	get := func(path string) *tensors.Tensor {
		v := store.GetVariable(path)
		if v == nil {
			t.Fatalf("no variable %s; have %v", path, varPaths(store))
		}
		return v.MustValue()
	}
	w1, b1 := get("/velocity/l1/dense/weights"), get("/velocity/l1/dense/biases")
	w2, b2 := get("/velocity/l2/dense/weights"), get("/velocity/l2/dense/biases")
	return func(x, tt *Node) *Node {
		g, n := x.Graph(), x.Shape().Dimensions[0]
		h := Concatenate([]*Node{x, BroadcastToDims(Reshape(tt, 1, 1), n, 1)}, -1)
		h = Tanh(Add(MatMul(h, ConstCachedTensor(g, w1)), InsertAxes(ConstCachedTensor(g, b1), 0)))
		return Add(MatMul(h, ConstCachedTensor(g, w2)), InsertAxes(ConstCachedTensor(g, b2), 0))
	}
}

func varPaths(store *model.Store) []string {
	var p []string
	for v := range store.IterVariables() {
		p = append(p, v.Path())
	}
	return p
}

// TestModelCompiler plugs a model.Exec-based velocity (weights in a Store) into the solver and
// checks it against the same net as constants: every evaluation in a step must read the same
// weights (RK4 evaluates 4 times, Dopri5 6 times per graph), and nothing may recompile.
func TestModelCompiler(t *testing.T) {
	be := testBackend(t)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(7); err != nil {
		t.Fatal(err)
	}
	x0 := startValues(4, 3)
	for _, name := range []string{"rk4", "dopri5"} {
		s, err := NewSolver(ModelCompiler(be, store, tinyVelocity), name)
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Steps: 20, Rtol: 1e-6, Atol: 1e-6}
		res, err := s.Integrate(tensorOf(x0, 4, 3, dtypes.Float32), opt)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.Integrate(tensorOf(x0, 4, 3, dtypes.Float32), opt)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"rk4": 1, "dopri5": 2}[name]
		if s.Compilations() != want {
			t.Errorf("%s: %d compilations, want %d", name, s.Compilations(), want)
		}
		nVel := 0
		for _, p := range varPaths(store) {
			if strings.HasPrefix(p, "/velocity/") {
				nVel++
			}
		}
		if nVel != 4 {
			t.Fatalf("%s: %d velocity variables, want 4 shared by all evaluations: %v", name, nVel, varPaths(store))
		}
		ref, err := Integrate(GraphCompiler(be, frozenVelocity(t, store)), tensorOf(x0, 4, 3, dtypes.Float32), Options{Method: name, Steps: 20, Rtol: 1e-6, Atol: 1e-6})
		if err != nil {
			t.Fatal(err)
		}
		got, ref64, again64 := flat64(t, res.X), flat64(t, ref.X), flat64(t, again.X)
		if e := maxAbsErr(got, ref64); e > 1e-5 {
			t.Errorf("%s: model.Exec and constant-weight integrations differ by %g", name, e)
		}
		if e := maxAbsErr(got, again64); e != 0 {
			t.Errorf("%s: repeated integration differs by %g", name, e)
		}
		if e := maxAbsErr(got, x0); e < 1e-3 {
			t.Errorf("%s: the field did not move the state (%g)", name, e)
		}
		s.Close()
	}
}
