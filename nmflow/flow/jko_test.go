package flow

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// quadTau is the step of quadraticZoo's trajectories.
const quadTau = 0.25

// quadraticZoo holds exact explicit-step trajectories of V*(x) = ½·Σ a_i x_i²: each checkpoint is
// x_{k+1} = x_k − τ·∇V*(x_k), i.e. x_{k+1,i} = (1 − τ·a_i)·x_{k,i}, with τ = quadTau.
func quadraticZoo(a []float64, runs, ckpts int) *traj.Zoo {
	l := flatLayout(len(a))
	z := newZoo(l, runs, ckpts)
	for r := 0; r < runs; r++ {
		x, err := arch.Init(l, arch.InitPyTorch, uint64(r+11))
		if err != nil {
			panic(err)
		}
		for i := range x {
			x[i] *= 3 // a wider spread than the init law's ±1/√3
		}
		copy(z.At(r, 0), x)
		for k := 1; k < ckpts; k++ { // explicit steps x ← x − τ·a ⊙ x
			prev, w := z.At(r, k-1), z.At(r, k)
			for i := range w {
				w[i] = prev[i] * float32(1-quadTau*a[i])
			}
		}
	}
	return z
}

// JKO on a known quadratic potential recovers its gradient ∇V*(x) = a ⊙ x on the data, at the
// points the explicit sampler steps from (every checkpoint but the last).
func TestJKORecoversQuadraticPotential(t *testing.T) {
	a := []float64{0.5, 1, 2}
	z := quadraticZoo(a, 64, 4)
	cfg := Config{Method: MethodJKO, Coupling: CouplingTrajectory, Norm: NormNone, Net: NetConfig{Width: 32, Depth: 1, TimeDim: 8},
		Steps: 600, BatchSize: 64, LR: 1e-2, EMA: 0.9, Seed: 2, JKO: JKOConfig{Tau: quadTau, SubSteps: 1}}
	m, err := fitQuiet(t, z, cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.AnchorCheckpoints) != 4 {
		t.Fatalf("anchors %v, want all 4 checkpoints", m.AnchorCheckpoints)
	}
	// ∇V at every non-initial checkpoint, through the sampler's (EMA) weights.
	// Checkpoint k is where the step to anchor time t_{k+1} starts (the interval's quadratic).
	exec, err := model.NewExec(m.be, m.sampler, func(scope *model.Scope, x, tt *Node) *Node {
		_, grad := potential(scope.In("vel"), m.Config, x, tt, m.AnchorTimes)
		return grad
	})
	if err != nil {
		t.Fatal(err)
	}
	var pts, ts []float32
	for k := 0; k < z.Checkpoints-1; k++ {
		pts = append(pts, z.Checkpoint(k)...)
		for range z.Runs {
			ts = append(ts, float32(m.AnchorTimes[k+1]))
		}
	}
	n := len(pts) / len(a)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(pts, n, len(a)), tensors.FromFlatDataAndDimensions(ts, n))
	if err != nil {
		t.Fatal(err)
	}
	grad := tensors.MustCopyFlatData[float32](out[0])
	var num, den float64
	for i := 0; i < n; i++ {
		for j := range a {
			want := a[j] * float64(pts[i*len(a)+j])
			num += math.Pow(float64(grad[i*len(a)+j])-want, 2)
			den += want * want
		}
	}
	rel := math.Sqrt(num / den)
	t.Logf("relative error of ∇V on the data: %.4f (loss %.2e → %.2e)", rel, smoothLoss(m.History[:10]), smoothLoss(m.History))
	if rel > 0.15 {
		t.Errorf("learned ∇V is off the true gradient by %.1f%%", 100*rel)
	}
	s, err := m.Sample(16, SampleOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := m.Sample(16, SampleOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// From the sample's own starting points (NormNone: exact), JKO takes the same steps.
	s3, err := m.Sample(16, SampleOptions{From: s.Inits})
	if err != nil {
		t.Fatal(err)
	}
	if !equalFloats(s3.Weights, s.Weights) {
		t.Error("JKO from a sample's own inits gave other nets")
	}
	if len(s.Marginals) != 3 || !equalFloats(s.Weights, s.Marginals[2]) || !equalFloats(s.Weights, s2.Weights) {
		t.Errorf("JKO sampling: %d marginals (want 3), last = weights: %v, reproducible: %v",
			len(s.Marginals), equalFloats(s.Weights, s.Marginals[2]), equalFloats(s.Weights, s2.Weights))
	}
}

// The hand-written ∇_x V equals autodiff's gradient of V for every kind of separable term, with
// the separable variables away from their zero start, and each kind holds the variables it says:
// per-interval rows [K, D] picked by the step's interval, or the shared [D] of older fits ("").
func TestJKOPotentialGradient(t *testing.T) {
	be := testBackend(t)
	const b, d = 8, 5
	times := []float64{0, 0.1, 0.5, 0.6, 1} // K = 4 intervals, uneven
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, b*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	tt := make([]float32, b)
	for i := range tt {
		tt[i] = float32(times[1+i%4])
	}
	for _, sep := range []string{SeparableShift, SeparableInterval, SeparableShared, ""} {
		t.Run("separable="+sep, func(t *testing.T) {
			cfg := Config{Net: NetConfig{Width: 6, Depth: 1, TimeDim: 4}, JKO: JKOConfig{Tau: 1, Separable: sep}}
			store := model.NewStore()
			if err := store.SetRNGStateFromSeed(3); err != nil {
				t.Fatal(err)
			}
			exec, err := model.NewExec(be, store, func(scope *model.Scope, x, tt *Node) []*Node {
				v, grad := potential(scope.In("vel"), cfg, x, tt, times)
				return []*Node{grad, Gradient(ReduceAllSum(v), x)[0], intervalIndex(tt, times)}
			})
			if err != nil {
				t.Fatal(err)
			}
			run := func() []*tensors.Tensor {
				out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, b, d), tensors.FromFlatDataAndDimensions(tt, b))
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			run() // creates the variables
			shapes := map[string][]int{}
			for v := range store.IterVariables() {
				if strings.Contains(v.Path(), "separable") {
					shapes[v.Name()] = v.Shape().Dimensions
					vals := make([]float32, v.Shape().Size())
					for i := range vals {
						vals[i] = float32(0.1 * rng.NormFloat64())
					}
					if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := map[string]string{
				SeparableShift:    "map[linear:[4 5]]",
				SeparableInterval: "map[linear:[4 5] quadratic:[4 5]]",
				SeparableShared:   "map[linear:[5] quadratic:[5]]",
				"":                "map[linear:[5] quadratic:[5]]",
			}[sep]
			if got := fmt.Sprint(shapes); got != want {
				t.Errorf("separable variables %s, want %s", got, want)
			}
			out := run()
			hand, auto := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
			for i := range hand {
				if math.Abs(float64(hand[i]-auto[i])) > 1e-5*(1+math.Abs(float64(auto[i]))) {
					t.Fatalf("∇V[%d] by hand %v, autodiff %v", i, hand[i], auto[i])
				}
			}
			if idx := fmt.Sprint(tensors.MustCopyFlatData[int32](out[2])); idx != "[0 1 2 3 0 1 2 3]" {
				t.Errorf("interval indices of t = %v: %s, want [0 1 2 3 0 1 2 3]", tt, idx)
			}
		})
	}
}

// A new JKO fit records its separable term; the JKOConfig of a fit made before the field existed
// serializes as it did (no "separable" key), and Load's "" means the shared term (above).
func TestJKOSeparableJSON(t *testing.T) {
	c, err := Config{Method: MethodJKO}.Defaults()
	if err != nil || c.JKO.Separable != SeparableShift || c.Steps != DefaultJKOSteps || c.JKO.SubSteps != DefaultJKOSubSteps || c.Net.Width != DefaultJKOWidth {
		t.Fatalf("jko defaults: separable %q, steps %d, sub-steps %d, width %d (err %v); want %s, %d, %d, %d",
			c.JKO.Separable, c.Steps, c.JKO.SubSteps, c.Net.Width, err, SeparableShift, DefaultJKOSteps, DefaultJKOSubSteps, DefaultJKOWidth)
	}
	if cfm, _ := (Config{}).Defaults(); cfm.Steps != 2000 || cfm.Net.Width != 128 {
		t.Errorf("cfm default steps %d, width %d; want 2000, 128", cfm.Steps, cfm.Net.Width)
	}
	b, _ := json.Marshal(c.JKO)
	if string(b) != `{"tau":1,"separable":"shift","sub_steps":10}` {
		t.Errorf("jko config JSON %s", b)
	}
	old, _ := json.Marshal(JKOConfig{Tau: 1})
	if string(old) != `{"tau":1}` {
		t.Errorf("an older fit's jko config now serializes as %s, want {\"tau\":1}", old)
	}
	if _, err := (Config{Method: MethodJKO, JKO: JKOConfig{Separable: "cubic"}}).Defaults(); err == nil || !strings.Contains(err.Error(), "separable") {
		t.Errorf("unknown separable term: err = %v", err)
	}
}

// With SubSteps n a JKO batch row is the one-step row (same run, source draw and interval) moved
// along its chord by k/n of the interval, k = 0 … n−1: the same displacement, started where the
// sampler's k-th sub-step stands; the interval's end time is kept.
func TestJKOSubStepBatches(t *testing.T) {
	z := curvedZoo(16, 5)
	one := Config{Method: MethodJKO, Norm: NormNone, BatchSize: 32, Seed: 4, JKO: JKOConfig{SubSteps: 1}}
	four := one
	four.JKO.SubSteps = 4
	t1, t4 := newTrainer(t, z, one), newTrainer(t, z, four)
	for _, tr := range []*trainer{t1, t4} {
		tr.m = &Model{}
		if err := tr.setupAnchors(z, 4); err != nil {
			t.Fatal(err)
		}
	}
	b1, b4 := t1.draw(t, 2), t4.draw(t, 2)
	p := z.Params
	seen := map[int]bool{}
	for i := 0; i < one.BatchSize; i++ {
		if b1.tt[i] != b4.tt[i] {
			t.Fatalf("row %d: end time %v with one step, %v with 4", i, b1.tt[i], b4.tt[i])
		}
		k := -1
		for c := 0; c < 4 && k < 0; c++ {
			ok := true
			for j := i * p; j < (i+1)*p; j++ {
				d := b1.target[j] - b1.xt[j]
				if math.Abs(float64(b4.xt[j]-(b1.xt[j]+float32(c)/4*d))) > 1e-5 || math.Abs(float64((b4.target[j]-b4.xt[j])-d)) > 1e-5 {
					ok = false
					break
				}
			}
			if ok {
				k = c
			}
		}
		if k < 0 {
			t.Fatalf("row %d is not the one-step row moved along its chord by k/4", i)
		}
		seen[k] = true
	}
	if len(seen) < 3 {
		t.Errorf("sub-steps drawn in 32 rows: %v, want at least 3 of the 4", seen)
	}
}
