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

// Sampling: source draws (or given starting points) integrated from t = 0 (or StartTime) to 1
// with package solve over the EMA weights' velocity field; JKO's explicit steps; Samples back in
// raw space.

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
	// the runs it was fitted on; with StartTime, the states at StartTime. Seed is then unused.
	From []float32
	// StartTime t0 ∈ [0, 1] starts the ODE at t0 instead of 0, from From or, SDEdit-style (Meng et
	// al., ICLR 2022), from Near noised along the straight path: x_t0 = t0·Near + (1 − t0)·x0 with
	// x0 the source draws of Seed, in the model's normalized space. A fixed-step method takes
	// max(1, round(Steps·(1 − t0))) steps, the step size of the full grid. t0 = 0 with Near is the
	// usual sampler, bit for bit; t0 = 1 returns the starting states unchanged. The noising is
	// the marginal of CFM's straight path with independent coupling (σ = 0); for a coupled or
	// MMFM model it is an approximation, and a JKO model refuses it.
	StartTime float64
	// Near holds one net [P] (all n samples start near it) or n nets [n,P], in raw space: the
	// nets StartTime noises. Set Near or From, not both.
	Near []float32
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
	Inits   []float32   // [N,P] the starting states: source draws at t = 0, or the states at StartTime
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
	t0 := opt.StartTime
	switch {
	case !(t0 >= 0 && t0 <= 1):
		return nil, fmt.Errorf("flow: SampleOptions.StartTime must be in [0, 1], got %v", t0)
	case opt.Near != nil && opt.From != nil:
		return nil, fmt.Errorf("flow: set SampleOptions.Near (nets to noise to StartTime) or From (the states at StartTime), not both")
	case t0 > 0 && opt.Near == nil && opt.From == nil:
		return nil, fmt.Errorf("flow: SampleOptions.StartTime %v needs the states there: set Near (nets noised to StartTime) or From", t0)
	}
	if m.Config.Method == MethodJKO {
		if t0 > 0 || opt.Near != nil {
			return nil, fmt.Errorf("flow: a %s model moves in fixed steps from its source; it cannot start at StartTime or Near a net", MethodJKO)
		}
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
	if t0 == 1 { // nothing to integrate: the starting states, as given
		if len(opt.At) > 0 {
			return nil, fmt.Errorf("flow: sampling times must be in (StartTime, 1]; StartTime is 1, so leave At empty")
		}
		out := &Samples{N: n, P: p, Inits: m.rawStart(x0, n, opt)}
		out.Weights = append([]float32(nil), out.Inits...)
		return out, nil
	}
	if len(opt.At) > 0 {
		return m.sampleAt(sv, tail, x0, n, p, so, opt.At, t0, start)
	}
	if t0 > 0 {
		so.Steps = max(1, int(math.Round(float64(so.Steps)*(1-t0))))
	}
	so.T0, so.T1 = t0, 1
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

// startPoints returns Sample's n starting points in normalized space: opt.From normalized, draws
// from the source law, or those draws moved towards opt.Near (SampleOptions.StartTime).
func (m *Model) startPoints(n int, opt SampleOptions) ([]float32, error) {
	p := m.Base.Layout.Size()
	x0 := make([]float32, n*p)
	if opt.Near != nil && len(opt.Near) != p && len(opt.Near) != n*p {
		return nil, fmt.Errorf("flow: SampleOptions.Near holds %d values, want one net (%d parameters) or %d nets × %d = %d", len(opt.Near), p, n, p, n*p)
	}
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
	if opt.Near != nil {
		near := m.nearRows(n, opt.Near)
		m.Norm.Forward(near)
		a, b := float32(opt.StartTime), float32(1-opt.StartTime)
		for i := range x0 {
			x0[i] = a*near[i] + b*x0[i]
		}
	}
	return x0, nil
}

// nearRows is Near repeated to n rows [n,P] (a copy).
func (m *Model) nearRows(n int, near []float32) []float32 {
	if len(near) == n*m.Base.Layout.Size() {
		return append([]float32(nil), near...)
	}
	out := make([]float32, 0, n*len(near))
	for range n {
		out = append(out, near...)
	}
	return out
}

// rawStart is the starting states in raw space at StartTime = 1: Near or From as given, not
// through the normalizer's round trip.
func (m *Model) rawStart(x0 []float32, n int, opt SampleOptions) []float32 {
	if opt.Near != nil {
		return m.nearRows(n, opt.Near)
	}
	if opt.From != nil {
		return append([]float32(nil), opt.From...)
	}
	m.Norm.Inverse(x0)
	return x0
}

// sampleAt integrates interval by interval from t0 through the times at, keeping the state at each.
func (m *Model) sampleAt(sv, tail *solve.Solver, x0 []float32, n, p int, so solve.Options, at []float64, t0 float64, start time.Time) (*Samples, error) {
	if so.KeepPath {
		return nil, fmt.Errorf("flow: KeepPath and At cannot be combined; ask for the times you need in At")
	}
	for i, a := range at {
		if !(a > t0 && a <= 1) || (i > 0 && !(a > at[i-1])) {
			return nil, fmt.Errorf("flow: sampling times must increase within (%g, 1], got %v", t0, at)
		}
	}
	out := &Samples{N: n, P: p}
	x := tensors.FromFlatDataAndDimensions(x0, n, p)
	steps := so.Steps
	prev := t0
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

// sampleJKO draws n source points and takes JKOConfig.SubSteps explicit steps
// x ← x − (τ/SubSteps)·∇V(x, t_{j+1}) per anchor interval j (one for older fits), keeping the
// state at every anchor time after the first.
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
		cfg, times := m.Config, m.AnchorTimes
		exec, err := model.NewExec(m.be, m.sampler, func(scope *model.Scope, x, t *Node) *Node {
			tb := BroadcastToDims(ConvertDType(t, dtypes.Float32), x.Shape().Dimensions[0])
			_, grad := potential(scope.In("vel"), cfg, x, tb, times)
			return Sub(x, MulScalar(grad, cfg.JKO.Tau/float64(max(1, cfg.JKO.SubSteps))))
		})
		if err != nil {
			return nil, err
		}
		m.jkoStep = exec
	}
	start := time.Now()
	out := &Samples{N: n, P: p}
	x := tensors.FromFlatDataAndDimensions(x0, n, p)
	sub := max(1, m.Config.JKO.SubSteps) // 0: a fit made before sub-steps, one step per interval
	for _, tk := range m.AnchorTimes[1:] {
		for range sub {
			res, err := m.jkoStep.Exec(x, tensors.FromScalar(float32(tk)))
			x.MustFinalizeAll()
			if err != nil {
				return nil, fmt.Errorf("flow: jko step to t=%g: %w", tk, err)
			}
			x = res[0]
		}
		raw := tensors.MustCopyFlatData[float32](x)
		for i, v := range raw {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("flow: jko step to t=%g produced %v at sample %d; the potential is unstable (refit with a smaller --jko-tau or lr)", tk, v, i/p)
			}
		}
		m.Norm.Inverse(raw)
		out.Marginals = append(out.Marginals, raw)
		out.Steps += sub
		out.NFE += sub
	}
	out.Weights = append([]float32(nil), out.Marginals[len(out.Marginals)-1]...)
	x.MustFinalizeAll()
	out.Seconds = time.Since(start).Seconds()
	m.Norm.Inverse(x0)
	out.Inits = x0
	return out, nil
}
