package solve

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/core/tensors"
)

// VelocityFn evaluates the field v(x, t) inside a graph: x is the state [N, D], t a scalar of x's
// dtype (float32 for the usual float32 state); it returns [N, D]. A step may call it several times
// in one graph (RK4: 4 times), so a field with variables must reuse them (model.Scope.At, not In).
type VelocityFn func(x, t *Node) *Node

// StepFn builds the graph of one step of a method: given the field v, the state x, the scalars t
// and dt (dt is signed, so integration can run backwards) and the method's extra inputs, it returns
// the outputs, the new x first. The extras and further outputs are the method's business (Dopri5:
// extras are its carried derivative k1, atol and rtol; outputs add the new k1 and the error norm);
// a later SDE method can carry its noise or RNG state the same way.
type StepFn func(v VelocityFn, x, t, dt *Node, extra ...*Node) []*Node

// Graph runs the step on a flat input list in = [x, t, dt, extra...], the form an executor with a
// slice signature hands over: graph.NewExec(be, func(in []*Node) []*Node { return step.Graph(v, in) }).
func (s StepFn) Graph(v VelocityFn, in []*Node) []*Node {
	if len(in) < 3 {
		panic(fmt.Errorf("solve: a step needs at least 3 inputs (x, t, dt), got %d", len(in)))
	}
	x := in[0]
	// t and dt arrive as scalars of x's dtype from ExecRunner; a hand-written runner may differ.
	t, dt := ConvertDType(in[1], x.DType()), ConvertDType(in[2], x.DType())
	return s(v, x, t, dt, in[3:]...)
}

// Donated wraps a tensor input whose buffer the step may reuse for its outputs: the tensor is
// invalid after Run. The solver donates only the state it produced itself, never the caller's x0.
type Donated struct{ *tensors.Tensor }

// Runner runs one compiled StepFn. Inputs follow the step's order (x, t, dt, extra...): tensors,
// Donated tensors, or float64 scalars (sent as scalars of the first tensor's dtype, so t and dt
// never change a shape and never trigger a recompilation). It returns the step's outputs.
type Runner interface {
	Run(inputs ...any) ([]*tensors.Tensor, error)
}

// Compiler turns a StepFn into a Runner, supplying the owner's velocity field: a graph.Exec over a
// plain function (GraphCompiler), or a model.Exec closing over a Store and a scope. The solver calls
// it once per method, step kind and input shape and reuses the Runner for every step.
type Compiler func(step StepFn) (Runner, error)

// Executor is what graph.Exec and model.Exec both offer: Call with tensors, Go scalars or
// graph.DonateTensorBuffer values.
type Executor interface {
	Call(args ...any) ([]*tensors.Tensor, error)
}

// ExecRunner adapts an executor (graph.Exec, model.Exec) to a Runner: it donates Donated inputs on
// be and converts float64 scalars to the first tensor's dtype. If the executor has Finalize, the
// Runner's Close calls it. Give the executor SetMaxCache(1): the solver keeps one Runner per shape,
// so a second compilation can only be a bug and is then an error instead of a silent slowdown.
func ExecRunner(be compute.Backend, e Executor) Runner { return &execRunner{be: be, e: e} }

type execRunner struct {
	be compute.Backend
	e  Executor
}

func (r *execRunner) Run(inputs ...any) ([]*tensors.Tensor, error) {
	dt := dtypes.Float32
	for _, in := range inputs {
		if t := asTensor(in); t != nil {
			dt = t.DType()
			break
		}
	}
	args := make([]any, len(inputs))
	for i, in := range inputs {
		switch v := in.(type) {
		case Donated:
			d, err := DonateTensorBuffer(v.Tensor, r.be, 0)
			if err != nil {
				return nil, fmt.Errorf("solve: donating input %d: %w", i, err)
			}
			args[i] = d
		case float64:
			if dt == dtypes.Float64 {
				args[i] = v
			} else {
				args[i] = float32(v) // float32 (or narrower) state: the step converts if needed
			}
		default:
			args[i] = in
		}
	}
	return r.e.Call(args...)
}

// Close releases the compiled graphs when the executor supports it.
func (r *execRunner) Close() {
	if f, ok := r.e.(interface{ Finalize() }); ok {
		f.Finalize()
	}
}

func asTensor(in any) *tensors.Tensor {
	switch v := in.(type) {
	case *tensors.Tensor:
		return v
	case Donated:
		return v.Tensor
	}
	return nil
}

// GraphCompiler compiles steps for a plain velocity function without variables (closed forms,
// tests, fields whose weights are graph constants) with graph.Exec on be.
func GraphCompiler(be compute.Backend, v VelocityFn) Compiler {
	return func(step StepFn) (Runner, error) {
		if be == nil {
			return nil, errors.New("solve: GraphCompiler needs a backend")
		}
		e, err := NewExec(be, func(in []*Node) []*Node { return step.Graph(v, in) })
		if err != nil {
			return nil, err
		}
		return ExecRunner(be, e.SetMaxCache(1)), nil
	}
}
