package flow

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/spline"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func TestAnchorCheckpointsAndTimes(t *testing.T) {
	for _, c := range []struct {
		target, k int
		want      []int
	}{
		{10, 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{10, NoIntermediates, []int{0, 10}},
		{10, 1, []int{0, 5, 10}},
		{10, 4, []int{0, 2, 4, 6, 8, 10}},
		{4, 3, []int{0, 1, 2, 3, 4}},
	} {
		got, err := AnchorCheckpoints(c.target, c.k)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("AnchorCheckpoints(%d, %d) = %v, %v; want %v", c.target, c.k, got, err, c.want)
		}
	}
	if _, err := AnchorCheckpoints(4, 4); err == nil {
		t.Error("4 intermediates between checkpoints 0 and 4 accepted")
	}
	// One run on a 1-parameter layout moving 0 → 1 → 3 → 3.5 → 4 at steps 0, 10, 30, 60, 100.
	z := newZoo(flatLayout(1), 1, 5)
	z.Steps = []int64{0, 10, 30, 60, 100}
	for k, v := range []float32{0, 1, 3, 3.5, 4} {
		z.At(0, k)[0] = v
	}
	got, err := CheckpointTimes(TimesSteps, z, []int{0, 2, 4})
	if err != nil || !slices.Equal(got, []float64{0, 0.3, 1}) {
		t.Errorf("step times = %v, %v", got, err)
	}
	got, err = CheckpointTimes(TimesUniform, z, []int{0, 2, 3, 4})
	if err != nil || !slices.Equal(got, []float64{0, 1.0 / 3, 2.0 / 3, 1}) {
		t.Errorf("uniform times = %v, %v", got, err)
	}
	// Arc length through every checkpoint, also those that are not anchors.
	got, err = CheckpointTimes(TimesArc, z, []int{0, 2, 4})
	if err != nil || !slices.Equal(got, []float64{0, 0.75, 1}) {
		t.Errorf("arc times = %v, %v", got, err)
	}
	z.Steps = []int64{0, 5, 5, 6, 7}
	if _, err := CheckpointTimes(TimesSteps, z, []int{0, 1, 2}); err == nil {
		t.Error("repeated steps accepted")
	}
	z.At(0, 1)[0] = 0
	if _, err := CheckpointTimes(TimesArc, z, []int{0, 1, 2}); err == nil {
		t.Error("a checkpoint that did not move accepted for arc times")
	}
}

// The path goes through its anchors, its target is its time derivative, and the adaptive noise
// vanishes (to its floor) at the anchors with the derivative its formula gives.
func TestMMFMPath(t *testing.T) {
	knots := []float64{0, 0.3, 0.6, 1}
	basis, err := spline.NewBasis(spline.Cubic, knots)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const p = 7
	anchors := make([][]float32, len(knots))
	for k := range anchors {
		anchors[k] = make([]float32, p)
		for j := range anchors[k] {
			anchors[k][j] = float32(rng.NormFloat64())
		}
	}
	eps := make([]float32, p)
	for j := range eps {
		eps[j] = float32(rng.NormFloat64())
	}
	for _, adaptive := range []bool{false, true} {
		m := &mmfmPath{basis: basis, knots: knots, sigma: 0.2, adaptive: adaptive, sigmaMin: 0.01}
		xt, u := make([]float32, p), make([]float32, p)
		for k, tk := range knots {
			if err := m.fill(anchors, tk, eps, xt, u); err != nil {
				t.Fatal(err)
			}
			s, _ := m.noise(tk)
			for j := range xt {
				if d := math.Abs(float64(xt[j] - anchors[k][j] - float32(s)*eps[j])); d > 1e-5 {
					t.Fatalf("adaptive=%v: x(t_%d) is off its anchor (+σε) by %g", adaptive, k, d)
				}
			}
			if adaptive && math.Abs(s-0.01) > 1e-12 {
				t.Errorf("adaptive σ at anchor %d = %g, want the floor 0.01", k, s)
			}
		}
		const h = 1e-4
		for _, tt := range []float64{0.1, 0.45, 0.8} {
			xp, xm := make([]float32, p), make([]float32, p)
			if err := m.fill(anchors, tt+h, eps, xp, u); err != nil {
				t.Fatal(err)
			}
			if err := m.fill(anchors, tt-h, eps, xm, u); err != nil {
				t.Fatal(err)
			}
			if err := m.fill(anchors, tt, eps, xt, u); err != nil {
				t.Fatal(err)
			}
			for j := range u {
				fd := (float64(xp[j]) - float64(xm[j])) / (2 * h)
				if math.Abs(fd-float64(u[j])) > 2e-2*(1+math.Abs(fd)) {
					t.Fatalf("adaptive=%v t=%v: target %g, finite difference %g", adaptive, tt, u[j], fd)
				}
			}
		}
	}
}

// MMFM with two anchors (no intermediates) is CFM: same batches, same fit.
func TestMMFMTwoAnchorsEqualsCFM(t *testing.T) {
	z := driftZoo(tinyLayout(), 12, 5, 5)
	base := smallConfig()
	// Velocity prediction: with σ > 0, CFM's endpoint target is x1 while MMFM's is x_t + (1 − t)·u.
	base.Coupling, base.Sigma, base.Steps, base.Predict = CouplingIndependent, 0.05, 20, PredictVelocity
	mm := base
	mm.Method, mm.Intermediates = MethodMMFM, NoIntermediates
	cfm, err := fitQuiet(t, z, base, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	mmfm, err := fitQuiet(t, z, mm, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mmfm.AnchorCheckpoints, []int{0, 4}) {
		t.Fatalf("anchors %v, want [0 4]", mmfm.AnchorCheckpoints)
	}
	for s := range cfm.History {
		a, b := float64(cfm.History[s]), float64(mmfm.History[s])
		if math.Abs(a-b) > 1e-4*math.Abs(a) {
			t.Fatalf("step %d: CFM loss %g, two-anchor MMFM loss %g", s, a, b)
		}
	}
	tc, tm := newTrainer(t, z, base), newTrainer(t, z, mm)
	tm.m = &Model{}
	if err := tm.setupAnchors(z, 4); err != nil {
		t.Fatal(err)
	}
	bc, bm := tc.draw(t, 3), tm.draw(t, 3)
	for j := range bc.xt {
		if math.Abs(float64(bc.xt[j]-bm.xt[j])) > 1e-5 || math.Abs(float64(bc.target[j]-bm.target[j])) > 1e-5 {
			t.Fatalf("batch element %d: CFM (%g, %g), MMFM (%g, %g)", j, bc.xt[j], bc.target[j], bm.xt[j], bm.target[j])
		}
	}
}

// curvedZoo: runs bend away from the straight line init → final, x(s) = x0 + s·a + 4s(1−s)·b,
// checkpoints at s = k/K: the straight path of CFM misses the middle checkpoints by up to |b|.
func curvedZoo(runs, ckpts int) *traj.Zoo {
	l := flatLayout(4)
	z := newZoo(l, runs, ckpts)
	a, b := []float32{1, -1, 0.5, 0}, []float32{0, 1.5, -1, 1}
	for r := 0; r < runs; r++ {
		x0, err := arch.Init(l, arch.InitPyTorch, uint64(r+1))
		if err != nil {
			panic(err)
		}
		for k := 0; k < ckpts; k++ {
			s := float32(k) / float32(ckpts-1)
			for j, w := 0, z.At(r, k); j < len(w); j++ {
				w[j] = x0[j] + s*a[j] + 4*s*(1-s)*b[j]
			}
		}
	}
	return z
}

// The paper's claim in miniature: on curved trajectories MMFM's generated intermediate marginal is
// much closer (W1) to the real checkpoints than CFM's straight-line one.
func TestMMFMFollowsCurvedTrajectories(t *testing.T) {
	z := curvedZoo(32, 5)
	cfg := Config{Net: NetConfig{Width: 32, Depth: 1, TimeDim: 8}, Steps: 300, BatchSize: 32, LR: 5e-3, Norm: NormNone, Seed: 1}
	w1 := map[string]float64{}
	for _, method := range []string{MethodCFM, MethodMMFM} {
		c := cfg
		c.Method = method
		m, err := fitQuiet(t, z, c, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := m.CompareMarginals(z, 32, SampleOptions{Seed: 9, Solve: solve.Options{Method: "rk4", Steps: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Checkpoints, []int{1, 2, 3, 4}) || !slices.Equal(rep.Times, []float64{0.25, 0.5, 0.75, 1}) {
			t.Fatalf("%s compared at checkpoints %v, times %v", method, rep.Checkpoints, rep.Times)
		}
		gen, real := rowsOf(rep.Samples.Marginals[1], 32, 4), rowsOf(z.Checkpoint(2), 32, 4)
		direct, err := eval.W1(gen, real)
		if err != nil || direct != rep.W1[1] {
			t.Fatalf("report W1 %v, direct %v (%v)", rep.W1[1], direct, err)
		}
		w1[method] = rep.W1[1]
	}
	t.Logf("W1 at the middle checkpoint: CFM %.3f, MMFM %.3f", w1[MethodCFM], w1[MethodMMFM])
	if !(w1[MethodMMFM] < 0.4*w1[MethodCFM]) || w1[MethodCFM] < 0.5 {
		t.Errorf("W1 at the middle checkpoint: CFM %.3f, MMFM %.3f; want MMFM well below CFM", w1[MethodCFM], w1[MethodMMFM])
	}
}

// Sampling through intermediate times lands where one plain integration on the same grid does.
func TestSampleAtMatchesPlainSampling(t *testing.T) {
	z := driftZoo(tinyLayout(), 12, 3, 2)
	m, err := fitQuiet(t, z, smallConfig(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.Sample(6, SampleOptions{Seed: 4, Solve: solve.Options{Method: "euler", Steps: 10, KeepPath: true}})
	if err != nil {
		t.Fatal(err)
	}
	at, err := m.Sample(6, SampleOptions{Seed: 4, At: []float64{0.5, 1}, Solve: solve.Options{Method: "euler", Steps: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(at.Marginals) != 2 || at.NFE != plain.NFE {
		t.Fatalf("%d marginals, %d evaluations (plain %d)", len(at.Marginals), at.NFE, plain.NFE)
	}
	close := func(a, b []float32) bool {
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-5 {
				return false
			}
		}
		return true
	}
	if !close(at.Marginals[0], plain.Path[5]) || !close(at.Marginals[1], plain.Weights) || !close(at.Weights, plain.Weights) {
		t.Error("states through At differ from the plain integration")
	}
	if _, err := m.Sample(2, SampleOptions{At: []float64{0.5, 0.4}}); err == nil {
		t.Error("decreasing times accepted")
	}
}
