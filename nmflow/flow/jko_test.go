package flow

import (
	"math"
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
		Steps: 600, BatchSize: 64, LR: 1e-2, EMA: 0.9, Seed: 2, JKO: JKOConfig{Tau: quadTau}}
	m, err := fitQuiet(t, z, cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.AnchorCheckpoints) != 4 {
		t.Fatalf("anchors %v, want all 4 checkpoints", m.AnchorCheckpoints)
	}
	// ∇V at every non-initial checkpoint, through the sampler's (EMA) weights.
	exec, err := model.NewExec(m.be, m.sampler, func(scope *model.Scope, x *Node) *Node {
		_, grad := potential(scope.In("vel"), m.Config, x, nil)
		return grad
	})
	if err != nil {
		t.Fatal(err)
	}
	var pts []float32
	for k := 0; k < z.Checkpoints-1; k++ {
		pts = append(pts, z.Checkpoint(k)...)
	}
	n := len(pts) / len(a)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(pts, n, len(a)))
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
