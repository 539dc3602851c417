package align_test

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

var specs = map[string]arch.Spec{
	"mlp":  arch.MLP([]int{1, 5, 5}, 4, 9, 7),
	"cnn":  arch.CNN([]int{2, 8, 8}, 3, []int{5, 6}, 4),
	"cnn0": arch.CNN([]int{1, 6, 6}, 3, []int{4}),
}

func randomNet(t *testing.T, spec arch.Spec, seed uint64) []float32 {
	t.Helper()
	w, err := arch.Init(arch.MustNew(spec).Layout(), arch.InitPyTorch, seed)
	if err != nil {
		t.Fatal(err)
	}
	// Biases are zero-ish at init; give them weight so the matching has to carry them too.
	rng := rand.New(rand.NewPCG(seed, 9))
	for _, s := range arch.MustNew(spec).Layout().Segments {
		if s.Kind == arch.Bias {
			for i := range s.Size() {
				w[s.Offset+i] = float32(rng.NormFloat64())
			}
		}
	}
	return w
}

func randomPerm(spec arch.Spec, rng *rand.Rand) align.Perm {
	widths := append(slices.Clone(spec.Channels), spec.Hidden...) // conv groups, then dense
	p := make(align.Perm, len(widths))
	for g, n := range widths {
		p[g] = rng.Perm(n)
	}
	return p
}

func logits(t *testing.T, spec arch.Spec, w []float32, n int, x []float32) []float32 {
	t.Helper()
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	net := arch.MustNew(spec)
	fwd := MustNewExec(be, net.Forward)
	shape := append([]int{len(x) / prod(spec.Input)}, spec.Input...)
	out := fwd.MustExec1(tensors.FromFlatDataAndDimensions(w, n, len(w)/n), tensors.FromFlatDataAndDimensions(x, shape...))
	return tensors.MustCopyFlatData[float32](out)
}

func prod(ds []int) int {
	n := 1
	for _, d := range ds {
		n *= d
	}
	return n
}

// Permuting hidden units (conv channels included) must not change the function; matching a
// permuted copy to its original must undo the permutation exactly.
func TestPermutedNetsComputeTheSameAndMatchBack(t *testing.T) {
	backend.Notice = io.Discard
	rng := rand.New(rand.NewPCG(3, 4))
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			w := randomNet(t, spec, 7)
			perm := randomPerm(spec, rng)
			pw, err := align.Apply(spec, perm, w)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(pw, w) {
				t.Fatal("the random permutation left the net unchanged: the test proves nothing")
			}
			x := make([]float32, 6*prod(spec.Input))
			for i := range x {
				x[i] = rng.Float32()
			}
			a, b := logits(t, spec, w, 1, x), logits(t, spec, pw, 1, x)
			for i := range a {
				if d := math.Abs(float64(a[i] - b[i])); d > 1e-5*(1+math.Abs(float64(a[i]))) {
					t.Fatalf("logit %d: %v before, %v after permuting", i, a[i], b[i])
				}
			}
			got, err := align.Match(spec, w, pw, 1)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := align.Apply(spec, got, pw)
			if !slices.Equal(back, w) {
				t.Fatalf("matching a permuted copy did not recover the original (perm %v)", got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	spec := specs["mlp"]
	w := randomNet(t, spec, 1)
	if _, err := align.Match(spec, w, w[:10], 1); err == nil {
		t.Error("Match of nets of different sizes: no error")
	}
	if _, err := align.Apply(spec, align.Perm{{0, 0, 1, 2, 3, 4, 5, 6, 7}, make([]int, 7)}, w); err == nil {
		t.Error("Apply of a non-permutation: no error")
	}
	if _, err := align.Nets(spec, w, w, 2); err == nil {
		t.Error("Nets with n that does not match the data: no error")
	}
	z := &traj.Zoo{Meta: traj.Meta{Arch: spec, Layout: arch.MustNew(spec).Layout()}, Runs: 1, Checkpoints: 1, Params: len(w), Weights: w, Steps: []int64{0}}
	if _, _, err := align.Zoo(z, align.Options{Reference: 3}); err == nil {
		t.Error("reference run out of range: no error")
	}
}

// Noisy, permuted copies of one net: alignment finds the common order, so the aligned copies
// sit close together and their mean is close to the net.
func TestZooOfPermutedCopies(t *testing.T) {
	spec := specs["cnn"]
	base := randomNet(t, spec, 5)
	rng := rand.New(rand.NewPCG(8, 9))
	const R, K = 6, 2
	p := len(base)
	z := &traj.Zoo{Meta: traj.Meta{Arch: spec, Layout: arch.MustNew(spec).Layout()}, Runs: R, Checkpoints: K, Params: p,
		Weights: make([]float32, R*K*p), Steps: []int64{0, 10}, Metrics: map[string][]float32{}}
	inits := make([][]float32, R)
	for r := range R {
		noisy := slices.Clone(base)
		for i := range noisy {
			noisy[i] += 0.05 * float32(rng.NormFloat64())
		}
		perm := randomPerm(spec, rng)
		fin, _ := align.Apply(spec, perm, noisy)
		inits[r] = randomNet(t, spec, uint64(100+r))
		copy(z.Weights[(r*K)*p:], inits[r])
		copy(z.Weights[(r*K+1)*p:], fin)
	}
	out, rep, err := align.Zoo(z, align.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The noise alone puts each copy ≈ 0.05·√P·√(5/6) ≈ 1.0 from the mean here.
	noise := 0.05 * math.Sqrt(float64(p)*(R-1)/R)
	if !(rep.DistAfter < 1.1*noise) || !(rep.DistBefore > 2*noise) || rep.Moved < 0.5 {
		t.Fatalf("report %+v: alignment should shrink the spread of permuted copies and move most units", rep)
	}
	if out.Meta.Aligned == nil || out.Meta.Aligned.Method != align.MethodWeightMatching {
		t.Fatalf("aligned zoo does not record the alignment: %+v", out.Meta.Aligned)
	}
	if z.Meta.Aligned != nil {
		t.Fatal("Zoo changed its input's metadata")
	}
	// Every checkpoint of a run is permuted the same way: the init moved with the final net, so
	// it is still the same function.
	x := make([]float32, 4*prod(spec.Input))
	for i := range x {
		x[i] = rng.Float32()
	}
	for r := range R {
		a := logits(t, spec, inits[r], 1, x)
		b := logits(t, spec, out.At(r, 0), 1, x)
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-4 {
				t.Fatalf("run %d: the aligned init computes another function", r)
			}
		}
	}
}

// On a real zoo, the mean of the aligned final nets is a far better net than the mean of the
// raw ones, and the zoo's total variance drops (METHODS.md §10 measured 0.150 → 0.719 on a
// 784-8-10 zoo of 32 runs).
func TestAlignedZooMeanWorks(t *testing.T) {
	backend.Notice = io.Discard
	ds, err := data.Load("mnist", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 8), Runs: 12, Epochs: 1, Checkpoints: 2,
		BatchSize: 64, LR: 0.05, Momentum: 0.9, Seed: 4, TrainSize: 6000, TestSize: 1000}
	z, err := zoo.Train(context.Background(), cfg, ds, zoo.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	az, rep, err := align.Zoo(z, align.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be, _, _ := backend.Default()
	k := z.Checkpoints - 1
	meanAcc := func(zz *traj.Zoo) float32 {
		fin := zz.Checkpoint(k)
		mean := make([]float32, zz.Params)
		for r := range zz.Runs {
			for j := range mean {
				mean[j] += fin[r*zz.Params+j] / float32(zz.Runs)
			}
		}
		acc, _, err := eval.ZooAccuracy(be, zz, mean, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return acc[0]
	}
	raw, al := meanAcc(z), meanAcc(az)
	zooAcc, _, _ := eval.ZooAccuracy(be, z, z.Checkpoint(k), z.Runs, 0)
	alAcc, _, _ := eval.ZooAccuracy(be, az, az.Checkpoint(k), az.Runs, 0)
	t.Logf("mean net accuracy raw %.3f → aligned %.3f (zoo %.3f); spread %.3f → %.3f, moved %.2f",
		raw, al, zooAcc[0], rep.DistBefore, rep.DistAfter, rep.Moved)
	if !(al > raw+0.2) {
		t.Errorf("mean of the aligned zoo %.3f, of the raw zoo %.3f: alignment should raise it by > 0.2", al, raw)
	}
	if !(rep.DistAfter < 0.9*rep.DistBefore) {
		t.Errorf("spread %.3f → %.3f: alignment should lower it by > 10%%", rep.DistBefore, rep.DistAfter)
	}
	for r := range z.Runs {
		if math.Abs(float64(zooAcc[r]-alAcc[r])) > 1e-6 {
			t.Fatalf("run %d: accuracy %.4f before, %.4f after alignment", r, zooAcc[r], alAcc[r])
		}
	}
}
