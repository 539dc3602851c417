package solve

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/ml/model"
)

// ModelCompiler compiles steps whose velocity net keeps its weights in store (model.Exec). vel gets
// the root scope with a fresh visited set on every call, so it may enter sub-scopes with In as
// usual: a step evaluates the field several times in one graph (RK4: 4, Dopri5: 6), and
// variables are shared by path, so every evaluation reads the same weights.
func ModelCompiler(be compute.Backend, store *model.Store, vel func(scope *model.Scope, x, t *Node) *Node) Compiler {
	return func(step StepFn) (Runner, error) {
		e, err := model.NewExec(be, store, func(scope *model.Scope, in []*Node) []*Node {
			v := func(x, t *Node) *Node { return vel(scope.ResetVisited(), x, t) }
			return step.Graph(v, in)
		})
		if err != nil {
			return nil, err
		}
		return ExecRunner(be, e.SetMaxCache(1)), nil
	}
}
