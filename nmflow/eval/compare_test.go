package eval_test

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
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

func TestCompareRanksAPerfectGeneratorFirst(t *testing.T) {
	a, b, ds := twoZoos(t)
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	test, norm, err := eval.TestSplit(a.Meta.Dataset, ds, 0)
	if err != nil {
		t.Fatal(err)
	}
	net := arch.MustNew(a.Meta.Arch)
	last := a.Checkpoints - 1
	// The good generator: the independent zoo's nets one checkpoint before the end.
	c, err := eval.Compare(be, net, eval.Sets{Reference: a.Checkpoint(last), Inits: a.Checkpoint(0),
		Generated: b.Checkpoint(last - 1), Independent: b.Checkpoint(last)}, test, norm, eval.CompareOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Rows {
		t.Logf("%-11s %4.2f acc %.3f±%.3f energy %8.4f w1 %7.4f nearest %7.4f agree %.3f overlap %.3f",
			r.Name, r.Level, r.Accuracy.Mean, r.AccuracyStderr, r.Energy, r.W1, r.Nearest.Median, r.Agreement.Mean, r.ErrorOverlap.Mean)
	}
	t.Logf("nn %.4f space %s", c.NNDist, c.Space)
	for k := 1; k < last; k++ {
		c, err := eval.Compare(be, net, eval.Sets{Reference: a.Checkpoint(last), Generated: b.Checkpoint(k)}, test, norm, eval.CompareOptions{Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		r := c.Rows[0]
		t.Logf("ckpt %d acc %.3f energy %.4f w1 %.4f", k, r.Accuracy.Mean, r.Energy, r.W1)
	}
}
