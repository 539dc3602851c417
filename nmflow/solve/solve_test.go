package solve

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/progress"
)

var testBackend = testutil.Backend // the process-wide backend

// problem is a closed-form ODE: field v and exact solution x(t1) from x(t0).
type problem struct {
	name  string
	v     VelocityFn
	exact func(x0 []float64, t0, t1 float64) []float64
	d     int // state width
}

func linear(lambda float64) problem {
	return problem{
		name: "linear",
		v:    func(x, _ *Node) *Node { return MulScalar(x, lambda) },
		exact: func(x0 []float64, t0, t1 float64) []float64 {
			out := make([]float64, len(x0))
			for i, v := range x0 {
				out[i] = v * math.Exp(lambda*(t1-t0))
			}
			return out
		},
		d: 2,
	}
}

// rotation: dx/dt = ω·(−x₂, x₁) per row of [N, 2], solved by a rotation of angle ω·(t1−t0).
func rotation(omega float64) problem {
	return problem{
		name: "rotation",
		v: func(x, _ *Node) *Node {
			at := Const(x.Graph(), [][]float64{{0, omega}, {-omega, 0}}) // rows: x·Aᵀ with A = ω[[0,−1],[1,0]]
			return MatMul(x, ConvertDType(at, x.DType()))
		},
		exact: func(x0 []float64, t0, t1 float64) []float64 {
			s, c := math.Sincos(omega * (t1 - t0))
			out := make([]float64, len(x0))
			for i := 0; i < len(x0); i += 2 {
				out[i] = c*x0[i] - s*x0[i+1]
				out[i+1] = s*x0[i] + c*x0[i+1]
			}
			return out
		},
		d: 2,
	}
}

// cosTime: dx/dt = cos(t)·x, so x(t1) = x(t0)·exp(sin t1 − sin t0): exercises t inside the stages.
func cosTime() problem {
	return problem{
		name: "cos(t)x",
		v:    func(x, t *Node) *Node { return Mul(x, Cos(t)) },
		exact: func(x0 []float64, t0, t1 float64) []float64 {
			out := make([]float64, len(x0))
			for i, v := range x0 {
				out[i] = v * math.Exp(math.Sin(t1)-math.Sin(t0))
			}
			return out
		},
		d: 3,
	}
}

func startValues(n, d int) []float64 {
	x := make([]float64, n*d)
	for i := range x {
		x[i] = 0.3 + 0.7*math.Sin(float64(3*i+1)) // deterministic, mixed signs
	}
	return x
}

func tensorOf(x []float64, n, d int, dt dtypes.DType) *tensors.Tensor {
	if dt == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), x...), n, d)
	}
	f := make([]float32, len(x))
	for i, v := range x {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, n, d)
}

func flat64(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("dtype %s", x.DType())
	return nil
}

func maxAbsErr(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// slope fits log(err) = a + s·log(steps) by least squares and returns s.
func slope(steps []int, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	for i := range steps {
		x, y := math.Log(float64(steps[i])), math.Log(errs[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(steps))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func TestOrderOfConvergence(t *testing.T) {
	be := testBackend(t)
	problems := []problem{linear(-1), linear(0.5), linear(-3), rotation(2), cosTime()}
	steps := []int{8, 16, 32, 64}
	const n = 3
	for _, p := range problems {
		c := GraphCompiler(be, p.v)
		x0 := startValues(n, p.d)
		exact := p.exact(x0, 0, 1.5)
		for _, name := range []string{"euler", "midpoint", "rk4"} {
			order, _, _ := Order(name)
			s, err := NewSolver(c, name)
			if err != nil {
				t.Fatal(err)
			}
			errs := make([]float64, len(steps))
			for i, k := range steps {
				res, err := s.Integrate(tensorOf(x0, n, p.d, dtypes.Float64), Options{Steps: k, T0: 0, T1: 1.5})
				if err != nil {
					t.Fatal(err)
				}
				errs[i] = maxAbsErr(flat64(t, res.X), exact)
				if res.Steps != k || res.NFE != k*methods[name].nfe {
					t.Errorf("%s: Steps=%d NFE=%d, want %d, %d", name, res.Steps, res.NFE, k, k*methods[name].nfe)
				}
			}
			got := -slope(steps, errs)
			t.Logf("%-8s %-8s errors %.3g → empirical order %.3f", p.name, name, errs, got)
			if math.Abs(got-float64(order)) > 0.3 {
				t.Errorf("%s on %s: empirical order %.3f, want %d ± 0.3 (errors %v)", name, p.name, got, order, errs)
			}
			s.Close()
		}
	}
}

// float32 states: the usual case. RK4's error hits float32 rounding quickly, so only Euler and
// midpoint fit an order here; RK4 must still reach the rounding floor.
func TestFloat32(t *testing.T) {
	be := testBackend(t)
	p := rotation(1)
	x0 := startValues(4, 2)
	exact := p.exact(x0, 0, 1)
	c := GraphCompiler(be, p.v)
	steps := []int{8, 16, 32, 64}
	for _, name := range []string{"euler", "midpoint"} {
		order, _, _ := Order(name)
		errs := make([]float64, len(steps))
		for i, k := range steps {
			res, err := Integrate(c, tensorOf(x0, 4, 2, dtypes.Float32), Options{Method: name, Steps: k})
			if err != nil {
				t.Fatal(err)
			}
			if res.X.DType() != dtypes.Float32 {
				t.Fatalf("X dtype %s", res.X.DType())
			}
			errs[i] = maxAbsErr(flat64(t, res.X), exact)
		}
		if got := -slope(steps, errs); math.Abs(got-float64(order)) > 0.3 {
			t.Errorf("float32 %s: order %.3f, want %d (errors %v)", name, got, order, errs)
		}
	}
	res, err := Integrate(c, tensorOf(x0, 4, 2, dtypes.Float32), Options{Method: "RK4", Steps: 32})
	if err != nil {
		t.Fatal(err)
	}
	if e := maxAbsErr(flat64(t, res.X), exact); e > 2e-6 {
		t.Errorf("float32 rk4 error %g > 2e-6", e)
	}
}

func TestBackwards(t *testing.T) {
	be := testBackend(t)
	p := cosTime()
	x0 := startValues(2, p.d)
	exact := p.exact(x0, 1, -0.5)
	for _, name := range Methods() {
		res, err := Integrate(GraphCompiler(be, p.v), tensorOf(x0, 2, p.d, dtypes.Float64),
			Options{Method: name, Steps: 64, T0: 1, T1: -0.5, KeepPath: true, Atol: 1e-9, Rtol: 1e-9})
		if err != nil {
			t.Fatal(err)
		}
		tol := map[string]float64{"euler": 5e-2, "midpoint": 1e-3, "rk4": 1e-7, "dopri5": 1e-7}[name]
		if e := maxAbsErr(flat64(t, res.X), exact); e > tol {
			t.Errorf("%s backwards: error %g > %g", name, e, tol)
		}
		for i := 1; i < len(res.Times); i++ {
			if !(res.Times[i] < res.Times[i-1]) {
				t.Errorf("%s backwards: times not decreasing at %d: %v", name, i, res.Times[i-1:i+1])
				break
			}
		}
		if last := res.Times[len(res.Times)-1]; last != -0.5 {
			t.Errorf("%s backwards: last time %g, want -0.5", name, last)
		}
	}
}

func TestDopri5Tolerance(t *testing.T) {
	be := testBackend(t)
	const n = 4
	for _, p := range []problem{linear(-1), linear(2), rotation(3), cosTime()} {
		x0 := startValues(n, p.d)
		t1 := 2.0
		exact := p.exact(x0, 0, t1)
		s, err := NewSolver(GraphCompiler(be, p.v), "dopri5")
		if err != nil {
			t.Fatal(err)
		}
		prevSteps := 0
		for _, rtol := range []float64{1e-3, 1e-6} {
			atol := rtol // the flow_matching convention; a tiny atol would judge components crossing zero by atol alone
			res, err := s.Integrate(tensorOf(x0, n, p.d, dtypes.Float64), Options{T1: t1, Atol: atol, Rtol: rtol})
			if err != nil {
				t.Fatal(err)
			}
			got := flat64(t, res.X)
			worst := 0.0 // error in units of the tolerance, per element
			for i := range got {
				worst = math.Max(worst, math.Abs(got[i]-exact[i])/(atol+rtol*math.Abs(exact[i])))
			}
			t.Logf("%-8s rtol=%g: steps=%d rejected=%d nfe=%d, max error/tol %.3f", p.name, rtol, res.Steps, res.Rejected, res.NFE, worst)
			if worst > 10 {
				t.Errorf("%s rtol=%g: error is %.1f× the tolerance (> 10)", p.name, rtol, worst)
			}
			if res.NFE != 2+6*(res.Steps+res.Rejected) {
				t.Errorf("%s: NFE=%d, want 2+6·(%d+%d)", p.name, res.NFE, res.Steps, res.Rejected)
			}
			if res.Steps <= prevSteps {
				t.Errorf("%s: rtol=%g took %d steps, not more than the looser tolerance's %d", p.name, rtol, res.Steps, prevSteps)
			}
			prevSteps = res.Steps
		}
		if s.Compilations() != 2 { // init + step, reused across both tolerances (they are runtime inputs)
			t.Errorf("%s: %d compilations, want 2", p.name, s.Compilations())
		}
		s.Close()
	}
}

// A float32 state with the flow-matching library's default tolerances.
func TestDopri5Float32(t *testing.T) {
	be := testBackend(t)
	p := rotation(2)
	x0 := startValues(8, 2)
	res, err := Integrate(GraphCompiler(be, p.v), tensorOf(x0, 8, 2, dtypes.Float32), Options{Method: "dopri5"})
	if err != nil {
		t.Fatal(err)
	}
	exact := p.exact(x0, 0, 1)
	if e := maxAbsErr(flat64(t, res.X), exact); e > 1e-4 {
		t.Errorf("float32 dopri5 error %g > 1e-4 (steps %d, rejected %d)", e, res.Steps, res.Rejected)
	}
}

// countingCompiler counts Compiler calls and graph builds (each build runs the StepFn once).
type countingCompiler struct {
	compiles, builds atomic.Int32
}

func (cc *countingCompiler) wrap(c Compiler) Compiler {
	return func(step StepFn) (Runner, error) {
		cc.compiles.Add(1)
		return c(func(v VelocityFn, x, t, dt *Node, extra ...*Node) []*Node {
			cc.builds.Add(1)
			return step(v, x, t, dt, extra...)
		})
	}
}

func TestStepCompiledOnce(t *testing.T) {
	be := testBackend(t)
	for _, name := range Methods() {
		var cc countingCompiler
		s, err := NewSolver(cc.wrap(GraphCompiler(be, linear(-1).v)), name)
		if err != nil {
			t.Fatal(err)
		}
		x0 := startValues(5, 2)
		opt := Options{Steps: 100, Atol: 1e-8, Rtol: 1e-8, MaxSteps: 1000}
		r1, err := s.Integrate(tensorOf(x0, 5, 2, dtypes.Float32), opt)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := s.Integrate(tensorOf(x0, 5, 2, dtypes.Float32), opt)
		if err != nil {
			t.Fatal(err)
		}
		kinds := int32(1)
		if methods[name].adaptive {
			kinds = 2
		}
		if r1.Steps+r1.Rejected < 10 {
			t.Errorf("%s: only %d steps; the test needs many", name, r1.Steps)
		}
		if got := cc.compiles.Load(); got != kinds {
			t.Errorf("%s: %d compiler calls for two integrations of %d+%d steps, want %d", name, got, r1.Steps, r2.Steps, kinds)
		}
		if got := cc.builds.Load(); got != kinds {
			t.Errorf("%s: %d graph builds, want %d", name, got, kinds)
		}
		if a, b := flat64(t, r1.X), flat64(t, r2.X); maxAbsErr(a, b) != 0 {
			t.Errorf("%s: two identical integrations differ", name)
		}
		// A new N compiles once more; the old shape still hits the cache.
		if _, err := s.Integrate(tensorOf(startValues(7, 2), 7, 2, dtypes.Float32), opt); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Integrate(tensorOf(x0, 5, 2, dtypes.Float32), opt); err != nil {
			t.Fatal(err)
		}
		if got := cc.compiles.Load(); got != 2*kinds || s.Compilations() != int(2*kinds) {
			t.Errorf("%s: %d compiler calls after a second shape, want %d", name, got, 2*kinds)
		}
		s.Close()
	}
}

func TestKeepPath(t *testing.T) {
	be := testBackend(t)
	x0 := startValues(3, 2)
	c := GraphCompiler(be, rotation(1).v)
	cases := []struct {
		opt  Options
		want int // snapshots, x0 included; -1: unknown (adaptive)
	}{
		{Options{Method: "euler", Steps: 10, KeepPath: true}, 11},
		{Options{Method: "rk4", Steps: 10, KeepPath: true, PathEvery: 3}, 5}, // 0, 3, 6, 9, 10
		{Options{Method: "midpoint", Steps: 10, KeepPath: true, PathEvery: 5}, 3},
		{Options{Method: "dopri5", KeepPath: true, T0: 0.25, T1: 3}, -1},
	}
	for _, tc := range cases {
		res, err := Integrate(c, tensorOf(x0, 3, 2, dtypes.Float32), tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want
		if want < 0 {
			want = res.Steps + 1
		}
		if len(res.Path) != want || len(res.Times) != want {
			t.Fatalf("%s: %d snapshots and %d times, want %d", tc.opt.Method, len(res.Path), len(res.Times), want)
		}
		t0, t1 := tc.opt.T0, tc.opt.T1
		if t0 == 0 && t1 == 0 {
			t1 = 1
		}
		if res.Times[0] != t0 || res.Times[want-1] != t1 {
			t.Errorf("%s: times run %g…%g, want %g…%g", tc.opt.Method, res.Times[0], res.Times[want-1], t0, t1)
		}
		for i := 1; i < want; i++ {
			if !(res.Times[i] > res.Times[i-1]) {
				t.Errorf("%s: times not increasing: %v", tc.opt.Method, res.Times)
				break
			}
		}
		for i, v := range res.Path[0] {
			if v != float32(x0[i]) {
				t.Fatalf("%s: Path[0][%d]=%g, want x0 %g", tc.opt.Method, i, v, float32(x0[i]))
			}
		}
		final := tensors.MustCopyFlatData[float32](res.X)
		for i, v := range res.Path[want-1] {
			if v != final[i] {
				t.Fatalf("%s: last snapshot differs from X at %d", tc.opt.Method, i)
			}
		}
		// The rotation keeps each row's norm: every snapshot is a real state, not a stale buffer.
		for k, snap := range res.Path {
			for r := 0; r < 3; r++ {
				n0 := math.Hypot(x0[2*r], x0[2*r+1])
				nk := math.Hypot(float64(snap[2*r]), float64(snap[2*r+1]))
				if math.Abs(nk-n0) > 0.1*n0 { // Euler grows it by (1+h²)^(k/2) ≤ 1.05
					t.Errorf("%s: snapshot %d row %d norm %g, want ≈ %g", tc.opt.Method, k, r, nk, n0)
				}
			}
		}
	}
}

// x0 belongs to the caller: the solver must never donate it.
func TestX0Intact(t *testing.T) {
	be := testBackend(t)
	x0v := startValues(3, 2)
	for _, name := range Methods() {
		// A graph output lives only on the device, so a donation would invalidate it.
		x0, err := ExecOnce(be, func(x *Node) *Node { return Neg(Neg(x)) }, tensorOf(x0v, 3, 2, dtypes.Float32))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Integrate(GraphCompiler(be, linear(-1).v), x0, Options{Method: name, Steps: 3}); err != nil {
			t.Fatal(err)
		}
		if err := x0.CheckValid(); err != nil {
			t.Fatalf("%s: x0 invalid after Integrate: %v", name, err)
		}
		if e := maxAbsErr(flat64(t, x0), tensorsRound(x0v)); e != 0 {
			t.Errorf("%s: x0 changed by %g", name, e)
		}
	}
}

func tensorsRound(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(float32(v))
	}
	return out
}

func TestNaN(t *testing.T) {
	be := testBackend(t)
	// Finite until t = 0.5, NaN after: sqrt(0.5 − t).
	late := func(x, tt *Node) *Node {
		return Mul(x, Sqrt(Sub(Scalar(x.Graph(), x.DType(), 0.5), tt)))
	}
	// NaN from the start.
	early := func(x, _ *Node) *Node { return Mul(x, Sqrt(Scalar(x.Graph(), x.DType(), -1))) }
	x0 := startValues(2, 2)
	for _, name := range Methods() {
		for _, tc := range []struct {
			label string
			v     VelocityFn
			opt   Options
		}{
			{"late", late, Options{Method: name, Steps: 10}},
			{"late+path", late, Options{Method: name, Steps: 10, KeepPath: true}},
			{"early", early, Options{Method: name, Steps: 4}},
		} {
			_, err := Integrate(GraphCompiler(be, tc.v), tensorOf(x0, 2, 2, dtypes.Float32), tc.opt)
			if err == nil || !strings.Contains(err.Error(), "velocity produced NaN") {
				t.Errorf("%s %s: err = %v, want a 'velocity produced NaN' error", name, tc.label, err)
				continue
			}
			t.Logf("%s %s: %v", name, tc.label, err)
			// Euler first evaluates at t = 0.6 in the step to 0.7; midpoint and RK4 at 0.55, in the
			// step to 0.6: a path names the first bad snapshot.
			want := map[string]string{"euler": "not finite at t=0.7 ", "midpoint": "not finite at t=0.6 ", "rk4": "not finite at t=0.6 ", "dopri5": "in the dopri5 step to t="}[name]
			if tc.label == "late+path" && !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error should contain %q: %v", name, want, err)
			}
		}
	}
}

func TestValidation(t *testing.T) {
	be := testBackend(t)
	c := GraphCompiler(be, linear(-1).v)
	x := tensorOf(startValues(2, 2), 2, 2, dtypes.Float32)
	cases := []struct {
		opt  Options
		x    *tensors.Tensor
		want string
	}{
		{Options{Method: "heun", Steps: 5}, x, "valid: dopri5, euler, midpoint, rk4"},
		{Options{Method: "euler"}, x, "Steps ≥ 1"},
		{Options{Method: "rk4", Steps: -2}, x, "Steps ≥ 1"},
		{Options{Method: "dopri5", Atol: -1}, x, "Atol must be > 0"},
		{Options{Method: "dopri5", Rtol: math.NaN()}, x, "Rtol must be > 0"},
		{Options{Method: "euler", Steps: 3, T0: 0.5, T1: 0.5}, x, "non-empty"},
		{Options{Method: "euler", Steps: 3, T1: math.Inf(1)}, x, "finite"},
		{Options{Method: "euler", Steps: 3, PathEvery: -1}, x, "PathEvery"},
		{Options{Method: "dopri5", MaxFactor: 0.5}, x, "MaxFactor"},
		{Options{Method: "euler", Steps: 3}, tensors.FromFlatDataAndDimensions([]int32{1, 2}, 1, 2), "float32 or float64"},
		{Options{Method: "euler", Steps: 3}, nil, "x0 is nil"},
		{Options{Method: "dopri5", MaxSteps: 3, Atol: 1e-12, Rtol: 1e-12}, x, "exceeded MaxSteps=3"},
	}
	for _, tc := range cases {
		_, err := Integrate(c, tc.x, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want it to contain %q", tc.opt, err, tc.want)
		}
	}
	s, _ := NewSolver(c, "rk4")
	if _, err := s.Integrate(x, Options{Method: "euler", Steps: 2}); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("method mismatch: err = %v", err)
	}
	if _, err := NewSolver(nil, "rk4"); err == nil {
		t.Error("nil compiler accepted")
	}
}

// Tolerances and t are runtime inputs: changing them never recompiles (SetMaxCache(1) would fail).
func TestNoRecompileAcrossOptions(t *testing.T) {
	be := testBackend(t)
	var cc countingCompiler
	s, _ := NewSolver(cc.wrap(GraphCompiler(be, cosTime().v)), "dopri5")
	x := startValues(2, 3)
	for _, opt := range []Options{{Rtol: 1e-3}, {Rtol: 1e-6, Atol: 1e-9}, {T0: 2, T1: -1}, {T0: 0.1, T1: 0.2}} {
		if _, err := s.Integrate(tensorOf(x, 2, 3, dtypes.Float32), opt); err != nil {
			t.Fatal(err)
		}
	}
	if cc.builds.Load() != 2 {
		t.Errorf("%d graph builds across options, want 2", cc.builds.Load())
	}
}

func TestProgressAndContext(t *testing.T) {
	be := testBackend(t)
	c := GraphCompiler(be, linear(-1).v)
	x := startValues(2, 2)
	if !progress.Disabled() {
		for _, name := range []string{"rk4", "dopri5"} {
			var buf bytes.Buffer
			if _, err := Integrate(c, tensorOf(x, 2, 2, dtypes.Float32), Options{Method: name, Steps: 10, Progress: &buf}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "solve "+name) {
				t.Errorf("%s: progress output %q lacks the label", name, buf.String())
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := NewSolver(c, "euler")
	if _, err := s.IntegrateContext(ctx, tensorOf(x, 2, 2, dtypes.Float32), Options{Steps: 5}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}
