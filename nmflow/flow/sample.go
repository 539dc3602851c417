package flow

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Sampling: source draws (or given starting points) integrated from t = 0 to 1 with package
// solve over the EMA weights' velocity field; JKO's explicit steps; Samples back in raw space.

// SampleOptions choose the solver and what to keep.
type SampleOptions struct {
	Solve solve.Options // Method (default euler), Steps (default 100), Atol/Rtol, KeepPath...
	Seed  uint64
	// At lists increasing times in (0, 1] at which to keep the state (Samples.Marginals), e.g. the
	// times of the zoo's checkpoints. The ODE is then solved interval by interval; a fixed-step
	// method takes max(1, round(Steps·Δt)) steps on each, and KeepPath is not available.
	At []float64
	// From, if set, holds the n starting points [n,P] in raw (PyTorch) space instead of source
	// draws, e.g. a zoo's own inits (checkpoint 0) to ask how well a Kaiming-source model retraces
	// the runs it was fitted on. Seed is then unused.
	From []float32
	// Cond, for a conditional model (Config.Cond), generates for the task of Cond.Support with
	// guidance weight Cond.Guidance. nil: the unconditional field v(x,t;∅).
	Cond *Condition
	// condOnly integrates the plain conditional field v(x,t;y) instead of the guided one (tests).
	condOnly bool
}

// Samples are generated weights in raw (PyTorch) space.
type Samples struct {
	N, P    int
	Weights []float32   // [N,P] at t = 1
	Inits   []float32   // [N,P] the source draws at t = 0 (raw space for the Kaiming source)
	Path    [][]float32 // optional snapshots [N,P] in raw space, at Times
	Times   []float64
	// Marginals[i] is the state [N,P] in raw space at SampleOptions.At[i].
	Marginals [][]float32
	Steps     int // solver steps taken
	NFE       int // velocity evaluations
	Seconds   float64
}

// Sample generates n weight vectors: x0 from the source, integrated to t = 1 with the EMA weights.
func (m *Model) Sample(n int, opt SampleOptions) (*Samples, error) {
	if m.sampler == nil {
		return nil, fmt.Errorf("flow: model has no weights (fit it, or load it with flow.Load)")
	}
	if n < 1 {
		return nil, fmt.Errorf("flow: number of samples must be ≥ 1, got %d", n)
	}
	if opt.Cond != nil && m.Config.Cond == nil {
		return nil, fmt.Errorf("flow: the model is unconditional (fitted without Config.Cond); sample it without a Condition")
	}
	if m.Config.Method == MethodJKO {
		return m.sampleJKO(n, opt)
	}
	so := opt.Solve
	if so.Method == "" {
		so.Method = "euler"
	}
	if so.Steps == 0 {
		so.Steps = 100
	}
	p := m.Base.Layout.Size()
	x0, err := m.startPoints(n, opt)
	if err != nil {
		return nil, err
	}
	sv, err := m.solverFor(so.Method, opt)
	if err != nil {
		return nil, err
	}
	var tail *solve.Solver // endpoint prediction's last step, see integrate
	if m.Config.Predict == PredictTarget {
		if tail, err = m.solverFor("euler", opt); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if len(opt.At) > 0 {
		return m.sampleAt(sv, tail, x0, n, p, so, opt.At, start)
	}
	so.T0, so.T1 = 0, 1
	res, err := integrate(sv, tail, tensors.FromFlatDataAndDimensions(x0, n, p), so)
	if err != nil {
		return nil, err
	}
	out := &Samples{N: n, P: p, Steps: res.Steps, NFE: res.NFE, Times: res.Times}
	out.Weights = tensors.MustCopyFlatData[float32](res.X)
	res.X.MustFinalizeAll()
	out.Seconds = time.Since(start).Seconds()
	m.Norm.Inverse(out.Weights)
	m.Norm.Inverse(x0)
	out.Inits = x0
	for _, snap := range res.Path {
		raw := append([]float32(nil), snap...)
		m.Norm.Inverse(raw)
		out.Path = append(out.Path, raw)
	}
	return out, nil
}

// solverFor returns the solver of method for opt: the model's own field, or the guided field of
// opt.Cond. Solvers are compiled once and kept.
func (m *Model) solverFor(method string, opt SampleOptions) (*solve.Solver, error) {
	if opt.Cond != nil {
		y, err := m.Embed(opt.Cond.Support)
		if err != nil {
			return nil, err
		}
		return m.guidedSolver(method, y, opt.Cond.Guidance, opt.condOnly)
	}
	if sv, ok := m.solvers[method]; ok {
		return sv, nil
	}
	net, predict := m.Config.Net, m.Config.Predict
	c := solve.ModelCompiler(m.be, m.sampler, func(scope *model.Scope, x, t *Node) *Node {
		t = ConvertDType(t, x.DType())
		tb := BroadcastToDims(t, x.Shape().Dimensions[0])
		vel := scope.In("vel")
		return fieldFromOutput(predict, Velocity(vel, net, x, tb, m.nullCond(vel, x)), t)
	})
	sv, err := solve.NewSolver(c, method)
	if err != nil {
		return nil, err
	}
	m.solvers[method] = sv
	return sv, nil
}

// integrate runs sv over [so.T0, so.T1]. With endpoint prediction (tail != nil) the field is
// (D − x)/(1 − t): the network's leftover error is divided by 1 − t, and RK4 and Dopri5 evaluate
// it at t = 1 itself (measured: the nets' mean squared weight grew 91 → 456 between t = 0.9 and 1,
// their loss 1.45 → 5.28). An interval that ends at 1 therefore ends with one Euler step of
// the grid's step h from 1 − h, x + h·(D − x)/h = D: the network's own endpoint estimate.
func integrate(sv, tail *solve.Solver, x *tensors.Tensor, so solve.Options) (*solve.Result, error) {
	t0, t1 := so.T0, so.T1
	if t0 == 0 && t1 == 0 {
		t1 = 1
	}
	steps := max(so.Steps, 1)
	if tail == nil || t1 != 1 || sv.Method() == "euler" {
		return sv.Integrate(x, so)
	}
	h := (t1 - t0) / float64(steps)
	end := solve.Options{Method: "euler", Steps: 1, T0: t1 - h, T1: t1, KeepPath: so.KeepPath}
	if steps == 1 {
		end.T0 = t0
		return tail.Integrate(x, end)
	}
	head := so
	head.T0, head.T1, head.Steps = t0, t1-h, steps-1
	res, err := sv.Integrate(x, head)
	if err != nil {
		return nil, err
	}
	last, err := tail.Integrate(res.X, end)
	if err != nil {
		return nil, err
	}
	res.X, res.Steps, res.NFE = last.X, res.Steps+last.Steps, res.NFE+last.NFE
	if so.KeepPath && len(last.Path) > 1 {
		res.Path, res.Times = append(res.Path, last.Path[1:]...), append(res.Times, last.Times[1:]...)
	}
	return res, nil
}

// startPoints returns Sample's n starting points in normalized space: opt.From normalized, or
// draws from the source law.
func (m *Model) startPoints(n int, opt SampleOptions) ([]float32, error) {
	p := m.Base.Layout.Size()
	x0 := make([]float32, n*p)
	if opt.From != nil {
		if len(opt.From) != n*p {
			return nil, fmt.Errorf("flow: SampleOptions.From holds %d values, want %d nets × %d parameters = %d", len(opt.From), n, p, n*p)
		}
		copy(x0, opt.From)
		m.Norm.Forward(x0)
		return x0, nil
	}
	src := &Source{Kind: m.Config.Source, Layout: m.Base.Layout, Law: m.Base.Init, norm: m.Norm}
	if err := src.Sample(rand.New(rand.NewPCG(opt.Seed, 0x73616d706c65)), x0); err != nil { // "sample"
		return nil, err
	}
	return x0, nil
}

// sampleAt integrates interval by interval through the times at, keeping the state at each.
func (m *Model) sampleAt(sv, tail *solve.Solver, x0 []float32, n, p int, so solve.Options, at []float64, start time.Time) (*Samples, error) {
	if so.KeepPath {
		return nil, fmt.Errorf("flow: KeepPath and At cannot be combined; ask for the times you need in At")
	}
	for i, a := range at {
		if !(a > 0 && a <= 1) || (i > 0 && !(a > at[i-1])) {
			return nil, fmt.Errorf("flow: sampling times must increase within (0, 1], got %v", at)
		}
	}
	out := &Samples{N: n, P: p}
	x := tensors.FromFlatDataAndDimensions(x0, n, p)
	steps := so.Steps
	prev := 0.0
	for _, a := range append(append([]float64(nil), at...), 1) {
		if a <= prev { // 1 already reached
			continue
		}
		seg := so
		seg.T0, seg.T1 = prev, a
		seg.Steps = max(1, int(math.Round(float64(steps)*(a-prev))))
		res, err := integrate(sv, tail, x, seg)
		x.MustFinalizeAll()
		if err != nil {
			return nil, err
		}
		x = res.X
		out.Steps += res.Steps
		out.NFE += res.NFE
		if len(out.Marginals) < len(at) {
			raw := tensors.MustCopyFlatData[float32](x)
			m.Norm.Inverse(raw)
			out.Marginals = append(out.Marginals, raw)
		}
		prev = a
	}
	out.Weights = tensors.MustCopyFlatData[float32](x)
	x.MustFinalizeAll()
	out.Seconds = time.Since(start).Seconds()
	m.Norm.Inverse(out.Weights)
	m.Norm.Inverse(x0)
	out.Inits = x0
	return out, nil
}

// Generated wraps samples in the trajectory container ([N,P]) with provenance metadata.
func (m *Model) Generated(s *Samples, method string, seed uint64, modelDir string) *traj.Generated {
	meta := traj.Meta{
		Kind: traj.KindGenerated, Backend: m.be.Description(), Arch: m.Base.Arch, Layout: m.Base.Layout,
		Init: m.Base.Init, Dataset: m.Base.Dataset, Seed: seed,
		Extra: map[string]string{
			"generator":    "nmflow " + m.Config.Method,
			"model_dir":    modelDir,
			"source":       m.Config.Source,
			"coupling":     m.Config.Coupling,
			"solver":       method,
			"solver_steps": fmt.Sprint(s.Steps),
			"nfe":          fmt.Sprint(s.NFE),
			"model_steps":  fmt.Sprint(m.Steps),
			"zoo_seed":     fmt.Sprint(m.Base.ZooSeed),
		},
	}
	return &traj.Generated{Meta: meta, N: s.N, P: s.P, Weights: s.Weights}
}

// sampleJKO draws n source points and takes one explicit step x ← x − τ·∇V(x, t_{j+1}) per
// anchor interval, keeping the state at every anchor time after the first.
func (m *Model) sampleJKO(n int, opt SampleOptions) (*Samples, error) {
	if len(opt.At) > 0 || opt.Solve.KeepPath {
		return nil, fmt.Errorf("flow: a %s model moves in %d fixed steps; its states at the anchor times are Samples.Marginals (do not set At or KeepPath)", MethodJKO, len(m.AnchorTimes)-1)
	}
	p := m.Base.Layout.Size()
	x0, err := m.startPoints(n, opt)
	if err != nil {
		return nil, err
	}
	if m.jkoStep == nil {
		cfg := m.Config
		exec, err := model.NewExec(m.be, m.sampler, func(scope *model.Scope, x, t *Node) *Node {
			tb := BroadcastToDims(ConvertDType(t, dtypes.Float32), x.Shape().Dimensions[0])
			_, grad := potential(scope.In("vel"), cfg, x, tb)
			return Sub(x, MulScalar(grad, cfg.JKO.Tau))
		})
		if err != nil {
			return nil, err
		}
		m.jkoStep = exec
	}
	start := time.Now()
	out := &Samples{N: n, P: p}
	x := tensors.FromFlatDataAndDimensions(x0, n, p)
	for _, tk := range m.AnchorTimes[1:] {
		res, err := m.jkoStep.Exec(x, tensors.FromScalar(float32(tk)))
		x.MustFinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("flow: jko step to t=%g: %w", tk, err)
		}
		x = res[0]
		raw := tensors.MustCopyFlatData[float32](x)
		for i, v := range raw {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("flow: jko step to t=%g produced %v at sample %d; the potential is unstable (refit with a smaller --jko-tau or lr)", tk, v, i/p)
			}
		}
		m.Norm.Inverse(raw)
		out.Marginals = append(out.Marginals, raw)
		out.Steps++
		out.NFE++
	}
	out.Weights = append([]float32(nil), out.Marginals[len(out.Marginals)-1]...)
	x.MustFinalizeAll()
	out.Seconds = time.Since(start).Seconds()
	m.Norm.Inverse(x0)
	out.Inits = x0
	return out, nil
}
