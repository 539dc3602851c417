package adjoint

import (
	"context"
	"io"
	"math"
	"testing"

	"github.com/nmflow/nmflow/nmflow/flow"
)

// Standardize divides the reward by its spread over the base model's samples, so the tilt no
// longer depends on the reward's units: the same linear reward in units 10⁴ times apart moves
// the fine-tuned law by the same amount. Base N(μ_b, s_b²) per coordinate, r = c·aᵀθ measured
// with spread S, tilted by exp(λ·r/S): mean shift (λ/S)·c·s_b²·a_j (the closed form of
// Linear). Without it, λ = 1.5 on the c = 0.01 reward would move it by 1% of that. The spread
// comes from the base's SDE samples (10 steps), a little narrower than its ODE samples, so it
// is checked against √Σ(c·a_j·s_b)² loosely.
func TestStandardizedRewardIsScaleFree(t *testing.T) {
	base := gaussBase(t)
	a := []float32{1, -0.5}
	const lambda = 1.5
	bm, bs := sampleMoments(t, base, 1000)
	var v float64
	for j := range a {
		v += float64(a[j]*a[j]) * bs[j] * bs[j]
	}
	sd := math.Sqrt(v) // the spread of aᵀθ under the base's ODE samples
	var means [][]float64
	var spreads []float64
	for _, c := range []float32{100, 0.01} {
		ca := []float32{c * a[0], c * a[1]}
		cfg := Config{Lambda: lambda, Steps: 10, Times: 4, Batch: 32, Iters: 80, LR: 1e-2, Seed: 3, Standardize: true}
		dir := t.TempDir()
		res, err := FineTune(context.Background(), base, Linear(ca), cfg, Options{Progress: io.Discard, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		spread := float64(c) * sd
		if math.Abs(res.RewardSpread-spread) > 0.35*spread {
			t.Errorf("c=%g: measured spread %.4g, want %.4g within 35%%", c, res.RewardSpread, spread)
		}
		if math.Abs(res.LambdaApplied*res.RewardSpread-lambda) > 1e-9*lambda {
			t.Errorf("c=%g: λ applied %.4g × spread %.4g ≠ λ %g", c, res.LambdaApplied, res.RewardSpread, lambda)
		}
		rec, err := ReadResult(dir)
		if err != nil || rec.RewardSpread != res.RewardSpread || rec.LambdaApplied != res.LambdaApplied {
			t.Errorf("c=%g: the record holds spread %v and λ applied %v (%v), want %v and %v", c, rec.RewardSpread, rec.LambdaApplied, err, res.RewardSpread, res.LambdaApplied)
		}
		fm, _ := sampleMoments(t, res.Model, 1000)
		for j := range a {
			shift := res.LambdaApplied * float64(ca[j]) * bs[j] * bs[j]
			t.Logf("c=%g coordinate %d: spread %.4g, fine-tuned mean %.3f, base %.3f, target %.3f", c, j, res.RewardSpread, fm[j], bm[j], bm[j]+shift)
			if math.Abs(fm[j]-bm[j]-shift) > 0.2*math.Abs(shift)+0.05 {
				t.Errorf("c=%g coordinate %d: fine-tuned mean %.3f, want %.3f", c, j, fm[j], bm[j]+shift)
			}
		}
		means, spreads = append(means, fm), append(spreads, res.RewardSpread)
	}
	if r := spreads[0] / spreads[1]; math.Abs(r-1e4) > 1e-3*1e4 {
		t.Errorf("spreads %v: ratio %.6g, want 10⁴ (the same samples, the reward 10⁴ times larger)", spreads, r)
	}
	for j := range a {
		if math.Abs(means[0][j]-means[1][j]) > 0.05 {
			t.Errorf("coordinate %d: fine-tuned means %.3f and %.3f for rewards 10⁴ apart, want the same", j, means[0][j], means[1][j])
		}
	}
}

// A standardized run measures the spread once: a run stopped and resumed reads it from the
// record and ends bit for bit where an uninterrupted one does.
func TestStandardizedResume(t *testing.T) {
	base := gaussBase(t)
	cfg := Config{Lambda: 1, Steps: 6, Times: 2, Batch: 16, Iters: 4, LR: 1e-2, Seed: 9, Standardize: true}
	reward := Linear([]float32{3, 3})
	full, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: t.TempDir(), Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dir, CheckpointEvery: 1, StopAfter: 2, Progress: io.Discard}); err == nil {
		t.Fatal("StopAfter 2 did not stop")
	}
	resumed, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dir, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.RewardSpread != full.RewardSpread || !sameBits(full.Loss, resumed.Loss) || !sameBits(full.RewardHistory, resumed.RewardHistory) {
		t.Errorf("resumed run: spread %v, loss %v; uninterrupted: %v, %v", resumed.RewardSpread, resumed.Loss, full.RewardSpread, full.Loss)
	}
	if _, err := flow.Load(dir, nil); err != nil {
		t.Error(err)
	}
}

// Decay is a cosine from the full learning rate at the first iteration towards 0 at the last.
func TestDecaySchedule(t *testing.T) {
	c := Config{Iters: 4, Decay: true}
	want := []float64{1, 0.5 + 0.5*math.Cos(math.Pi/4), 0.5, 0.5 - 0.5*math.Cos(math.Pi/4)}
	for it, w := range want {
		if got := c.decayAt(it); math.Abs(got-w) > 1e-12 {
			t.Errorf("iteration %d: factor %v, want %v", it, got, w)
		}
	}
	if c.Decay = false; c.decayAt(3) != 1 {
		t.Error("without Decay the factor must be 1")
	}
}
