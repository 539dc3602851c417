package detect

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

const lse123 = 3.40760596444438 // log(e¹ + e² + e³), by hand: 3 + log(1 + e⁻¹ + e⁻²)

// DCE([1,2,3], ŷ) = −(sum of the other two logits)/2 + logsumexp: ŷ=2 → −1.5 + lse, ŷ=0 → −2.5 + lse.
// ℓ_cdc then mixes a P cross-entropy (log 3 for zero logits) with λ times the masked Q mean.
func TestDCEAndCDCLossHandComputed(t *testing.T) {
	be := backend.MustDefault()
	dce := MustNewExec(be, func(l, y *Node) *Node { return DCE(l, y) })
	out := dce.MustExec(tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 1, 2, 3}, 2, 3), []int32{2, 0})[0]
	got := tensors.MustCopyFlatData[float32](out)
	for i, want := range []float64{-1.5 + lse123, -2.5 + lse123} {
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("DCE row %d = %v, want %v", i, got[i], want)
		}
	}
	loss := MustNewExec(be, func(lp, yp, lq, yq, mask, lam *Node) *Node { return CDCLoss(lp, yp, lq, yq, mask, lam) })
	lp := tensors.FromFlatDataAndDimensions([]float32{0, 0, 0}, 1, 1, 3)
	lq := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 0, 0, 0}, 1, 2, 3)
	ce := math.Log(3)
	for _, c := range []struct {
		mask []float32
		lam  float32
		want float64
	}{
		{[]float32{1, 0}, 0.5, ce + 0.5*(-1.5+lse123)},
		{[]float32{1, 1}, 1.0 / 3, ce + (-1.5+lse123+math.Log(3))/2/3},
		{[]float32{0, 0}, 0.5, ce},
	} {
		out := loss.MustExec(lp, tensors.FromFlatDataAndDimensions([]int32{1}, 1, 1), lq, tensors.FromFlatDataAndDimensions([]int32{2, 0}, 1, 2),
			tensors.FromFlatDataAndDimensions(c.mask, 1, 2), tensors.FromFlatDataAndDimensions([]float32{c.lam}, 1))[0]
		if got := tensors.MustCopyFlatData[float32](out)[0]; math.Abs(float64(got)-c.want) > 1e-6 {
			t.Errorf("mask %v λ %v: ℓ_cdc = %v, want %v", c.mask, c.lam, got, c.want)
		}
	}
}

// bruteAUROC is the definition: the fraction of (null, alt) pairs ordered correctly, ties ½.
func bruteAUROC(null, alt []float64) float64 {
	var s float64
	for _, a := range null {
		for _, b := range alt {
			switch {
			case b > a:
				s++
			case b == a:
				s += 0.5
			}
		}
	}
	return s / float64(len(null)*len(alt))
}

func TestAUROCAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n, m := 1+rng.IntN(40), 1+rng.IntN(40)
		null, alt := make([]float64, n), make([]float64, m)
		for i := range null {
			null[i] = float64(rng.IntN(8)) // many ties
		}
		for i := range alt {
			alt[i] = float64(rng.IntN(8) + trial%4)
		}
		if got, want := AUROC(null, alt), bruteAUROC(null, alt); math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: AUROC %v, brute force %v", trial, got, want)
		}
	}
	if got := AUROC([]float64{1, 2}, []float64{3, 4}); got != 1 {
		t.Errorf("separated AUROC %v", got)
	}
	if !math.IsNaN(AUROC(nil, []float64{1})) {
		t.Error("empty null should give NaN")
	}
}

// Hanley–McNeil at A = 0.8, 10 and 10: Q1 = 2/3, Q2 = 1.28/1.8; variance
// (0.16 + 9·0.02667 + 9·0.07111)/100 = 0.0104 → SE 0.10198.
func TestAUROCSE(t *testing.T) {
	if got := AUROCSE(0.8, 10, 10); math.Abs(got-math.Sqrt(0.0104)) > 1e-4 {
		t.Errorf("AUROCSE(0.8,10,10) = %v, want %v", got, math.Sqrt(0.0104))
	}
	if got := AUROCSE(1, 10, 10); got != 0 {
		t.Errorf("AUROCSE(1) = %v, want 0", got)
	}
}

// Null scores 0..19, alt 15..34: FPR ≤ 0.05 allows one null above the threshold, t = 19, where
// 16 of 20 alt scores lie at or above.
func TestTPRAtFPR(t *testing.T) {
	var null, alt []float64
	for i := range 20 {
		null = append(null, float64(i))
		alt = append(alt, float64(i+15))
	}
	op := TPRAtFPR(null, alt, 0.05)
	if op.Threshold != 19 || op.FPR != 0.05 || op.TPR != 0.8 || math.Abs(op.TPRSE-math.Sqrt(0.8*0.2/19)) > 1e-12 {
		t.Errorf("got %+v, want threshold 19, FPR 0.05, TPR 0.8", op)
	}
	if op := TPRAtFPR(null, alt, 0.01); op.FPR != 0 || op.TPR != 0.75 || op.Threshold != 20 {
		t.Errorf("α=0.01: %+v, want threshold 20 (no null above), TPR 0.75", op)
	}
}

// KS: D of {1,2,3} vs {2.5,4,5,6} is 0.75 (at x = 3); the Kolmogorov survival function matches
// the classical table (critical values 1.2238, 1.3581, 1.6276 for 10%, 5%, 1%).
func TestKS(t *testing.T) {
	d, p := KS([]float64{3, 1, 2}, []float64{6, 2.5, 5, 4})
	if math.Abs(d-0.75) > 1e-12 || !(p > 0 && p < 1) {
		t.Errorf("KS D = %v p = %v, want D 0.75", d, p)
	}
	for lam, want := range map[float64]float64{1.2238: 0.10, 1.3581: 0.05, 1.6276: 0.01} {
		if got := KolmogorovQ(lam); math.Abs(got-want) > 2e-4 {
			t.Errorf("Q(%v) = %v, want %v", lam, got, want)
		}
	}
	if _, p := KS([]float64{1, 2, 3}, []float64{1, 2, 3}); p != 1 {
		t.Errorf("identical samples: p = %v, want 1", p)
	}
}

// Calibrated on one set of null trials, the threshold's FPR on fresh null trials is near α; with
// no shift the TPR is near α too and the AUROC near ½; an obvious shift is always detected.
func TestStatisticsOnSyntheticTrials(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	draw := func(n int, shift float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = rng.NormFloat64() + shift
		}
		return out
	}
	calib, fresh, same, far := draw(4000, 0), draw(4000, 0), draw(4000, 0), draw(4000, 10)
	op := TPRAtFPR(calib, same, 0.05)
	var fp int
	for _, v := range fresh {
		if v >= op.Threshold {
			fp++
		}
	}
	if f := float64(fp) / 4000; math.Abs(f-0.05) > 0.012 {
		t.Errorf("FPR on fresh null trials %.4f, want ≈ 0.05", f)
	}
	if math.Abs(op.TPR-0.05) > 0.012 || math.Abs(AUROC(calib, same)-0.5) > 0.02 {
		t.Errorf("no shift: TPR %.3f AUROC %.3f, want ≈ 0.05 and 0.5", op.TPR, AUROC(calib, same))
	}
	if op := TPRAtFPR(calib, far, 0.05); op.TPR != 1 || AUROC(calib, far) != 1 {
		t.Errorf("obvious shift: TPR %v AUROC %v, want 1", op.TPR, AUROC(calib, far))
	}
}

// blobs is a 2-feature problem (shape [2,1,1]): the class is x0 ≥ 128; x1 is noise in [0,100].
// With farX1 the second feature lies in [200,255] instead, where P has no data at all.
func blobs(n int, seed uint64, farX1 bool) data.Split {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := data.Split{Images: make([]uint8, 2*n), Labels: make([]int, n), N: n}
	for i := range n {
		y := rng.IntN(2)
		s.Labels[i] = y
		s.Images[2*i] = uint8(20 + rng.IntN(80) + 130*y)
		if farX1 {
			s.Images[2*i+1] = uint8(200 + rng.IntN(56))
		} else {
			s.Images[2*i+1] = uint8(rng.IntN(101))
		}
	}
	return s
}

func blobBase(t *testing.T) *Base {
	t.Helper()
	ds := &data.Dataset{Name: "blobs", Shape: []int{2, 1, 1}, Classes: []string{"a", "b"}, Train: blobs(512, 1, false), Test: blobs(128, 2, false)}
	b, _, err := TrainBase(context.Background(), ds, zoo.Config{Arch: arch.MLP([]int{2, 1, 1}, 2, 16), Epochs: 30, BatchSize: 32,
		Optimizer: "adam", LR: 0.01, Standardize: true, Seed: 1, EvalTrain: 128}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// End to end on blobs: Q drawn from P's own distribution is not flagged more than chance, and Q
// from a region P never covers is flagged in every trial, by both statistics. The same seed
// gives the same trials.
func TestDetectronSyntheticKnownAnswers(t *testing.T) {
	base := blobBase(t)
	// Detectron's Q weighting, with a larger learning rate for
	// this small P-train (8 steps an epoch) and 10 epochs.
	cfg := Config{Ensemble: 3, Epochs: 10, BatchSize: 64, LR: 0.01, Models: 40, Seed: 5}
	opt := Options{Progress: io.Discard}
	train := blobs(512, 1, false)
	same := Bench{Name: "same", Train: train, Null: blobs(200, 3, false), Alt: blobs(200, 4, false)}
	res, err := Run(context.Background(), base, same, []int{10}, 20, cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Sizes[0]
	for name, st := range map[string]Test{"disagreement": s.Disagreement, "entropy": s.Entropy} {
		if st.AUROC > 0.75 || st.TPR > 0.35 || st.FPR > 0.05 {
			t.Errorf("no shift, %s: %+v", name, st)
		}
	}
	if res.BaseAccNull < 0.95 || res.BaseAccAlt < 0.95 {
		t.Errorf("f should classify blobs well: %v %v", res.BaseAccNull, res.BaseAccAlt)
	}
	far := Bench{Name: "far", Train: train, Null: blobs(200, 3, false), Alt: blobs(200, 4, true)}
	res2, err := Run(context.Background(), base, far, []int{10}, 20, cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	s2 := res2.Sizes[0]
	if s2.Disagreement.TPR < 0.95 || s2.Disagreement.AUROC < 0.95 {
		t.Errorf("obvious shift, disagreement: %+v (null counts %v, alt counts %v)", s2.Disagreement, s2.Null[0].Counts, s2.Alt[0].Counts)
	}
	if s2.Entropy.AUROC < 0.9 {
		t.Errorf("obvious shift, entropy: %+v", s2.Entropy)
	}
	again, err := Run(context.Background(), base, far, []int{10}, 20, cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s2.Alt {
		if !slices.Equal(again.Sizes[0].Alt[i].Counts, s2.Alt[i].Counts) || again.Sizes[0].Alt[i].Seed != s2.Alt[i].Seed {
			t.Fatalf("same seed, different trial %d: %v vs %v", i, again.Sizes[0].Alt[i].Counts, s2.Alt[i].Counts)
		}
	}
	t.Logf("same: dis %+v ent %+v; far: dis %+v ent %+v; %.2fs/trial", s.Disagreement, s.Entropy, s2.Disagreement, s2.Entropy, s2.SecondsPerTrial)
}
