package downstream

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// ForTransfer redraws the output layer from the init law and maps every unit below it to
// keep·θ̂ + √(1−keep²)·ε, θ̂ the unit less its mean weight, rescaled to the norm of ε (an init-law
// draw), deterministically; keep 0 gives init-law nets, and every keep the init draw's unit norms.
func TestForTransferLayers(t *testing.T) {
	s := trained(t, 3)
	p := s.Layout.Size()
	lo, hi, err := HeadRange(s.Layout)
	if err != nil || hi != p || lo != p-(8*3+3) { // the 8→3 output layer and its bias
		t.Fatalf("head range [%d, %d) of P=%d (%v), want the last 27 values", lo, hi, p, err)
	}
	zero, err := ForTransfer(s, arch.InitPyTorch, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	half, err := ForTransfer(s, arch.InitPyTorch, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	full, err := ForTransfer(s, arch.InitPyTorch, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ForTransfer(s, arch.InitPyTorch, 0.5, 4)
	other, _ := ForTransfer(s, arch.InitPyTorch, 0.5, 5)
	if !slices.Equal(half.Weights, again.Weights) || slices.Equal(half.Weights, other.Weights) {
		t.Error("ForTransfer is not a function of its seed")
	}
	for i := range len(s.Weights) {
		j := i % p
		if j >= lo && (half.Weights[i] != zero.Weights[i] || full.Weights[i] != zero.Weights[i]) {
			t.Fatalf("net %d head value %d: %v and %v, want the init draw %v", i/p, j, half.Weights[i], full.Weights[i], zero.Weights[i])
		}
		if b, _ := arch.Bound(arch.InitPyTorch, segmentAt(s.Layout, j)); float64(zero.Weights[i]) > b || float64(-zero.Weights[i]) > b {
			t.Fatalf("keep 0: value %d is %v, outside the init law's ±%v", j, zero.Weights[i], b)
		}
	}
	// Unit by unit below the head: keep 1 is θ rescaled to ‖ε‖, keep ½ mixes it with ε.
	units, ok := 0, true
	for _, seg := range s.Layout.Segments {
		if seg.Kind != arch.Weight || seg.Offset >= lo {
			continue
		}
		row := seg.Size() / seg.Shape[0]
		for i := range len(s.Weights) / p {
			for u := range seg.Shape[0] {
				at := i*p + seg.Offset + u*row
				th, eps := make([]float64, row), zero.Weights[at:at+row]
				center(th, s.Weights[at:at+row])
				sc := norm(eps) / norm64(th)
				var sum float64
				for j := range row {
					want1 := sc * th[j]
					sum += float64(full.Weights[at+j])
					wantH := 0.5*want1 + math.Sqrt(0.75)*float64(eps[j])
					if math.Abs(float64(full.Weights[at+j])-want1) > 1e-5 || math.Abs(float64(half.Weights[at+j])-wantH) > 1e-5 {
						ok = false
					}
				}
				if math.Abs(sum) > 1e-4 {
					t.Fatalf("keep 1: unit weights sum to %v, want 0 (centered)", sum)
				}
				if d := norm(full.Weights[at:at+row]) - norm(eps); math.Abs(d) > 1e-5 {
					t.Fatalf("keep 1: unit norm %v, init draw's %v", norm(full.Weights[at:at+row]), norm(eps))
				}
				units++
			}
		}
	}
	if units == 0 || !ok {
		t.Fatalf("%d units checked; keep 1 / ½ do not rescale and mix the generated units as documented", units)
	}
	if slices.Equal(s.Weights[:lo], full.Weights[:lo]) {
		t.Error("ForTransfer changed its input set's weights in place or left them")
	}
	for _, bad := range []float64{-0.1, 1.5} {
		if _, err := ForTransfer(s, arch.InitPyTorch, bad, 1); err == nil || !strings.Contains(err.Error(), "keep") {
			t.Errorf("keep %v: %v", bad, err)
		}
	}
	if _, err := ForTransfer(Set{Name: "x", Weights: s.Weights}, arch.InitPyTorch, 1, 1); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Errorf("no layout: %v", err)
	}
}

func segmentAt(l arch.Layout, j int) arch.Segment {
	for _, s := range l.Segments {
		if j >= s.Offset && j < s.Offset+s.Size() {
			return s
		}
	}
	return arch.Segment{}
}

// permuted is the quadrants task with its labels shifted by one: the same features, another
// label set.
func permuted() *data.Dataset {
	ds := tiny()
	for _, sp := range []*data.Split{&ds.Train, &ds.Test} {
		sp.Labels = slices.Clone(sp.Labels)
		for i, l := range sp.Labels {
			sp.Labels[i] = (l + 1) % 3
		}
	}
	ds.Name = "quadrants+shift"
	return ds
}

// Nets trained to confidence on one label set lose to init-law nets after one epoch on another;
// prepared by ForTransfer at DefaultKeep they must not (notebook 05's Fashion-MNIST transfer
// at CI scale). Measured (3 data seeds, 8 nets each): see the log.
func TestForTransferDoesNotLoseToKaiming(t *testing.T) {
	cfg := tinyConfig().Train
	cfg.Runs, cfg.Epochs, cfg.Checkpoints, cfg.LR, cfg.Seed = 8, 20, 1, 0.3, 99
	z, err := zoo.Train(context.Background(), cfg, permuted(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	src := Set{Name: "other task", Weights: z.Checkpoint(1), Layout: z.Meta.Layout}
	var raw, prep, kai []float64
	for seed := uint64(1); seed <= 3; seed++ {
		ready, err := ForTransfer(src, arch.InitPyTorch, DefaultKeep, seed)
		if err != nil {
			t.Fatal(err)
		}
		ready.Name = "prepared"
		c := tinyConfig()
		c.Train.Seed, c.Steps = seed, 10 // one epoch: 320 examples in batches of 32
		a, _ := finalAccs(t, c, tiny(), []Set{src, ready, kaiming(t, 8, seed)})
		raw, prep, kai = append(raw, a[0]), append(prep, a[1]), append(kai, a[2])
	}
	r, p, k := eval.Summarize(raw).Mean, eval.Summarize(prep).Mean, eval.Summarize(kai).Mean
	t.Logf("after one epoch: as trained on the other task %.3f %v, prepared %.3f %v, Kaiming %.3f %v", r, raw, p, prep, k, kai)
	if !(r < k-0.05) {
		t.Errorf("the other task's nets as they are reach %.3f, Kaiming %.3f: the test no longer shows the transfer problem", r, k)
	}
	if p < k {
		t.Errorf("prepared nets reach %.3f after one epoch, Kaiming %.3f: ForTransfer loses", p, k)
	}
}

// MNIST nets as Fashion-MNIST inits at CI scale (notebook 05 §5): prepared by ForTransfer they
// must not lose to Kaiming draws after one epoch, while the nets as trained do, and they must beat
// the former preparation, shrink and perturb (0.3·θ + ε, whose first layer is larger than an
// init); their first logits must be closer to an init's than without centering (the units' mean
// weights kept). Measured (3 seeds × 8 nets): see the log; the bounds leave room for the seeds'
// spread.
func TestForTransferMNISTToFashion(t *testing.T) {
	ds := testutil.Datasets(t, "mnist", "fashion-mnist")
	mnist, fashion := ds[0], ds[1]
	arc := arch.MLP([]int{1, 28, 28}, 10, 16)
	zc := zoo.Config{Arch: arc, Runs: 8, Epochs: 2, Checkpoints: 1, BatchSize: 128, LR: 0.05, Momentum: 0.9, Seed: 1, TrainSize: 4000, TestSize: 500}
	z, err := zoo.Train(context.Background(), zc, mnist, quiet)
	if err != nil {
		t.Fatal(err)
	}
	src := Set{Name: "as trained", Weights: z.Checkpoint(1), Layout: z.Meta.Layout}
	lo, _, err := HeadRange(src.Layout)
	if err != nil {
		t.Fatal(err)
	}
	p := src.Layout.Size()
	var raw, prep, kai, sp, unc, lp, lk, lu []float64
	for seed := uint64(1); seed <= 3; seed++ {
		ready, err := ForTransfer(src, arch.InitPyTorch, DefaultKeep, seed)
		if err != nil {
			t.Fatal(err)
		}
		ready.Name = "prepared"
		k, err := InitLaw("kaiming", z.Meta.Layout, arch.InitPyTorch, 8, seed)
		if err != nil {
			t.Fatal(err)
		}
		// Shrink and perturb: 0.3·θ + a fresh draw below the head, the head drawn afresh.
		old, err := ForTransfer(src, arch.InitPyTorch, 0, seed)
		if err != nil {
			t.Fatal(err)
		}
		old.Name = "shrink and perturb"
		for i := range len(src.Weights) / p {
			for j := i * p; j < i*p+lo; j++ {
				old.Weights[j] += 0.3 * src.Weights[j]
			}
		}
		cfg := Config{Train: zoo.Config{Arch: arc, BatchSize: 128, LR: 0.05, Momentum: 0.9, Seed: seed, TrainSize: 4000, TestSize: 1000}, Steps: 31, Points: 1}
		a, l0 := finalAccs(t, cfg, fashion, []Set{src, ready, k, old, uncentered(t, src, seed)})
		raw, prep, kai, sp = append(raw, a[0]), append(prep, a[1]), append(kai, a[2]), append(sp, a[3])
		unc, lp, lk, lu = append(unc, a[4]), append(lp, l0[1]), append(lk, l0[2]), append(lu, l0[4])
	}
	r, pr, k, o, u := eval.Summarize(raw).Mean, eval.Summarize(prep).Mean, eval.Summarize(kai).Mean, eval.Summarize(sp).Mean, eval.Summarize(unc).Mean
	t.Logf("Fashion-MNIST after one epoch (31 steps of 4,000 images): as trained on MNIST %.4f %v, prepared %.4f %v, Kaiming %.4f %v, shrink and perturb %.4f %v, rescaled without centering %.4f %v",
		r, raw, pr, prep, k, kai, o, sp, u, unc)
	l0p, l0k, l0u := eval.Summarize(lp).Mean, eval.Summarize(lk).Mean, eval.Summarize(lu).Mean
	t.Logf("test loss at step 0: prepared %.4f, Kaiming %.4f, rescaled without centering %.4f", l0p, l0k, l0u)
	// Centering is what brings the first logits to an init's: an MNIST unit's mean weight is a
	// response to overall brightness, large on clothing (measured 2.39 against 2.61 nats, Kaiming
	// 2.32). At the default scale that excess cost the uncentered nets 0.4 points after one epoch.
	if !(l0p-l0k < (l0u-l0k)/2) {
		t.Errorf("test loss at step 0: prepared %.4f, without centering %.4f, Kaiming %.4f: centering no longer halves the excess over an init", l0p, l0u, l0k)
	}
	if !(r < k-0.02) {
		t.Errorf("MNIST nets as trained reach %.4f, Kaiming %.4f: the test no longer shows the transfer problem", r, k)
	}
	if pr < k {
		t.Errorf("prepared nets reach %.4f after one epoch, Kaiming %.4f: ForTransfer loses", pr, k)
	}
	if pr < o {
		t.Errorf("prepared nets reach %.4f after one epoch, shrink and perturb %.4f: the preparation regressed", pr, o)
	}
}

// uncentered is ForTransfer before centering (issue 19): every unit below the head rescaled to
// the init draw's norm with its mean weight kept, the head drawn afresh.
func uncentered(t *testing.T, src Set, seed uint64) Set {
	t.Helper()
	out, err := ForTransfer(src, arch.InitPyTorch, 0, seed) // the same fresh draws ε and head
	if err != nil {
		t.Fatal(err)
	}
	out.Name = "rescaled, not centered"
	p := src.Layout.Size()
	lo, _, _ := HeadRange(src.Layout)
	for i := range len(src.Weights) / p {
		for _, seg := range src.Layout.Segments {
			if seg.Kind != arch.Weight || seg.Offset >= lo {
				continue
			}
			row := seg.Size() / seg.Shape[0]
			for uu := range seg.Shape[0] {
				at := i*p + seg.Offset + uu*row
				sc := norm(out.Weights[at:at+row]) / norm(src.Weights[at:at+row])
				for j := range row {
					out.Weights[at+j] = float32(sc * float64(src.Weights[at+j]))
				}
				out.Weights[i*p+seg.Offset+seg.Size()+uu] = float32(sc * float64(src.Weights[i*p+seg.Offset+seg.Size()+uu])) // the bias follows the weights
			}
		}
	}
	return out
}

// finalAccs fine-tunes sets on ds with cfg and returns each set's mean test accuracy at the end
// and mean test loss at step 0.
func finalAccs(t *testing.T, cfg Config, ds *data.Dataset, sets []Set) (acc, loss0 []float64) {
	t.Helper()
	res, err := Compare(context.Background(), cfg, ds, sets, quiet)
	if err != nil {
		t.Fatal(err)
	}
	last := len(res.Steps) - 1
	for _, c := range res.Sets {
		acc, loss0 = append(acc, c.AccMean[last]), append(loss0, c.LossMean[0])
	}
	return acc, loss0
}
