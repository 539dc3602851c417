package flow_test

import (
	"context"
	"io"
	"math"
	"sync"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// The tests in this file fail when generated nets are bad: each fits a meta-model with the
// library's defaults (only the step budget and net size are cut for CI) on a small real MNIST
// zoo, samples fresh nets from the init law, and checks their test accuracy against chance and
// against the zoo. The bounds come from measurements (docs/metamodel.md, "Defaults"), with room
// for seed-to-seed spread, not from hope.

var quality struct {
	once sync.Once
	z    *traj.Zoo
	acc  float64 // the zoo's mean final test accuracy
	err  error
}

// qualityZoo is 16 runs of a 784-8-10 MLP, one epoch of momentum SGD on 6,000 MNIST images,
// K = 4 checkpoints (P = 6,370): about two seconds on two cores.
func qualityZoo(t *testing.T) (*traj.Zoo, float64) {
	t.Helper()
	quality.once.Do(func() {
		backend.Notice = io.Discard
		ds, err := data.Load("mnist", data.Options{})
		if err != nil {
			quality.err = err
			return
		}
		cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 8), Runs: 16, Epochs: 1, Checkpoints: 4,
			BatchSize: 64, LR: 0.05, Momentum: 0.9, Seed: 5, TrainSize: 6000, TestSize: 1000}
		quality.z, quality.err = zoo.Train(context.Background(), cfg, ds, zoo.Options{Progress: io.Discard})
		if quality.err == nil {
			var s float64
			for r := range quality.z.Runs {
				s += float64(quality.z.Metric(traj.MetricTestAcc, r, quality.z.Checkpoints-1))
			}
			quality.acc = s / float64(quality.z.Runs)
		}
	})
	if quality.err != nil {
		t.Fatal(quality.err)
	}
	return quality.z, quality.acc
}

// generatedAccuracy fits cfg on z, samples n nets from fresh inits and returns their mean test
// accuracy on the zoo's test set.
func generatedAccuracy(t *testing.T, z *traj.Zoo, cfg flow.Config, n int) float64 {
	t.Helper()
	m, err := flow.Fit(context.Background(), z, cfg, flow.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Sample(n, flow.SampleOptions{Seed: 77})
	if err != nil {
		t.Fatal(err)
	}
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := eval.ZooAccuracy(be, z, s.Weights, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, a := range acc {
		if math.IsNaN(float64(a)) {
			t.Fatal("a generated net has NaN accuracy")
		}
		sum += float64(a)
	}
	return sum / float64(n)
}

func TestGeneratedNetsWork(t *testing.T) {
	z, zooAcc := qualityZoo(t)
	const chance = 0.1
	for _, c := range []struct {
		method string
		frac   float64 // required fraction of the zoo's mean accuracy
	}{
		{flow.MethodCFM, 0.85},
		{flow.MethodMMFM, 0.80},
		{flow.MethodJKO, 0.60},
	} {
		t.Run(c.method, func(t *testing.T) {
			cfg := flow.Config{Method: c.method, Steps: 400, Net: flow.NetConfig{Width: 64}, Seed: 1}
			acc := generatedAccuracy(t, z, cfg, 16)
			t.Logf("%s: generated %.3f, zoo %.3f (%.0f%%)", c.method, acc, zooAcc, 100*acc/zooAcc)
			if !(acc > chance+0.3) {
				t.Errorf("%s: generated nets reach %.3f, not beyond chance (%.2f) by 0.3", c.method, acc, chance)
			}
			if !(acc >= c.frac*zooAcc) {
				t.Errorf("%s: generated nets reach %.3f = %.0f%% of the zoo's %.3f; want ≥ %.0f%%", c.method, acc, 100*acc/zooAcc, zooAcc, 100*c.frac)
			}
		})
	}
}
