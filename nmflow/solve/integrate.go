package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/nmflow/nmflow/nmflow/progress"
)

// Defaults of Options; the tolerances are those of Meta's flow_matching ODESolver.
const (
	DefaultAtol      = 1e-5
	DefaultRtol      = 1e-5
	DefaultMaxSteps  = 10000
	DefaultSafety    = 0.9
	DefaultMinFactor = 0.2
	DefaultMaxFactor = 10.0
)

// Options configures one integration. Zero values take the defaults noted.
type Options struct {
	// Method is one of Methods() (case-insensitive). Solver.Integrate accepts "" or its own method.
	Method string
	// Steps is the number of uniform steps of a fixed-step method (≥ 1); Dopri5 ignores it.
	Steps int
	// T0, T1 bound the interval; T1 < T0 integrates backwards (dt < 0). Both zero means [0, 1].
	T0, T1 float64
	// Atol, Rtol are Dopri5's tolerances (> 0; default DefaultAtol, DefaultRtol).
	Atol, Rtol float64
	// MaxSteps caps Dopri5's attempted (accepted + rejected) steps (default DefaultMaxSteps).
	MaxSteps int
	// Safety, MinFactor, MaxFactor shape Dopri5's step-size controller: the next step is
	// dt·clamp(Safety·errNorm^(−1/5), MinFactor, MaxFactor), never growing right after a rejection.
	Safety, MinFactor, MaxFactor float64
	// KeepPath records snapshots of the state (copied to host memory: N·D floats each) at T0, every
	// PathEvery (accepted) steps, and at T1.
	KeepPath bool
	// PathEvery thins the snapshots (default 1: every step).
	PathEvery int
	// Progress, when not nil, receives a progress bar (see package progress); nil is silent,
	// because solve often runs inside another loop that owns the bar.
	Progress io.Writer
}

// Result of an integration.
type Result struct {
	// X is the state at T1, same shape and dtype as x0; the caller owns it.
	X *tensors.Tensor
	// Path holds the snapshots (KeepPath), each the flat row-major state as float32; Path[0] is x0.
	Path [][]float32
	// Times[i] is the time of Path[i], monotone from T0 to T1.
	Times []float64
	// Steps counts accepted steps, Rejected Dopri5's rejected attempts, NFE velocity evaluations.
	Steps, Rejected, NFE int
	// Method is the method's canonical name.
	Method string
}

// Solver integrates with one method and keeps its compiled steps, one Runner per step kind and
// input shape, so repeated Integrate calls with the same x0 shape never recompile. It is safe for
// concurrent use if the Runners are.
type Solver struct {
	c Compiler
	m *method

	mu       sync.Mutex
	runners  map[string]Runner
	compiled int
}

// NewSolver returns a Solver for method (see Methods) that compiles its steps with c.
func NewSolver(c Compiler, method string) (*Solver, error) {
	if c == nil {
		return nil, errors.New("solve: nil Compiler")
	}
	m, err := lookup(method)
	if err != nil {
		return nil, err
	}
	return &Solver{c: c, m: m, runners: map[string]Runner{}}, nil
}

// Method returns the solver's canonical method name.
func (s *Solver) Method() string { return s.m.name }

// Compilations counts the Runners the solver has compiled (one per step kind and shape).
func (s *Solver) Compilations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compiled
}

// Close releases the compiled Runners (those with a Close method); the Solver stays usable and
// compiles again on the next Integrate.
func (s *Solver) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.runners {
		if c, ok := r.(interface{ Close() }); ok {
			c.Close()
		}
		delete(s.runners, k)
	}
}

func (s *Solver) runner(kind string, step StepFn, x *tensors.Tensor) (Runner, error) {
	key := fmt.Sprintf("%s/%s%v", kind, x.DType(), x.Shape().Dimensions)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runners[key]; ok {
		return r, nil
	}
	r, err := s.c(step)
	if err != nil {
		return nil, fmt.Errorf("solve: compiling %s %s step for %s: %w", s.m.name, kind, x.Shape(), err)
	}
	if r == nil {
		return nil, fmt.Errorf("solve: Compiler returned a nil Runner for the %s %s step", s.m.name, kind)
	}
	s.runners[key] = r
	s.compiled++
	return r, nil
}

// Integrate is the one-shot form: it builds a Solver for opt.Method, integrates, and releases it.
// Keep a Solver instead when sampling repeatedly.
func Integrate(c Compiler, x0 *tensors.Tensor, opt Options) (*Result, error) {
	s, err := NewSolver(c, opt.Method)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Integrate(x0, opt)
}

// Integrate solves dx/dt = v(x, t) from x(T0) = x0 to T1. x0 ([N, D], float32 or float64) is left
// intact; its buffer is never donated.
func (s *Solver) Integrate(x0 *tensors.Tensor, opt Options) (*Result, error) {
	return s.IntegrateContext(context.Background(), x0, opt)
}

// IntegrateContext is Integrate that stops between steps when ctx is done.
func (s *Solver) IntegrateContext(ctx context.Context, x0 *tensors.Tensor, opt Options) (*Result, error) {
	opt, err := s.validate(x0, opt)
	if err != nil {
		return nil, err
	}
	in := &integration{s: s, ctx: ctx, opt: opt, res: &Result{Method: s.m.name}, dtype: x0.DType()}
	if opt.KeepPath {
		if err := in.snapshot(x0, opt.T0); err != nil {
			return nil, err
		}
	}
	total, label := opt.Steps, "solve "+s.m.name
	if s.m.adaptive {
		total = progressScale // permille of the interval
	}
	var bar *progress.Bar
	if opt.Progress != nil {
		bar = progress.NewWriter(opt.Progress, total, label)
		defer bar.Done()
	}
	in.bar = bar
	if s.m.adaptive {
		err = in.adaptive(x0)
	} else {
		err = in.fixed(x0)
	}
	if err != nil {
		return nil, err
	}
	return in.res, nil
}

const progressScale = 1000

func (s *Solver) validate(x0 *tensors.Tensor, opt Options) (Options, error) {
	name := s.m.name
	if opt.Method != "" {
		m, err := lookup(opt.Method)
		if err != nil {
			return opt, err
		}
		if m != s.m {
			return opt, fmt.Errorf("solve: Options.Method %q differs from the solver's method %q", opt.Method, name)
		}
	}
	if x0 == nil {
		return opt, errors.New("solve: x0 is nil")
	}
	if err := x0.CheckValid(); err != nil {
		return opt, fmt.Errorf("solve: x0: %w", err)
	}
	if dt := x0.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		return opt, fmt.Errorf("solve: x0 must be float32 or float64, got %s", dt)
	}
	if x0.Shape().Size() == 0 {
		return opt, fmt.Errorf("solve: x0 is empty (%s)", x0.Shape())
	}
	if opt.T0 == 0 && opt.T1 == 0 {
		opt.T1 = 1
	}
	if !finite(opt.T0) || !finite(opt.T1) || opt.T0 == opt.T1 {
		return opt, fmt.Errorf("solve: the interval [T0=%g, T1=%g] must be finite and non-empty", opt.T0, opt.T1)
	}
	if !s.m.adaptive && opt.Steps < 1 {
		return opt, fmt.Errorf("solve: %s needs Steps ≥ 1, got %d", name, opt.Steps)
	}
	defaults := []struct {
		p    *float64
		name string
		def  float64
	}{{&opt.Atol, "Atol", DefaultAtol}, {&opt.Rtol, "Rtol", DefaultRtol}, {&opt.Safety, "Safety", DefaultSafety},
		{&opt.MinFactor, "MinFactor", DefaultMinFactor}, {&opt.MaxFactor, "MaxFactor", DefaultMaxFactor}}
	for _, d := range defaults {
		if *d.p == 0 {
			*d.p = d.def
		}
		if !(*d.p > 0) || !finite(*d.p) {
			return opt, fmt.Errorf("solve: %s must be > 0, got %g", d.name, *d.p)
		}
	}
	if opt.Safety > 1 || opt.MinFactor > 1 || opt.MaxFactor < 1 {
		return opt, fmt.Errorf("solve: need Safety ≤ 1, MinFactor ≤ 1 ≤ MaxFactor; got %g, %g, %g", opt.Safety, opt.MinFactor, opt.MaxFactor)
	}
	if opt.MaxSteps == 0 {
		opt.MaxSteps = DefaultMaxSteps
	}
	if opt.MaxSteps < 0 {
		return opt, fmt.Errorf("solve: MaxSteps must be ≥ 1, got %d", opt.MaxSteps)
	}
	if opt.PathEvery == 0 {
		opt.PathEvery = 1
	}
	if opt.PathEvery < 0 {
		return opt, fmt.Errorf("solve: PathEvery must be ≥ 1, got %d", opt.PathEvery)
	}
	return opt, nil
}

// integration is the state of one Integrate call.
type integration struct {
	s     *Solver
	ctx   context.Context
	opt   Options
	res   *Result
	bar   *progress.Bar
	dtype dtypes.DType
	// checkedT is the last time the state was checked finite on the host (for NaN messages).
	checkedT float64
}

// arg passes the state to a Runner: donated when the solver produced it, plain when it is x0.
func arg(x *tensors.Tensor, owned bool) any {
	if owned {
		return Donated{x}
	}
	return x
}

func (in *integration) fixed(x0 *tensors.Tensor) (err error) {
	opt, m := in.opt, in.s.m
	r, err := in.s.runner("step", m.step, x0)
	if err != nil {
		return err
	}
	in.checkedT = opt.T0
	span := opt.T1 - opt.T0
	h := span / float64(opt.Steps)
	at := func(i int) float64 { return opt.T0 + span*float64(i)/float64(opt.Steps) } // exact at both ends
	x, owned := x0, false
	defer func() { release(err, x, owned) }()
	for i := range opt.Steps {
		if err := in.ctx.Err(); err != nil {
			return fmt.Errorf("solve: stopped at t=%.6g: %w", at(i), err)
		}
		outs, err := r.Run(arg(x, owned), at(i), h)
		if err != nil {
			return fmt.Errorf("solve: %s step %d at t=%.6g: %w", m.name, i, at(i), err)
		}
		if len(outs) == 0 {
			return fmt.Errorf("solve: %s step returned no outputs", m.name)
		}
		x, owned = outs[0], true
		finalize(outs[1:])
		in.res.Steps++
		in.res.NFE += m.nfe
		if opt.KeepPath && ((i+1)%opt.PathEvery == 0 || i+1 == opt.Steps) {
			if err := in.snapshot(x, at(i+1)); err != nil {
				return err
			}
		}
		in.bar.Set(i + 1)
	}
	return in.finish(x)
}

// finish checks the final state once (a per-step host check would cost a full copy each step).
func (in *integration) finish(x *tensors.Tensor) error {
	n := len(in.res.Times)
	if !in.opt.KeepPath || n == 0 || in.res.Times[n-1] != in.opt.T1 {
		if bad, err := nonFinite(x); err != nil {
			return err
		} else if bad >= 0 {
			return in.nanError(in.opt.T1, bad)
		}
	}
	in.res.X = x
	return nil
}

func (in *integration) nanError(t float64, index int) error {
	return fmt.Errorf("solve: velocity produced NaN/Inf: the %s state is not finite at t=%.6g (element %d; last finite check at t=%.6g)",
		in.s.m.name, t, index, in.checkedT)
}

// snapshot copies x to the path after checking it is finite.
func (in *integration) snapshot(x *tensors.Tensor, t float64) error {
	flat, err := hostFloat32(x)
	if err != nil {
		return err
	}
	for i, f := range flat {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return in.nanError(t, i)
		}
	}
	in.checkedT = t
	in.res.Path = append(in.res.Path, flat)
	in.res.Times = append(in.res.Times, t)
	return nil
}

func (in *integration) adaptive(x0 *tensors.Tensor) (err error) {
	opt, m := in.opt, in.s.m
	initR, err := in.s.runner("init", m.init, x0)
	if err != nil {
		return err
	}
	stepR, err := in.s.runner("step", m.step, x0)
	if err != nil {
		return err
	}
	span := opt.T1 - opt.T0
	dir := math.Copysign(1, span)
	outs, err := initR.Run(x0, opt.T0, span, opt.Atol, opt.Rtol)
	if err != nil {
		return fmt.Errorf("solve: %s initial step at t=%g: %w", m.name, opt.T0, err)
	}
	if len(outs) != 2 {
		return fmt.Errorf("solve: %s initial step returned %d outputs, want 2", m.name, len(outs))
	}
	in.res.NFE += 2
	k1 := outs[0]
	h, err := scalar(outs[1])
	if err != nil {
		return err
	}
	if !(h > 0) || !finite(h) {
		k1.MustFinalizeAll()
		return fmt.Errorf("solve: velocity produced NaN/Inf at t=%.6g (initial step size %g)", opt.T0, h)
	}
	defer func() { _ = k1.FinalizeAll() }()

	x, owned := x0, false
	defer func() { release(err, x, owned) }()
	t := opt.T0
	rejectedHere := false // the current step was already rejected: do not grow dt on acceptance
	sinceSnap := 0
	for t != opt.T1 {
		if err := in.ctx.Err(); err != nil {
			return fmt.Errorf("solve: stopped at t=%g: %w", t, err)
		}
		if in.res.Steps+in.res.Rejected >= opt.MaxSteps {
			return fmt.Errorf("solve: %s exceeded MaxSteps=%d at t=%g of [%g, %g] (%d accepted, %d rejected; atol=%g rtol=%g); raise MaxSteps or the tolerances",
				m.name, opt.MaxSteps, t, opt.T0, opt.T1, in.res.Steps, in.res.Rejected, opt.Atol, opt.Rtol)
		}
		if h < minStep(t, in.dtype) {
			return fmt.Errorf("solve: %s step size %g fell below the resolution of t=%g (the field may be stiff or not smooth for atol=%g rtol=%g)",
				m.name, h, t, opt.Atol, opt.Rtol)
		}
		last := h >= math.Abs(opt.T1-t)
		if last {
			h = math.Abs(opt.T1 - t)
		}
		dt := dir * h
		outs, err := stepR.Run(arg(x, owned), t, dt, Donated{k1}, opt.Atol, opt.Rtol)
		if err != nil {
			return fmt.Errorf("solve: %s step at t=%g (dt=%g): %w", m.name, t, dt, err)
		}
		if len(outs) != 3 {
			return fmt.Errorf("solve: %s step returned %d outputs, want 3", m.name, len(outs))
		}
		x, k1, owned = outs[0], outs[1], true
		en, err := scalar(outs[2])
		if err != nil {
			return err
		}
		in.res.NFE += m.nfe
		if math.IsNaN(en) || math.IsInf(en, 0) {
			return fmt.Errorf("solve: velocity produced NaN/Inf at t=%.6g, in the %s step to t=%.6g (error norm %g)", t, m.name, t+dt, en)
		}
		// Same test as the graph's accept (errNorm ≤ 1 in the state's dtype).
		if en <= 1 {
			in.res.Steps++
			if last {
				t = opt.T1
			} else {
				t += dt
			}
			factor := opt.MaxFactor
			if en > 0 {
				factor = math.Min(opt.MaxFactor, opt.Safety*math.Pow(en, -1.0/5))
			}
			if rejectedHere {
				factor = math.Min(1, factor)
			}
			h *= math.Max(factor, opt.MinFactor)
			rejectedHere = false
			sinceSnap++
			if opt.KeepPath && (sinceSnap >= opt.PathEvery || t == opt.T1) {
				if err := in.snapshot(x, t); err != nil {
					return err
				}
				sinceSnap = 0
			}
			in.bar.Set(int(progressScale * (t - opt.T0) / span))
		} else {
			in.res.Rejected++
			h *= math.Max(opt.MinFactor, opt.Safety*math.Pow(en, -1.0/5))
			rejectedHere = true
		}
	}
	return in.finish(x)
}

// minStep is scipy's floor on |dt|: ten units in the last place of t in the state's dtype, below
// which t + dt no longer moves reliably.
func minStep(t float64, dt dtypes.DType) float64 {
	if dt == dtypes.Float64 {
		return 10 * math.Abs(math.Nextafter(t, math.Inf(1))-t)
	}
	f := float32(t)
	return 10 * math.Abs(float64(math.Nextafter32(f, float32(math.Inf(1)))-f))
}

// release frees the solver's own state when an integration fails (on success it becomes Result.X).
func release(err error, x *tensors.Tensor, owned bool) {
	if err != nil && owned {
		_ = x.FinalizeAll()
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// scalar reads a scalar output (float32 or float64) and frees it.
func scalar(t *tensors.Tensor) (float64, error) {
	defer func() { _ = t.FinalizeAll() }()
	switch v := t.Value().(type) {
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	}
	return 0, fmt.Errorf("solve: expected a float scalar output, got %s", t.Shape())
}

// hostFloat32 copies a float32 or float64 tensor to a new float32 slice.
func hostFloat32(x *tensors.Tensor) ([]float32, error) {
	switch x.DType() {
	case dtypes.Float32:
		return tensors.CopyFlatData[float32](x)
	case dtypes.Float64:
		flat64, err := tensors.CopyFlatData[float64](x)
		if err != nil {
			return nil, err
		}
		flat := make([]float32, len(flat64))
		for i, v := range flat64 {
			flat[i] = float32(v)
		}
		return flat, nil
	}
	return nil, fmt.Errorf("solve: unsupported state dtype %s", x.DType())
}

// nonFinite returns the index of the first NaN/Inf element of x, or -1.
func nonFinite(x *tensors.Tensor) (int, error) {
	bad := -1
	var err error
	switch x.DType() {
	case dtypes.Float32:
		err = tensors.ConstFlatData(x, func(flat []float32) {
			for i, f := range flat {
				if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
					bad = i
					return
				}
			}
		})
	case dtypes.Float64:
		err = tensors.ConstFlatData(x, func(flat []float64) {
			for i, f := range flat {
				if !finite(f) {
					bad = i
					return
				}
			}
		})
	default:
		err = fmt.Errorf("solve: unsupported state dtype %s", x.DType())
	}
	return bad, err
}
