package adjoint

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/flow"
)

// The discretization's lean adjoint must equal the continuous one, ã(t) = −λa·exp(∫_t^1
// (2s(u) − 1/u) du) for the Gaussian field v = s(t)·x, at every point of a shifted grid (the
// DDIM-style integrator is exact there; freezing v instead of D is off by ~5% at K = 10). The
// continuous value comes from Simpson quadrature, independent of the scheme.
func TestSchemeMatchesContinuousAdjoint(t *testing.T) {
	const lambda, a = 1.0, 1.5
	cont := func(t0 float64) float64 {
		const n = 20000
		h := (1 - t0) / n
		f := func(u float64) float64 { return 2*gaussSlope(u) - 1/u }
		sum := f(t0) + f(1)
		for i := 1; i < n; i++ {
			w := 2.0
			if i%2 == 1 {
				w = 4
			}
			sum += w * f(t0+float64(i)*h)
		}
		return -lambda * a * math.Exp(sum*h/3)
	}
	for _, tc := range []struct {
		steps int
		delta float64
	}{{10, 0.5}, {10, 0.13}, {25, 0.77}} {
		ts := grid(tc.steps, tc.delta)
		adj := -lambda * a
		for k := tc.steps - 1; k >= 1; k-- {
			ca, cb, _ := stepCoeffs(ts[k], ts[k+1])
			adj = ca*adj + cb*gaussSlope(ts[k])*adj
			if want := cont(ts[k]); math.Abs(adj-want) > 2e-3*math.Abs(want)+1e-6 {
				t.Errorf("K=%d δ=%g: ã(%.3f) = %.5f, continuous %.5f", tc.steps, tc.delta, ts[k], adj, want)
			}
		}
	}
	// The first step is a fresh draw X = m + t₁·(D − m) + (1 − t₁)·c·ε; the last lands on D.
	if a, b, s := stepCoeffs(0, 0.2); math.Abs(a-0.2) > 1e-12 || math.Abs(b-0.2) > 1e-12 || math.Abs(s-0.8) > 1e-12 {
		t.Errorf("first step coefficients %v %v %v, want 0.2 0.2 0.8", a, b, s)
	}
	if a, b, s := stepCoeffs(0.9, 1); a != 1 || math.Abs(b-0.1) > 1e-12 || s != 0 {
		t.Errorf("last step coefficients %v %v %v, want 1 0.1 0", a, b, s)
	}
}

// Base N(0, 1) (the exact field), reward r(x) = a·x ⇒ target N(λa, 1), with either loss
// weighting. The fine-tuned field is sampled with the ODE, as `nmflow sample` would, so this also
// checks that the control learned on the SDE's grids is the tilted flow's velocity at every time.
func TestGaussianClosedForm1D(t *testing.T) {
	const lambda, a = 1.0, 1.5
	for _, w := range []string{WeightOutput, WeightAdjoint} {
		cfg := Config{Lambda: lambda, Steps: 10, Times: 4, Batch: 32, Iters: 80, LR: 1e-2, Seed: 3, Weight: w}
		e, store := exactEngine(t, cfg, Linear([]float32{a}))
		level := 0.0
		for it := range e.cfg.Iters {
			st, err := e.iterate(it, level)
			if err != nil {
				t.Fatal(err)
			}
			level = nextLevel(level, st.perSample, e.cfg.LossQuantile, e.cfg.LossEMA)
		}
		m, s := moments(odeSample(t, store, 2000), 2000, 1)
		t.Logf("%s weighting: fine-tuned mean %.3f std %.3f; target N(%.2f, 1)", w, m[0], s[0], lambda*a)
		if math.Abs(m[0]-lambda*a) > 0.15 || math.Abs(s[0]-1) > 0.1 {
			t.Errorf("%s weighting: fine-tuned law has mean %.3f and std %.3f, want N(%.2f, 1) within 0.15 and 0.1", w, m[0], s[0], lambda*a)
		}
	}
}

// The same through the public API, on a CFM fitted on N(0, I₂) samples: the target is the tilt
// of the fitted base's own law, N(μ_b + λ·s_b²·a, s_b²) per coordinate, which the fine-tuned
// model's ODE samples must match within 20% of the shift (the fitted field is not exactly the
// Gaussian one, so the memoryless identity holds only approximately).
func TestGaussianClosedForm2D(t *testing.T) {
	base := gaussBase(t)
	a := []float32{1, -0.5}
	const lambda = 1.5
	bm, bs := sampleMoments(t, base, 1000)
	cfg := Config{Lambda: lambda, Steps: 10, Times: 4, Batch: 32, Iters: 80, LR: 1e-2, Seed: 3}
	res, err := FineTune(context.Background(), base, Linear(a), cfg, Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exact {
		t.Error("a Gaussian-source, independent-coupling model should be reported exact")
	}
	fm, fs := sampleMoments(t, res.Model, 1000)
	for j := range a {
		shift := lambda * float64(a[j]) * bs[j] * bs[j]
		t.Logf("coordinate %d: base N(%.3f, %.3f²), fine-tuned N(%.3f, %.3f²), target mean %.3f", j, bm[j], bs[j], fm[j], fs[j], bm[j]+shift)
		if math.Abs(fm[j]-bm[j]-shift) > 0.2*math.Abs(shift)+0.05 || math.Abs(fs[j]-bs[j]) > 0.15 {
			t.Errorf("coordinate %d: fine-tuned mean %.3f std %.3f, want %.3f and %.3f", j, fm[j], fs[j], bm[j]+shift, bs[j])
		}
	}
	first, last := res.RewardHistory[0], mean32(res.RewardHistory[len(res.RewardHistory)-10:])
	if !(last > first+1) {
		t.Errorf("reward went from %.3f to %.3f, want a rise of > 1", first, last)
	}
}

func mean32(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += x / float32(len(v))
	}
	return s
}

// λ = 0: the adjoint is exactly zero, and since the fine-tuned field starts as an exact copy of
// the base, so is the loss, the KL proxy, the gradient, and the Adam step. With λ = 1 they are not.
func TestZeroLambdaLeavesTheModel(t *testing.T) {
	for _, lambda := range []float64{0, 1} {
		e, store := exactEngine(t, Config{Lambda: lambda, Steps: 6, Times: 2, Batch: 8, Iters: 2}, Linear([]float32{1}))
		x := tensors.FromFlatDataAndDimensions([]float32{-1, 0, 0.5, 1, 2, 3, -2, 0.1}, 8, 1)
		out, err := e.rew.Exec(x, float32(lambda))
		if err != nil {
			t.Fatal(err)
		}
		adj := tensors.MustCopyFlatData[float32](out[1])
		// The first iteration creates the variables; the second must leave them as they are.
		if _, err := e.iterate(0, 0); err != nil {
			t.Fatal(err)
		}
		before := weightsOf(t, store)
		st, err := e.iterate(1, 0)
		if err != nil {
			t.Fatal(err)
		}
		after := weightsOf(t, store)
		changed := false
		for p, w := range before {
			if strings.HasPrefix(p, "/vel/") && !sameBits(w, after[p]) {
				changed = true
			}
		}
		zero := st.loss == 0 && st.kl == 0 && st.gnorm == 0 && !changed
		for _, v := range adj {
			zero = zero && v == 0
		}
		if lambda == 0 && !zero {
			t.Errorf("λ=0: adjoint %v, loss %g, KL %g, gradient norm %g, weights changed %v; want all zero/unchanged", adj, st.loss, st.kl, st.gnorm, changed)
		}
		if lambda == 1 && (st.loss == 0 || !changed || adj[0] != -1) {
			t.Errorf("λ=1: adjoint %v (want −1 each), loss %g, weights changed %v", adj, st.loss, changed)
		}
	}
}

// A run interrupted after 3 iterations and resumed from its checkpoint gives bit for bit the
// same history and weights as an uninterrupted run; the output folder loads as a meta-model.
func TestResumeEqualsUninterrupted(t *testing.T) {
	base := gaussBase(t)
	cfg := Config{Lambda: 1, Steps: 6, Times: 2, Batch: 16, Iters: 6, LR: 1e-2, Seed: 9}
	reward := Linear([]float32{1, 1})
	dirA, dirB := t.TempDir(), t.TempDir()
	full, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dirA, CheckpointEvery: 2, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if full.LambdaApplied != cfg.Lambda || full.RewardSpread != 0 {
		t.Errorf("unstandardized run: λ applied %v, spread %v; want λ = %v as given and no spread", full.LambdaApplied, full.RewardSpread, cfg.Lambda)
	}
	if _, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dirB, CheckpointEvery: 2, StopAfter: 3, Progress: io.Discard}); !errors.Is(err, ErrStopped) {
		t.Fatalf("StopAfter 3: got %v, want ErrStopped", err)
	}
	if r, err := ReadResult(dirB); err != nil || r.Iters != 3 {
		t.Fatalf("after the stop the record says %v iterations (%v), want 3", r, err)
	}
	resumed, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dirB, CheckpointEvery: 2, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]float32{
		"reward": {full.RewardHistory, resumed.RewardHistory}, "loss": {full.Loss, resumed.Loss},
		"kl": {full.KL, resumed.KL}, "grad norm": {full.GradNorm, resumed.GradNorm},
	} {
		if len(pair[0]) != cfg.Iters || !sameBits(pair[0], pair[1]) {
			t.Errorf("%s history: uninterrupted %v, resumed %v", name, pair[0], pair[1])
		}
	}
	loaded, err := flow.Load(dirB, nil)
	if err != nil {
		t.Fatal(err)
	}
	wa, wb, wl := weightsOf(t, full.Model.Weights()), weightsOf(t, resumed.Model.Weights()), weightsOf(t, loaded.Weights())
	if len(wa) == 0 {
		t.Fatal("the fine-tuned model has no weights")
	}
	for p, w := range wa {
		if !sameBits(w, wb[p]) || !sameBits(w, wl[p]) {
			t.Errorf("%s differs between the uninterrupted, resumed and loaded models", p)
		}
	}
	// Nothing left to do: a rerun returns the same model without iterating.
	again, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dirB, Progress: io.Discard})
	if err != nil || again.Iters != cfg.Iters || !sameBits(again.Loss, full.Loss) {
		t.Errorf("rerun of a finished run: %v, %v", again, err)
	}
	cfg.Lambda = 2
	if _, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dirB, Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("resuming with another λ: got %v, want an error about other settings", err)
	}
}

func TestErrors(t *testing.T) {
	base := gaussBase(t)
	ctx := context.Background()
	if _, err := FineTune(ctx, base, nil, Config{Lambda: 1}, Options{}); err == nil || !strings.Contains(err.Error(), "reward") {
		t.Errorf("nil reward: %v", err)
	}
	if _, err := FineTune(ctx, &flow.Model{}, Linear([]float32{1, 1}), Config{Lambda: 1}, Options{}); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Errorf("model without weights: %v", err)
	}
	for _, c := range []Config{{Lambda: -1}, {Lambda: math.NaN()}, {Lambda: 1, Steps: 1}, {Lambda: 1, Steps: 5, Times: 5}, {Lambda: 1, LossQuantile: 2}, {Lambda: 1, LossEMA: 1}} {
		if _, err := c.Defaults(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	// An output folder holding a meta-model that is not a fine-tuning result is refused.
	dir := t.TempDir()
	if err := base.SaveAs(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := FineTune(ctx, base, Linear([]float32{1, 1}), Config{Lambda: 1, Iters: 1}, Options{Dir: dir, Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "not a fine-tuning result") {
		t.Errorf("output folder with a base model: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, resultFile)); err == nil {
		t.Error("a refused run wrote its record")
	}
}

// Denormalize is θ = μ + s⊙z, and the reward's gradient flows through it.
func TestDenormalizeGradient(t *testing.T) {
	be := testBackend(t)
	dec := Denormalize([]float32{1, -2}, []float32{2, 0.5})
	r := Linear([]float32{3, 4})
	e, err := NewExec(be, func(z *Node) []*Node {
		v, _ := r.Graph(dec(z), nil)
		return []*Node{v, Gradient(ReduceAllSum(v), z)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(tensors.FromFlatDataAndDimensions([]float32{0.5, 1}, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	// θ = (1 + 2·0.5, −2 + 0.5·1) = (2, −1.5): r = 6 − 6 = 0; ∇_z r = (3·2, 4·0.5).
	if v, g := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]); v[0] != 0 || g[0] != 6 || g[1] != 2 {
		t.Errorf("r = %v, ∇r = %v; want 0 and [6 2]", v, g)
	}
}
