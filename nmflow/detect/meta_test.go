package detect

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// The meta-detectron reward on a hand example: a linear 2-class net on 2 pixel features
// (pixels/255). f's logits are (0.5 − x0, x0 − 0.5), so f says class 1 iff x0 > 0.5. P-train
// holds only x0 = 0 (label 0, whatever the minibatch), Q one point of each class. Net A has
// constant logits (1, 0), net B is f itself. With λ = 1/3:
//
//	A: ℓ = CE((1,0), 0) + λ·½·[DCE((1,0), 1) + DCE((1,0), 0)] = log(1+e⁻¹) + λ·½·[(−1 + L) + L],  L = log(e+1)
//	B: ℓ = CE((.5,−.5), 0) + λ·DCE((±.5,∓.5), ŷ) = log(1+e⁻¹) + λ·(0.5 + log(e^.5 + e^−.5))
//
// The metrics: A disagrees with f on the class-1 point, B nowhere, so |Q| kept is 1 after A and
// 1 after A and B; the entropies are those of the mean softmax of f, A and B.
func TestCDCRewardHandComputed(t *testing.T) {
	be := backend.MustDefault()
	net := arch.MustNew(arch.MLP([]int{2, 1, 1}, 2))
	fParams := []float32{-1, 0, 1, 0, 0.5, -0.5} // W [out,in] row-major, then b
	norm, err := feed.NewNorm([]float32{0}, []float32{1}, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	base := &Base{Net: net, Params: fParams, Norm: norm}
	train := data.Split{Images: make([]uint8, 2*8), Labels: make([]int, 8), N: 8}
	pool := data.Split{Images: []uint8{0, 30, 255, 30}, Labels: []int{0, 1}, N: 2}
	e, err := newEngine(be, base, Config{Ensemble: 2, BatchSize: 4, Models: 1}, train, pool)
	if err != nil {
		t.Fatal(err)
	}
	tr := &trial{size: 2, q: []int32{0, 1}, yhat: e.poolYhat, probs: e.poolProbs}
	if !slices.Equal(e.poolYhat, []int{0, 1}) {
		t.Fatalf("f's labels on Q = %v, want [0 1]", e.poolYhat)
	}
	lam := 1.0 / 3
	r := e.cdcReward(tr, lam)
	exec := MustNewExec(be, func(in []*Node) []*Node {
		rw, ms := r.Graph(in[0], in[1:])
		return append([]*Node{rw}, ms...)
	})
	in, err := r.Inputs(rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	theta := tensors.FromFlatDataAndDimensions(append([]float32{0, 0, 0, 0, 1, 0}, fParams...), 2, 6)
	out, err := exec.Exec(append([]any{theta}, tensorsAny(in)...)...)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out[0])
	L := math.Log(math.E + 1)
	ce := math.Log(1 + math.Exp(-1))
	want := []float64{-(ce + lam*((-1+L)+L)/2), -(ce + lam*(0.5+math.Log(math.Exp(0.5)+math.Exp(-0.5))))}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Errorf("net %d: reward %v, want −ℓ_cdc = %v", i, got[i], want[i])
		}
	}
	if names := r.Metrics(); !slices.Equal(names, []string{"kept_1", "kept_2", "entropy_0", "entropy_1"}) || len(out) != 1+len(names) {
		t.Fatalf("metrics %v, %d outputs", names, len(out))
	}
	for k, w := range []float32{1, 1} {
		if v := tensors.MustCopyFlatData[float32](out[1+k]); v[0] != w || v[1] != w {
			t.Errorf("kept after %d CDCs = %v, want %v for both nets", k+1, v, w)
		}
	}
	sm := func(a, b float64) []float64 {
		m := max(a, b)
		x, y := math.Exp(a-m), math.Exp(b-m)
		return []float64{x / (x + y), y / (x + y)}
	}
	for j, x0 := range []float64{0, 1} {
		f := sm(0.5-x0, x0-0.5)
		a := sm(1, 0)
		mean := []float64{(2*f[0] + a[0]) / 3, (2*f[1] + a[1]) / 3} // f counts twice: as f and as net B
		if v := tensors.MustCopyFlatData[float32](out[3+j]); math.Abs(float64(v[0])-Entropy(mean)) > 1e-5 {
			t.Errorf("entropy at Q point %d = %v, want %v", j, v[0], Entropy(mean))
		}
	}
}

func tensorsAny(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}

var tiny struct {
	once sync.Once
	base *Base
	meta *flow.Model
	err  error
}

// tinyMeta is f (run 0) and a small Gaussian-source meta-model fitted on a 12-run blobs zoo.
func tinyMeta(t *testing.T) (*Base, *flow.Model) {
	t.Helper()
	tiny.once.Do(func() {
		ds := &data.Dataset{Name: "blobs", Shape: []int{2, 1, 1}, Classes: []string{"a", "b"}, Train: blobs(512, 1, false), Test: blobs(128, 2, false)}
		z, err := zoo.Train(context.Background(), zoo.Config{Arch: arch.MLP([]int{2, 1, 1}, 2, 6), Runs: 12, Checkpoints: 1, Epochs: 8, BatchSize: 32,
			Optimizer: "adam", LR: 0.01, Standardize: true, Seed: 1, EvalTrain: 128}, ds, zoo.Options{Progress: io.Discard})
		if err != nil {
			tiny.err = err
			return
		}
		if tiny.base, tiny.err = BaseFromZoo(z, 0); tiny.err != nil {
			return
		}
		tiny.meta, tiny.err = flow.Fit(context.Background(), z, MetaFlowConfig(60, 16, 1), flow.Options{Progress: io.Discard})
	})
	if tiny.err != nil {
		t.Fatal(tiny.err)
	}
	return tiny.base, tiny.meta
}

// tinyMetaRun returns a run of meta-detectron with mc on the tiny setting: 3 trials per
// hypothesis at |Q| = 5, an ensemble of 2.
func tinyMetaRun(t *testing.T, mc MetaConfig) func() *Result {
	base, meta := tinyMeta(t)
	bench := Bench{Name: "far", Train: blobs(256, 1, false), Null: blobs(60, 3, false), Alt: blobs(60, 4, true)}
	cfg := Config{Ensemble: 2, BatchSize: 32, Seed: 3}
	return func() *Result {
		res, err := RunMeta(context.Background(), base, meta, bench, []int{5}, 3, cfg, mc, Options{Progress: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}

// Meta-detectron end to end on a tiny setting: the Result has one entry per |Q| with both
// hypotheses' trials, per-iteration histories (iteration 0 is the base meta-model) and a test
// per iteration; the same seed gives the same trials.
func TestRunMetaTiny(t *testing.T) {
	run := tinyMetaRun(t, MetaConfig{Updates: 2, Batch: 4, Steps: 4, Times: 2})
	res := run()
	if res.Method != "meta" || res.Meta == nil || !res.Meta.Exact || len(res.Sizes) != 1 {
		t.Fatalf("result %+v", res)
	}
	s := res.Sizes[0]
	if s.QSize != 5 || len(s.Null) != 3 || len(s.Alt) != 3 || len(s.Iterations) != 3 || s.SecondsPerTrial <= 0 {
		t.Fatalf("size result: q %d, %d/%d trials, %d iterations, %v s/trial", s.QSize, len(s.Null), len(s.Alt), len(s.Iterations), s.SecondsPerTrial)
	}
	for _, tr := range append(slices.Clone(s.Null), s.Alt...) {
		if len(tr.Counts) != 3 || tr.Counts[0] != 5 || !slices.IsSortedFunc(tr.Counts, func(a, b int) int { return b - a }) ||
			len(tr.CDCLoss) != 3 || len(tr.DisagreementHistory) != 3 || tr.Seconds <= 0 ||
			tr.Disagreement != tr.DisagreementHistory[2] || math.IsNaN(tr.MeanEntropy) || !(tr.CDCLoss[0] > 0) {
			t.Errorf("trial %+v", tr)
		}
	}
	last := s.Iterations[2]
	if last.Iter != 2 || last.Disagreement.AUROC != s.Disagreement.AUROC || last.Entropy.AUROC != s.Entropy.AUROC || !(last.CDCLossNull > 0) {
		t.Errorf("last iteration %+v vs size %+v %+v", last, s.Disagreement, s.Entropy)
	}
	again := run()
	for i, tr := range again.Sizes[0].Alt {
		if !slices.Equal(tr.Counts, s.Alt[i].Counts) || !slices.Equal(tr.CDCLoss, s.Alt[i].CDCLoss) || tr.EntropyScore != s.Alt[i].EntropyScore {
			t.Fatalf("same seed, different alt trial %d: %+v vs %+v", i, tr, s.Alt[i])
		}
	}
}

// A meta-model of another architecture, or of differently preprocessed inputs, is refused
// with a message that says what to do; so is a batch smaller than the ensemble.
func TestRunMetaErrors(t *testing.T) {
	base, meta := tinyMeta(t)
	other := &Base{Net: arch.MustNew(arch.MLP([]int{2, 1, 1}, 2, 8)), Norm: base.Norm}
	bench := Bench{Train: blobs(64, 1, false), Null: blobs(20, 3, false), Alt: blobs(20, 4, true)}
	_, err := RunMeta(context.Background(), other, meta, bench, []int{5}, 2, Config{}, MetaConfig{}, Options{Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "fit the meta-model on a zoo of f's architecture") {
		t.Errorf("layout mismatch: %v", err)
	}
	raw, _ := feed.NewNorm([]float32{0}, []float32{1}, 2, false)
	if err := CheckMeta(&Base{Net: base.Net, Norm: raw}, meta); err == nil || !strings.Contains(err.Error(), "standardization") {
		t.Errorf("preprocessing mismatch: %v", err)
	}
	if _, err := (MetaConfig{Batch: 2}).Defaults(Config{Ensemble: 5}); err == nil || !strings.Contains(err.Error(), "at least the ensemble size") {
		t.Errorf("batch < ensemble: %v", err)
	}
	if err := CheckMeta(base, nil); err == nil {
		t.Error("nil meta-model accepted")
	}
}

// The ROC curve's trapezoidal area is the Mann–Whitney AUROC, ties included; it runs from (0,0)
// to (1,1) with non-decreasing rates.
func TestROCArea(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	for range 20 {
		null, alt := make([]float64, 1+rng.IntN(12)), make([]float64, 1+rng.IntN(12))
		for i := range null {
			null[i] = float64(rng.IntN(6))
		}
		for i := range alt {
			alt[i] = float64(rng.IntN(6) + rng.IntN(3))
		}
		fpr, tpr := ROC(null, alt)
		var area float64
		for i := 1; i < len(fpr); i++ {
			if fpr[i] < fpr[i-1] || tpr[i] < tpr[i-1] {
				t.Fatalf("ROC not monotone: %v %v", fpr, tpr)
			}
			area += (fpr[i] - fpr[i-1]) * (tpr[i] + tpr[i-1]) / 2
		}
		if fpr[len(fpr)-1] != 1 || tpr[len(tpr)-1] != 1 || math.Abs(area-AUROC(null, alt)) > 1e-12 {
			t.Fatalf("null %v alt %v: area %v, AUROC %v, ends (%v,%v)", null, alt, area, AUROC(null, alt), fpr[len(fpr)-1], tpr[len(tpr)-1])
		}
	}
}

// Meta-detectron near f: CDCs sampled from f noised to StartTime, the best Ensemble of Batch by
// ℓ_cdc. Each trial has two iterations (as generated, then selected), the selected CDCs' mean
// ℓ_cdc is never above the unselected first Ensemble's, the P agreement is a fraction, and the
// same seed gives the same trials.
func TestRunMetaNear(t *testing.T) {
	run := tinyMetaRun(t, MetaConfig{Batch: 6, Steps: 10, StartTime: 0.7})
	res := run()
	s := res.Sizes[0]
	if len(s.Iterations) != 2 || !(s.PAgreementNull > 0 && s.PAgreementNull <= 1) || res.Meta.Config.StartTime != 0.7 {
		t.Fatalf("size result: %d iterations, null P agreement %v, config %+v", len(s.Iterations), s.PAgreementNull, res.Meta.Config)
	}
	for _, tr := range append(slices.Clone(s.Null), s.Alt...) {
		if len(tr.Counts) != 3 || len(tr.CDCLoss) != 2 || tr.CDCLoss[1] > tr.CDCLoss[0] || !(tr.PAgreement > 0 && tr.PAgreement <= 1) ||
			tr.Disagreement != tr.DisagreementHistory[1] {
			t.Errorf("trial %+v", tr)
		}
	}
	again := run()
	for i, tr := range again.Sizes[0].Null {
		if !slices.Equal(tr.Counts, s.Null[i].Counts) || !slices.Equal(tr.CDCLoss, s.Null[i].CDCLoss) || tr.PAgreement != s.Null[i].PAgreement {
			t.Fatalf("same seed, different null trial %d: %+v vs %+v", i, tr, s.Null[i])
		}
	}
	if _, err := (MetaConfig{StartTime: 1}).Defaults(Config{Ensemble: 2}); err == nil || !strings.Contains(err.Error(), "start time must be in [0, 1)") {
		t.Errorf("start time 1: %v", err)
	}
}

// Near f, f is first put into the meta-model's unit order: the result does not depend on the order
// f's hidden units came in (f and a scrambled copy of f give the same starting net), it is a
// permutation of f's own units, and the run records it.
func TestAlignedF(t *testing.T) {
	base, meta := tinyMeta(t)
	spec := base.Net.Spec()
	got, ok, err := alignedF(meta, base, 3)
	if err != nil || !ok {
		t.Fatalf("alignedF: aligned %v, %v", ok, err)
	}
	scrambled := *base
	perm := align.Perm{[]int{5, 3, 0, 1, 4, 2}}
	if scrambled.Params, err = align.Apply(spec, perm, base.Params); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(scrambled.Params, base.Params) {
		t.Fatal("the permutation left f unchanged: the test would prove nothing")
	}
	again, _, err := alignedF(meta, &scrambled, 3)
	if err != nil || !slices.Equal(got, again) {
		t.Fatalf("f and its scrambled copy give different starting nets (%v):\n%v\n%v", err, got, again)
	}
	a, b := slices.Clone(got), slices.Clone(base.Params)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Error("the aligned f holds other values than f: not a permutation of its units")
	}
	if res := tinyMetaRun(t, MetaConfig{Batch: 4, Steps: 10, StartTime: 0.7})(); !res.Meta.AlignedF {
		t.Error("the result does not record that f was aligned")
	}
}

// StartAuto chooses the earliest start time whose candidates agree with f on MinAgreement of
// P-train: every start tried before it fell short, and the one chosen reached it (or is the grid's
// last). A low bar stops at the grid's first time.
func TestRunMetaStartAuto(t *testing.T) {
	for _, minAgree := range []float64{0.01, 0.995} {
		res := tinyMetaRun(t, MetaConfig{Batch: 4, Steps: 10, StartTime: StartAuto, MinAgreement: minAgree})()
		m := res.Meta
		if len(m.Calibration) == 0 || m.Config.StartTime != m.Calibration[len(m.Calibration)-1].StartTime {
			t.Fatalf("min %v: config start %v, calibration %+v", minAgree, m.Config.StartTime, m.Calibration)
		}
		for i, c := range m.Calibration {
			if c.StartTime != StartGrid[i] || !(c.Agreement >= 0 && c.Agreement <= 1) {
				t.Errorf("min %v: calibration %d %+v", minAgree, i, c)
			}
			last := i == len(m.Calibration)-1
			if !last && c.Agreement >= minAgree || last && i < len(StartGrid)-1 && c.Agreement < minAgree {
				t.Errorf("min %v: start %v has agreement %v (chosen: %v)", minAgree, c.StartTime, c.Agreement, last)
			}
		}
		t.Logf("min agreement %v: %+v", minAgree, m.Calibration)
		if minAgree == 0.01 && len(m.Calibration) != 1 {
			t.Errorf("a bar of 0.01 tried %d start times", len(m.Calibration))
		}
	}
}
