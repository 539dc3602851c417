package eval_test

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// prototypes is a synthetic 4-class task on 1x6x6 images: each class has a fixed random pattern,
// each example is its class's pattern under heavy pixel noise, so small nets learn it to about
// 90% and still make mistakes (the error-overlap measure needs some).
func prototypes(n int, seed uint64) data.Split {
	protos := rand.New(rand.NewPCG(7, 7))
	var pat [4][36]int
	for c := range pat {
		for k := range pat[c] {
			pat[c][k] = protos.IntN(100)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	s := data.Split{Images: make([]uint8, n*36), Labels: make([]int, n), N: n}
	for i := range n {
		c := rng.IntN(4)
		s.Labels[i] = c
		for k := range 36 {
			s.Images[i*36+k] = uint8(min(255, pat[c][k]+rng.IntN(220)))
		}
	}
	return s
}

var (
	zoosOnce sync.Once
	zooA     *traj.Zoo
	zooB     *traj.Zoo
	zooDS    *data.Dataset
	zooErr   error
)

// twoZoos trains two zoos of one configuration with different seeds (a second zoo is what a
// perfect generator of the first one's distribution produces), once per test binary.
func twoZoos(t *testing.T) (a, b *traj.Zoo, ds *data.Dataset) {
	t.Helper()
	zoosOnce.Do(func() {
		zooDS = &data.Dataset{Name: "prototypes", Shape: []int{1, 6, 6}, Classes: []string{"a", "b", "c", "d"},
			Train: prototypes(800, 1), Test: prototypes(500, 2), Source: "test"}
		cfg := zoo.Config{Arch: arch.MLP([]int{1, 6, 6}, 4, 16), Runs: 16, Epochs: 4, Checkpoints: 4, BatchSize: 32,
			LR: 0.05, Momentum: 0.9, Seed: 1}
		if zooA, zooErr = zoo.Train(context.Background(), cfg, zooDS, zoo.Options{Progress: io.Discard}); zooErr != nil {
			return
		}
		cfg.Seed = 2
		zooB, zooErr = zoo.Train(context.Background(), cfg, zooDS, zoo.Options{Progress: io.Discard})
	})
	if zooErr != nil {
		t.Fatal(zooErr)
	}
	return zooA, zooB, zooDS
}

func compareSetup(t *testing.T) (be compute.Backend, net arch.Net, test data.Split, norm *feed.Norm) {
	t.Helper()
	a, _, ds := twoZoos(t)
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	if test, norm, err = eval.TestSplit(a.Meta.Dataset, ds, 0); err != nil {
		t.Fatal(err)
	}
	return be, arch.MustNew(a.Meta.Arch), test, norm
}

// Energy in aligned space ranks an independent zoo (a perfect generator) closest to the zoo,
// then a good but imperfect generator, then inits; a mean collapse is farther than the
// independent zoo too.
func TestCompareRanksAPerfectGeneratorFirst(t *testing.T) {
	a, b, _ := twoZoos(t)
	be, net, test, norm := compareSetup(t)
	last := a.Checkpoints - 1
	// The good generator: the independent zoo's nets halfway through training (about 0.81
	// accurate where trained nets reach 0.9).
	c, err := eval.Compare(be, net, eval.Sets{Reference: a.Checkpoint(last), Inits: a.Checkpoint(0),
		Generated: b.Checkpoint(last / 2), Independent: b.Checkpoint(last)}, test, norm, eval.CompareOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rows {
		t.Logf("%-11s %4.2f acc %.3f±%.3f energy %8.4f w1 %7.4f nearest %7.4f agree %.3f overlap %.3f",
			r.Name, r.Level, r.Accuracy.Mean, r.AccuracyStderr, r.Energy, r.W1, r.Nearest.Median, r.Agreement.Mean, r.ErrorOverlap.Mean)
	}
	names := []string{}
	for _, r := range c.Rows {
		names = append(names, r.Name)
	}
	want := []string{"generated", "reference", "independent", "noise", "noise", "noise", "noise", "noise", "mean", "init"}
	if !slices.Equal(names, want) || c.Space != "aligned" || c.Params != net.Layout().Size() || c.TestExamples != 500 {
		t.Fatalf("rows %v, space %q, P %d, %d examples", names, c.Space, c.Params, c.TestExamples)
	}
	ind, gen, ini, mean, ref := c.Row("independent"), c.Row("generated"), c.Row("init"), c.Row("mean"), c.Row("reference")
	if !(ind.Energy < gen.Energy && gen.Energy < ini.Energy && ind.Energy < mean.Energy) {
		t.Errorf("energy ranks independent %.4f, generated %.4f, init %.4f, mean %.4f", ind.Energy, gen.Energy, ini.Energy, mean.Energy)
	}
	// Copies are what energy cannot see: the reference set against itself scores below the
	// independent zoo (hence the novelty curve).
	if !(ref.Energy < ind.Energy) || ref.W1 != 0 || ref.W1N != a.Runs {
		t.Errorf("reference row: energy %v (independent %v), W1 %v over %d", ref.Energy, ind.Energy, ref.W1, ref.W1N)
	}
	// Alignment keeps functions: the independent nets score what their zoo recorded.
	for i, acc := range ind.NetAccuracy {
		if d := math.Abs(float64(acc - b.Metric(traj.MetricTestAcc, i, last))); d > 2.0/500 {
			t.Errorf("independent net %d: accuracy %v aligned, %v recorded", i, acc, b.Metric(traj.MetricTestAcc, i, last))
		}
	}
	// Noise rows sit where their level says, lose accuracy and agreement as it grows, and repeat
	// their source's mistakes more than independent nets do at small levels.
	noise := c.Noise()
	for i, r := range noise {
		if d := r.Nearest.Median / (r.Level * c.NNDist); d < 0.95 || d > 1.05 {
			t.Errorf("noise level %v: nearest-trained median %v, want about %v", r.Level, r.Nearest.Median, r.Level*c.NNDist)
		}
		if i > 0 && !(r.Agreement.Mean < noise[i-1].Agreement.Mean) {
			t.Errorf("agreement does not fall with noise: %v then %v", noise[i-1].Agreement.Mean, r.Agreement.Mean)
		}
	}
	if top := noise[len(noise)-1]; !(top.Accuracy.Mean < ref.Accuracy.Mean-0.1) || !(noise[0].ErrorOverlap.Mean > ind.ErrorOverlap.Mean+0.2) {
		t.Errorf("noise: accuracy %v at level %v (reference %v); error overlap %v at level %v, independent %v",
			top.Accuracy.Mean, top.Level, ref.Accuracy.Mean, noise[0].ErrorOverlap.Mean, noise[0].Level, ind.ErrorOverlap.Mean)
	}
	if mean.N != a.Runs || mean.AccuracyStderr != 0 || mean.Accuracy.Min != mean.Accuracy.Max {
		t.Errorf("mean row: %d nets, accuracy %+v ± %v", mean.N, mean.Accuracy, mean.AccuracyStderr)
	}
	// The independent zoo beats the noise curve; a copier (trained nets plus a little other
	// noise) does not, and scores below the independent zoo by energy.
	if v := eval.BeatsNoise(c.NoveltyCurve(), *ind); !v.NotCopies {
		t.Errorf("independent zoo: %s", v.Text)
	}
	copier := a.Checkpoint(last)
	rng := rand.New(rand.NewPCG(9, 9))
	for k := range copier {
		copier[k] += float32(0.3 * eval.MatchedSigma(c.NNDist, net.Layout().Size()) * rng.NormFloat64())
	}
	cc, err := eval.Compare(be, net, eval.Sets{Reference: a.Checkpoint(last), Generated: copier}, test, norm, eval.CompareOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	cg := cc.Row("generated")
	if v := eval.BeatsNoise(cc.NoveltyCurve(), *cg); v.NotCopies || !v.InRange || !(cg.Energy < ind.Energy) {
		t.Errorf("copier: energy %v; %s", cg.Energy, v.Text)
	}
	if cc.Row("init") != nil || cc.Row("independent") != nil {
		t.Error("rows of sets not given")
	}

	// In raw space the mean of unaligned nets is a worse net than the aligned mean.
	raw, err := eval.Compare(be, net, eval.Sets{Reference: a.Checkpoint(last)}, test, norm, eval.CompareOptions{Raw: true, NoiseLevels: []float64{1}})
	if err != nil {
		t.Fatal(err)
	}
	if rm := raw.Row("mean"); raw.Space != "raw" || len(raw.Rows) != 3 || !(rm.Accuracy.Mean < mean.Accuracy.Mean-0.1) {
		t.Errorf("raw space %q, %d rows, mean accuracy %v (aligned %v)", raw.Space, len(raw.Rows), rm.Accuracy.Mean, mean.Accuracy.Mean)
	}
	t.Logf("W1 ranks independent %.3f, generated %.3f, mean %.3f, init %.3f", ind.W1, gen.W1, mean.W1, ini.W1)
}

func TestCompareErrors(t *testing.T) {
	a, _, _ := twoZoos(t)
	be, net, test, norm := compareSetup(t)
	p := a.Params
	ref := a.Checkpoint(a.Checkpoints - 1)
	cases := []struct {
		sets eval.Sets
		opt  eval.CompareOptions
		want string
	}{
		{eval.Sets{Reference: ref[:p]}, eval.CompareOptions{}, "at least 2 reference nets"},
		{eval.Sets{Reference: ref[:p+1]}, eval.CompareOptions{}, "not a multiple"},
		{eval.Sets{Reference: ref, Generated: ref[1:]}, eval.CompareOptions{}, "generated set"},
		{eval.Sets{Reference: ref}, eval.CompareOptions{RefRun: a.Runs}, "reference run"},
		{eval.Sets{Reference: ref}, eval.CompareOptions{NoiseLevels: []float64{0.5, 0.2}}, "increasing"},
		{eval.Sets{Reference: ref}, eval.CompareOptions{NoiseLevels: []float64{0}}, "positive"},
	}
	for _, c := range cases {
		if _, err := eval.Compare(be, net, c.sets, test, norm, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
}

// CompareZoo takes the zoo's checkpoints, the independent zoo's last one and the zoo's own test
// set (MNIST's first 200 test images here; the nets are random, only the plumbing is checked).
func TestCompareZoo(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(hidden, runs int, seed uint64) *traj.Zoo {
		spec := arch.MLP([]int{1, 28, 28}, 10, hidden)
		l := arch.MustNew(spec).Layout()
		z := &traj.Zoo{Meta: traj.Meta{Arch: spec, Layout: l, Dataset: traj.DatasetMeta{Name: "mnist", Test: 200}},
			Runs: runs, Checkpoints: 3, Params: l.Size(), Steps: []int64{0, 5, 10}}
		rng := rand.New(rand.NewPCG(seed, 1))
		z.Weights = make([]float32, runs*3*l.Size())
		for k := range z.Weights {
			z.Weights[k] = float32(0.05 * rng.NormFloat64())
		}
		return z
	}
	z, ind := mk(4, 3, 1), mk(4, 3, 2)
	gen := ind.Checkpoint(1)[:2*z.Params]
	c, err := eval.CompareZoo(be, z, gen, 2, eval.ZooCompareOptions{Independent: ind, CompareOptions: eval.CompareOptions{NoiseLevels: []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 6 || c.TestExamples != 200 || c.Row("generated").N != 2 || c.Row("independent").N != 3 {
		t.Fatalf("%d rows on %d examples: %+v", len(c.Rows), c.TestExamples, c.Rows)
	}
	// The reference nets are the last checkpoint: checkpoint 1 as reference changes the rows.
	c1, err := eval.CompareZoo(be, z, gen, 2, eval.ZooCompareOptions{Checkpoint: 1, CompareOptions: eval.CompareOptions{NoiseLevels: []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if c1.Row("reference").Energy == c.Row("reference").Energy || c1.Row("independent") != nil {
		t.Errorf("checkpoint 1: reference energy %v (last checkpoint %v)", c1.Row("reference").Energy, c.Row("reference").Energy)
	}
	for _, tc := range []struct {
		opt  eval.ZooCompareOptions
		n    int
		want string
	}{
		{eval.ZooCompareOptions{Checkpoint: 3}, 2, "out of range"},
		{eval.ZooCompareOptions{Checkpoint: -3}, 2, "out of range"},
		{eval.ZooCompareOptions{}, 3, "3 nets"},
		{eval.ZooCompareOptions{Independent: mk(5, 3, 2)}, 2, "same configuration"},
	} {
		if _, err := eval.CompareZoo(be, z, gen, tc.n, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opt, err, tc.want)
		}
	}
}
