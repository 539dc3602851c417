package adjoint

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/nmflow/nmflow/nmflow/flow"
)

// faultyReward is r(θ) = aᵀθ + f·Σθ with f = 0, except f = NaN at one iteration: the call of
// Inputs number at − from (a FineTune call that starts at iteration from draws its inputs once
// per iteration, in order), so the reward, the adjoint and the loss of that iteration are NaN.
// The call index only grows, so an iteration run again after going back is not poisoned again.
type faultyReward struct {
	a        []float32
	from, at int // at < 0: never
	calls    int
	poisoned int // how many times the fault fired
}

func (f *faultyReward) Name() string      { return "faulty-linear" }
func (f *faultyReward) Metrics() []string { return nil }
func (f *faultyReward) Inputs(*rand.Rand) ([]*tensors.Tensor, error) {
	v := float32(0)
	if f.at >= 0 && f.calls == f.at-f.from {
		v = float32(math.NaN())
		f.poisoned++
	}
	f.calls++
	return []*tensors.Tensor{tensors.FromScalar(v)}, nil
}
func (f *faultyReward) Graph(theta *Node, in []*Node) (*Node, []*Node) {
	r := ReduceSum(Mul(theta, InsertAxes(Const(theta.Graph(), f.a), 0)), -1)
	return Add(r, Mul(in[0], ReduceSum(theta, -1))), nil
}

func fault(from, at int) *faultyReward {
	return &faultyReward{a: []float32{1, -0.5}, from: from, at: at}
}

func fineTune(t *testing.T, base *flow.Model, r Reward, cfg Config, opt Options) (*Result, error) {
	t.Helper()
	opt.Progress = io.Discard
	return FineTune(context.Background(), base, r, cfg, opt)
}

func sameHistories(t *testing.T, what string, got, want *Result) {
	t.Helper()
	if !sameBits(got.Loss, want.Loss) || !sameBits(got.RewardHistory, want.RewardHistory) ||
		!sameBits(got.KL, want.KL) || !sameBits(got.GradNorm, want.GradNorm) {
		t.Errorf("%s: histories differ:\n  loss %v\n  want %v", what, got.Loss, want.Loss)
	}
}

func allFinite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return len(v) > 0
}

// TestDivergenceLRCut: a NaN loss at iteration 5 stops the run with an error naming the
// iteration and the kept checkpoint (4) and saying how to continue; rerunning the same settings
// with an LRCut is not refused, meets the divergence again, goes back to iteration 4, halves the
// learning rate and finishes; the cut is recorded and reapplied by a resume, which ends where an
// uninterrupted run with the cut ends, bit for bit.
func TestDivergenceLRCut(t *testing.T) {
	base := gaussBase(t)
	cfg := Config{Lambda: 1, Steps: 6, Times: 2, Batch: 16, Iters: 8, LR: 1e-2, Seed: 9}
	clean, err := fineTune(t, base, fault(0, -1), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tuned")
	_, err = fineTune(t, base, fault(0, 5), cfg, Options{Dir: dir, CheckpointEvery: 2})
	var d *DivergedError
	if !errors.As(err, &d) || d.Iter != 5 || d.What != "loss" || !math.IsNaN(d.Value) || d.LastGood != 4 || d.Dir != dir || d.LR != cfg.LR {
		t.Fatalf("err = %v (%+v), want a NaN loss at iteration 5 after the checkpoint at 4", err, d)
	}
	for _, want := range []string{"loss became NaN at iteration 5", "last checkpoint (iteration 4) is kept in " + dir, "--lr-cut"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if rec, err := ReadResult(dir); err != nil || rec.Iters != 4 || len(rec.LRCuts) != 0 {
		t.Fatalf("after the divergence the record says %+v (%v), want the checkpoint at 4", rec, err)
	}
	if _, err := os.Stat(filepath.Join(dir, modelFile)); err == nil {
		t.Errorf("a diverged run wrote %s", modelFile)
	}

	// Continue with a cut; stop right after going back (iteration 4 again, then a checkpoint).
	f := fault(4, 5)
	_, err = fineTune(t, base, f, cfg, Options{Dir: dir, CheckpointEvery: 2, LRCut: 0.5, StopAfter: 2})
	if !errors.Is(err, ErrStopped) || f.poisoned != 1 {
		t.Fatalf("resume with a cut: err = %v, fault fired %d times; want ErrStopped after one divergence", err, f.poisoned)
	}
	want := []flow.LRCut{{Step: 4, Scale: 0.5, Diverged: 5, What: "loss is NaN"}}
	if rec, err := ReadResult(dir); err != nil || rec.Iters != 5 || len(rec.LRCuts) != 1 || rec.LRCuts[0] != want[0] {
		t.Fatalf("after the cut the record says iters %d, cuts %+v (%v); want 5 and %+v", rec.Iters, rec.LRCuts, err, want)
	}
	// The resume reapplies the recorded cut without being given LRCut.
	resumed, err := fineTune(t, base, fault(5, -1), cfg, Options{Dir: dir, CheckpointEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Iters != cfg.Iters || len(resumed.LRCuts) != 1 || resumed.LRCuts[0] != want[0] || !allFinite(resumed.Loss) || !allFinite(resumed.GradNorm) {
		t.Fatalf("resumed run: iters %d, cuts %+v, loss %v", resumed.Iters, resumed.LRCuts, resumed.Loss)
	}
	// Iterations 0–4 start from the same weights as the clean run (the cut changes the update of 4
	// on), so their losses match; from 5 on the halved learning rate shows.
	if !sameBits(resumed.Loss[:5], clean.Loss[:5]) || resumed.Loss[5] == clean.Loss[5] {
		t.Errorf("losses with the cut %v, clean %v: want the first 5 equal and the 6th different", resumed.Loss, clean.Loss)
	}
	uninterrupted, err := fineTune(t, base, fault(0, 5), cfg, Options{Dir: filepath.Join(t.TempDir(), "once"), CheckpointEvery: 2, LRCut: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(uninterrupted.LRCuts) != 1 || uninterrupted.LRCuts[0] != want[0] {
		t.Errorf("uninterrupted run with the cut recorded %+v, want %+v", uninterrupted.LRCuts, want)
	}
	sameHistories(t, "stopped, cut, resumed vs uninterrupted with the cut", resumed, uninterrupted)
	wa, wb := weightsOf(t, resumed.Model.Weights()), weightsOf(t, uninterrupted.Model.Weights())
	for p, w := range wa {
		if !sameBits(w, wb[p]) {
			t.Errorf("%s differs between the resumed and the uninterrupted run with the cut", p)
		}
	}
}

// TestLRCutFromStart: a learning rate of 2⁶⁰ makes Adam's first step move every weight by 2⁶⁰ and
// the loss of iteration 1 non-finite, before any checkpoint. Without a cut the error says none
// was saved; the same run again with a cut of 2⁻⁶⁷ goes back to the start and, the learning rate
// now 2⁻⁷, reproduces a run made with 2⁻⁷ from the start, bit for bit.
func TestLRCutFromStart(t *testing.T) {
	base := gaussBase(t)
	cfg := Config{Lambda: 1, Steps: 6, Times: 2, Batch: 16, Iters: 4, LR: 0x1p60, Seed: 3}
	dir := filepath.Join(t.TempDir(), "tuned")
	_, err := fineTune(t, base, Linear([]float32{1, -0.5}), cfg, Options{Dir: dir})
	var d *DivergedError
	if !errors.As(err, &d) || d.Iter != 1 || d.LastGood != 0 || !strings.Contains(err.Error(), "at iteration 1") ||
		!strings.Contains(err.Error(), "no checkpoint was saved in "+dir) || !strings.Contains(err.Error(), "--lr-cut") {
		t.Fatalf("err = %v, want a divergence at iteration 1 with no checkpoint saved", err)
	}
	got, err := fineTune(t, base, Linear([]float32{1, -0.5}), cfg, Options{Dir: dir, LRCut: 0x1p-67})
	if err != nil {
		t.Fatalf("the same run again with a cut: %v", err)
	}
	if len(got.LRCuts) != 1 || got.LRCuts[0].Step != 0 || got.LRCuts[0].Diverged != 1 || got.LRCuts[0].Scale != 0x1p-67 {
		t.Errorf("cuts %+v, want one from iteration 0 (divergence at 1) with scale 2⁻⁶⁷", got.LRCuts)
	}
	slow := cfg
	slow.LR = 0x1p-7
	want, err := fineTune(t, base, Linear([]float32{1, -0.5}), slow, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameHistories(t, "cut to 2⁻⁷ vs 2⁻⁷ from the start", got, want)
	if got.Config.LR != cfg.LR {
		t.Errorf("the record's learning rate is %g, want the configured %g (the cut is recorded apart)", got.Config.LR, cfg.LR)
	}
	if _, err := fineTune(t, base, Linear([]float32{1, -0.5}), cfg, Options{LRCut: 0.5}); err == nil || !strings.Contains(err.Error(), "needs Options.Dir") {
		t.Errorf("LRCut without Dir: err = %v", err)
	}
	if _, err := fineTune(t, base, Linear([]float32{1, -0.5}), cfg, Options{Dir: dir, LRCut: 1}); err == nil || !strings.Contains(err.Error(), "LRCut must be in (0,1)") {
		t.Errorf("LRCut 1: err = %v", err)
	}
}

// TestGradNormDivergence: a gradient that is NaN while the loss is finite (the field adds
// 0·√(w²) with w = 0, whose derivative is 0·∞) stops the run at that iteration, naming the
// gradient norm, and keeps nothing of the iteration.
func TestGradNormDivergence(t *testing.T) {
	e, _ := exactEngine(t, Config{Lambda: 1, Steps: 6, Times: 2, Batch: 8, Iters: 3, LR: 1e-2, Seed: 1}, Linear([]float32{1}))
	nanGrad := func(scope *model.Scope, x, tt *Node) *Node {
		v := exactField(scope, x, tt)
		w := scope.Shared("vel").In("nan").WithInitializer(initializer.Zero).VariableWithShape("w", shapes.Make(dtypes.Float32)).NodeValue(x.Graph())
		return Add(v, MulScalar(Sqrt(Square(w)), 0))
	}
	e.train = Autodiff(nanGrad)
	var err error
	if e.loss, err = model.NewExec(e.be, e.store, e.lossGraph); err != nil {
		t.Fatal(err)
	}
	r := &Result{Config: e.cfg, Reward: "linear"}
	_, err = r.run(context.Background(), e, nil, Options{Progress: io.Discard}, nil)
	var d *DivergedError
	if !errors.As(err, &d) || d.What != "gradient norm" || d.Iter != 0 || !math.IsNaN(d.Value) || d.Dir != "" {
		t.Fatalf("err = %v, want the gradient norm NaN at iteration 0", err)
	}
	if !strings.Contains(err.Error(), "gradient norm became NaN at iteration 0") || !strings.Contains(err.Error(), "Options.LRCut (--lr-cut") {
		t.Errorf("error %q", err)
	}
	if r.Iters != 0 || len(r.Loss) != 0 || len(r.GradNorm) != 0 {
		t.Errorf("the diverged iteration was kept: iters %d, loss %v", r.Iters, r.Loss)
	}
}
