package detect

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/data/shift"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Q refinement: a CDC's disagreements leave Q for good, counts shrink, the ensemble's softmax is
// averaged over f and the CDCs, and the trial stops after `patience` CDCs that reject nothing.
func TestRefinementAndEnsemble(t *testing.T) {
	tr := &trial{size: 3, yhat: []int{0, 1, 0}, count: []int{3}, probs: []float64{1, 0, 0, 1, 1, 0}, members: 1}
	// CDC 1 disagrees on point 1 only (predicts 0 where f said 1).
	tr.addCDC([]float32{5, 0, 5, 0, 5, 0}, 2, 2)
	if !slices.Equal(tr.count, []int{3, 2}) || tr.kept(1) || !tr.kept(0) || tr.stopped {
		t.Fatalf("after CDC 1: counts %v keep %v stopped %v", tr.count, tr.keep, tr.stopped)
	}
	// CDC 2 agrees with f everywhere (on point 1 too, which stays out).
	tr.addCDC([]float32{5, 0, 0, 5, 5, 0}, 2, 2)
	if !slices.Equal(tr.count, []int{3, 2, 2}) || tr.kept(1) || tr.stopped {
		t.Fatalf("after CDC 2: counts %v keep %v stopped %v", tr.count, tr.keep, tr.stopped)
	}
	tr.addCDC([]float32{5, 0, 0, 5, 5, 0}, 2, 2) // second CDC in a row with no new rejection
	if !tr.stopped || tr.members != 4 {
		t.Fatalf("patience 2 should stop the trial: stopped %v members %d", tr.stopped, tr.members)
	}
	// Point 1: f says (0,1); CDC 1 says (p,1−p) with p = σ(5); CDCs 2, 3 say (1−p,p). The mean
	// probability of class 0 is (0 + p + 2(1−p))/4.
	p := 1 / (1 + math.Exp(-5))
	m := (0 + p + 2*(1-p)) / 4
	want := Entropy([]float64{m, 1 - m})
	if got := tr.entropies(2)[1]; math.Abs(got-want) > 1e-12 {
		t.Errorf("entropy of point 1 = %v, want %v", got, want)
	}
	empty := &trial{size: 1, yhat: []int{0}, count: []int{1}, probs: []float64{1, 0}, members: 1}
	empty.addCDC([]float32{0, 5}, 2, -1)
	if !empty.stopped || empty.count[1] != 0 {
		t.Errorf("an empty Q must stop the trial: %+v", empty)
	}
}

// Detectron's protocol: Epochs passes over P-train per CDC, and each Q point weighted
// α = 1/(nb·|Q|+1) of a P example, so all of Q over an epoch weighs less than one P example.
func TestProtocolStepsAndQWeight(t *testing.T) {
	c, err := Config{BatchSize: 100}.Defaults()
	if err != nil || c.Epochs != 5 || c.Steps != 0 {
		t.Fatalf("defaults %+v %v: want 5 epochs and no step budget", c, err)
	}
	if got := c.StepsPerCDC(1050); got != 50 { // 10 full batches an epoch (the last 50 dropped)
		t.Errorf("steps per CDC on 1050 examples = %d, want 5·10", got)
	}
	if got := c.StepsPerCDC(30); got != 5 { // P-train smaller than a batch: one step an epoch
		t.Errorf("steps per CDC on 30 examples = %d, want 5", got)
	}
	for _, kept := range []int{1, 10, 50} {
		lam := c.QWeight(kept, 1000)
		alpha := lam * 100 / float64(kept) // the weight of one Q point relative to one P example
		if want := 1 / float64(10*kept+1); math.Abs(alpha-want) > 1e-15 {
			t.Errorf("|Q| = %d: per-point weight %v, want 1/(nb·|Q|+1) = %v", kept, alpha, want)
		}
		if alpha*float64(10*kept) >= 1 {
			t.Errorf("|Q| = %d: all of Q weighs %v P examples over an epoch, want < 1", kept, alpha*float64(10*kept))
		}
	}
	fixed, _ := Config{Steps: 7, Lambda: 0.3}.Defaults()
	if fixed.StepsPerCDC(1000) != 7 || fixed.QWeight(10, 1000) != 0.3 {
		t.Errorf("Steps and Lambda must override: %d steps, λ %v", fixed.StepsPerCDC(1000), fixed.QWeight(10, 1000))
	}
}

func TestValidation(t *testing.T) {
	for _, c := range []Config{{Ensemble: -1}, {LR: -1}, {Lambda: -0.5}, {Alpha: 1.5}, {Models: -2}, {Steps: -1}, {Epochs: -3}} {
		if _, err := c.Defaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c, err := Config{}.Defaults()
	if err != nil || c.Ensemble != 5 || c.LR != 1e-3 || c.Alpha != 0.05 || c.Patience != 2 {
		t.Errorf("defaults %+v %v", c, err)
	}
	base := &Base{Net: arch.MustNew(arch.MLP([]int{2, 1, 1}, 2, 4))}
	s := blobs(30, 1, false)
	for _, c := range []struct {
		sizes  []int
		trials int
		want   string
	}{{[]int{10}, 1, "at least 2 trials"}, {[]int{40}, 5, "pool sizes"}, {nil, 5, "no |Q|"}} {
		if err := checkBench(base, Bench{Train: s, Null: s, Alt: s}, c.sizes, c.trials); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v/%d: %v, want %q", c.sizes, c.trials, err, c.want)
		}
	}
	if err := checkBench(base, Bench{Train: s, Null: s, Alt: data.Split{}}, []int{5}, 3); err == nil || !strings.Contains(err.Error(), "alt split") {
		t.Errorf("empty alt pool: %v", err)
	}
	z := &traj.Zoo{Runs: 1}
	if _, err := BaseFromZoo(z, 3); err == nil || !strings.Contains(err.Error(), "run 3") {
		t.Errorf("BaseFromZoo bad run: %v", err)
	}
	if _, err := HeartBench(&data.Dataset{Name: "mnist"}); err == nil {
		t.Error("HeartBench accepted mnist")
	}
}

// ShiftBench halves the test split: the null pool is the first half untouched, the alternative
// pool the second half shifted, labels kept.
func TestShiftBench(t *testing.T) {
	test := data.Split{Images: make([]uint8, 4*4), Labels: []int{0, 1, 2, 3}, N: 4}
	for i := range test.Images {
		test.Images[i] = uint8(i + 1)
	}
	ds := &data.Dataset{Name: "tiny", Shape: []int{1, 2, 2}, Train: test, Test: test}
	sh, _ := shift.Parse("translate:1")
	b, err := ShiftBench(ds, sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Null.Images, test.Images[:8]) || !slices.Equal(b.Alt.Labels, []int{2, 3}) ||
		!slices.Equal(b.Alt.Images, []uint8{0, 9, 0, 11, 0, 13, 0, 15}) || b.Name != "tiny translate:1,0" {
		t.Errorf("bench %+v", b)
	}
}

// The CNN path (per-CDC grouped convolutions) runs end to end on tiny images, and a CDC can only
// remove Q points: counts never grow.
func TestDetectronCNN(t *testing.T) {
	net := arch.MustNew(arch.CNN([]int{1, 8, 8}, 3, []int{2}, 4))
	params, err := arch.Init(net.Layout(), arch.InitPyTorch, 1)
	if err != nil {
		t.Fatal(err)
	}
	norm, _ := feed.NewNorm([]float32{0.5}, []float32{0.3}, 64, true)
	rng := rand.New(rand.NewPCG(1, 2))
	img := func(n int) data.Split { return noiseImages(rng, n, 64) }
	res, err := Run(context.Background(), &Base{Net: net, Params: params, Norm: norm}, Bench{Name: "cnn", Train: img(64), Null: img(20), Alt: img(20)},
		[]int{5}, 2, Config{Ensemble: 2, Steps: 3, BatchSize: 16, Seed: 1}, Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range append(res.Sizes[0].Null, res.Sizes[0].Alt...) {
		if tr.Counts[0] != 5 || len(tr.Counts) < 2 || !slices.IsSortedFunc(tr.Counts, func(a, b int) int { return b - a }) {
			t.Errorf("trial counts %v", tr.Counts)
		}
	}
}

// noiseImages is n examples of d uniform random bytes, labels 0.
func noiseImages(rng *rand.Rand, n, d int) data.Split {
	s := data.Split{Images: make([]uint8, n*d), Labels: make([]int, n), N: n}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	return s
}
