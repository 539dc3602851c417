package flow

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/nmflow/nmflow/nmflow/solve"
)

// Conditional sampling (METHODS.md §6): the embedding of a support set and classifier-free
// guidance, v = v(x,t;∅) + w·(v(x,t;y) − v(x,t;∅)). Training's side of conditioning is cond.go.

// nullCond is the condition of the unconditional field: ∅ for a conditional model, else nil.
func (m *Model) nullCond(vel *model.Scope, x *Node) *Node {
	if m.Config.Cond == nil {
		return nil
	}
	return nullEmbedding(vel.In("cond"), m.Config.Net.CondDim, x)
}

// Condition asks Sample for guided conditional generation.
type Condition struct {
	// Support holds one support set, [Classes·K·ImageDim] class-major (SupportPool.Draw).
	Support []float32
	// Guidance is w in v = v(x,t;∅) + w·(v(x,t;y) − v(x,t;∅)): 0 gives the unconditional field
	// (bit for bit on the Go backend), 1 the conditional one, > 1 pushes further towards y.
	Guidance float64
}

// guideScope holds, in the guided sampler's store, the embedding y and the weight w it reads.
const guideScope = "/guide"

// Embed returns the embedding y [CondDim] of one support set (see Condition.Support).
func (m *Model) Embed(support []float32) ([]float32, error) {
	cc := m.Config.Cond
	if cc == nil {
		return nil, fmt.Errorf("flow: the model is unconditional (fitted without Config.Cond); sample it without a Condition")
	}
	if m.sampler == nil {
		return nil, fmt.Errorf("flow: model has no weights (fit it, or load it with flow.Load)")
	}
	per := cc.Classes * cc.K * cc.ImageDim
	if len(support) != per {
		return nil, fmt.Errorf("flow: a support set holds %d values, want %d classes × k=%d images × %d = %d (the model was fitted with k=%d)",
			len(support), cc.Classes, cc.K, cc.ImageDim, per, cc.K)
	}
	if m.embed == nil {
		e, err := model.NewExec(m.be, m.sampler, func(scope *model.Scope, sup *Node) *Node {
			return supportEmbedding(scope.In("vel").In("cond"), cc, m.Config.Net.CondDim, sup)
		})
		if err != nil {
			return nil, err
		}
		m.embed = e.SetMaxCache(1)
	}
	out, err := m.embed.Exec(tensors.FromFlatDataAndDimensions(append([]float32(nil), support...), 1, per))
	if err != nil {
		return nil, fmt.Errorf("flow: embedding the support set: %w", err)
	}
	return tensors.MustCopyFlatData[float32](out[0]), nil
}

// guidedSolver returns the solver of the guided field with y and w set in its store. The store is
// a copy of the sampler's with /guide/y and /guide/w added; the graph reads them as variables, so
// it is compiled once per method whatever the task and the weight.
func (m *Model) guidedSolver(method string, y []float32, w float64, condOnly bool) (*solve.Solver, error) {
	if m.guide == nil {
		s := model.NewStore()
		for v := range m.sampler.IterVariables() {
			val, err := v.Value()
			if err != nil {
				return nil, fmt.Errorf("flow: reading %s: %w", v.Path(), err)
			}
			clone, err := val.LocalClone()
			if err != nil {
				return nil, fmt.Errorf("flow: copying %s: %w", v.Path(), err)
			}
			if _, err := s.CreateVariable(model.JoinPath(v.Scope(), v.Name()), clone); err != nil {
				return nil, fmt.Errorf("flow: %w", err)
			}
		}
		for _, name := range []string{"y", "w"} {
			init := tensors.FromScalar(float32(0))
			if name == "y" {
				init = tensors.FromShape(shapes.Make(dtypes.Float32, m.Config.Net.CondDim))
			}
			if _, err := s.CreateVariable(guideScope+"/"+name, init); err != nil {
				return nil, fmt.Errorf("flow: %w", err)
			}
		}
		m.guide, m.guideSolvers = s, map[string]*solve.Solver{}
	}
	if err := m.guide.GetVariable(guideScope + "/y").SetValue(tensors.FromFlatDataAndDimensions(append([]float32(nil), y...), len(y))); err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	if err := m.guide.GetVariable(guideScope + "/w").SetValue(tensors.FromScalar(float32(w))); err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	key := method
	if condOnly {
		key += "/cond"
	}
	if sv, ok := m.guideSolvers[key]; ok {
		return sv, nil
	}
	net, predict, store := m.Config.Net, m.Config.Predict, m.guide
	c := solve.ModelCompiler(m.be, store, func(scope *model.Scope, x, t *Node) *Node {
		t = ConvertDType(t, x.DType())
		n := x.Shape().Dimensions[0]
		tb := BroadcastToDims(t, n)
		g := x.Graph()
		yv := store.GetVariable(guideScope + "/y").NodeValue(g)
		y := BroadcastToDims(InsertAxes(yv, 0), n, net.CondDim)
		vel := scope.In("vel")
		if condOnly { // the plain conditional field, for tests
			return fieldFromOutput(predict, Velocity(vel, net, x, tb, y), t)
		}
		vNull := Velocity(vel, net, x, tb, m.nullCond(vel, x))
		vCond := Velocity(vel.ResetVisited(), net, x, tb, y)
		wv := store.GetVariable(guideScope + "/w").NodeValue(g)
		return fieldFromOutput(predict, Add(vNull, Mul(wv, Sub(vCond, vNull))), t)
	})
	sv, err := solve.NewSolver(c, method)
	if err != nil {
		return nil, err
	}
	m.guideSolvers[key] = sv
	return sv, nil
}
