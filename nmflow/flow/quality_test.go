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
	"github.com/nmflow/nmflow/nmflow/task"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/vae"
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
	return meanAcc(t, acc)
}

func TestGeneratedNetsWork(t *testing.T) {
	z, zooAcc := qualityZoo(t)
	const chance = 0.1
	for _, c := range []struct {
		method string
		frac   float64 // required fraction of the zoo's mean accuracy
	}{
		// Measured on this zoo (seed 1, 400 steps, width 64): CFM 84%, MMFM 56%, JKO 64% of the
		// zoo; JKO with its sub-steps and per-interval shift (the defaults since) 66%. Their failure mode before the current defaults — nets no better than an init plus
		// the zoo's mean displacement — scored 14% on a zoo like this one.
		{flow.MethodCFM, 0.75},
		{flow.MethodMMFM, 0.45},
		{flow.MethodJKO, 0.55},
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

// meanAcc is the mean of accuracies, failing on NaN.
func meanAcc(t *testing.T, acc []float32) float64 {
	t.Helper()
	var sum float64
	for _, a := range acc {
		if math.IsNaN(float64(a)) {
			t.Fatal("a generated net has NaN accuracy")
		}
		sum += float64(a)
	}
	return sum / float64(len(acc))
}

// A latent flow (weight VAE + flow on its latents) must decode to working nets too.
func TestGeneratedNetsWorkLatent(t *testing.T) {
	z, zooAcc := qualityZoo(t)
	ctx := context.Background()
	v, err := vae.Fit(ctx, z, vae.Config{LatentDim: 16, Width: 128, Steps: 600, Seed: 2}, vae.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	lf, err := vae.FitLatent(ctx, v, z, flow.Config{Steps: 400, Net: flow.NetConfig{Width: 64}, Seed: 1}, flow.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s, err := lf.Sample(16, flow.SampleOptions{Seed: 77})
	if err != nil {
		t.Fatal(err)
	}
	be, _, _ := backend.Default()
	accs, _, err := eval.ZooAccuracy(be, z, s.Weights, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	acc := meanAcc(t, accs)
	t.Logf("latent: generated %.3f, zoo %.3f (%.0f%%)", acc, zooAcc, 100*acc/zooAcc)
	if !(acc >= 0.70*zooAcc) { // measured 80%
		t.Errorf("latent flow: decoded nets reach %.3f = %.0f%% of the zoo's %.3f; want ≥ 70%%", acc, 100*acc/zooAcc, zooAcc)
	}
}

// A conditional model on the default task set (task.Defaults: MNIST and Fashion-MNIST zoos of the
// same architecture), with the default step budget (25 steps per run), must generate working nets
// for each task at guidance 2.
func TestGeneratedNetsWorkConditional(t *testing.T) {
	backend.Notice = io.Discard
	ctx := context.Background()
	cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 8), Runs: 12, Epochs: 1, Checkpoints: 2,
		BatchSize: 64, LR: 0.05, Momentum: 0.9, Seed: 6, TrainSize: 6000, TestSize: 1000}
	set, err := task.Train(ctx, t.TempDir(), task.Defaults, cfg, data.Options{}, zoo.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := set.CondTasks(20, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := flow.FitConditional(ctx, tasks, flow.Config{Net: flow.NetConfig{Width: 64}, Seed: 1}, flow.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if m.Steps != flow.DefaultStepsPerRun*24 {
		t.Fatalf("2 tasks × 12 runs: %d steps, want the rule's %d × 24", m.Steps, flow.DefaultStepsPerRun)
	}
	be, _, _ := backend.Default()
	for i, tk := range tasks {
		sup, err := task.Support(tk.Pool, m.Config.Cond.K, 9)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.Sample(16, flow.SampleOptions{Seed: 77, Cond: &flow.Condition{Support: sup, Guidance: 2}})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := task.Load(tk.Name, data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		accs, err := task.Accuracy(be, tk.Zoo.Meta.Arch, tk.Zoo.Meta.Dataset, ds, s.Weights, 16, 0)
		if err != nil {
			t.Fatal(err)
		}
		acc := meanAcc(t, accs)
		var zooAcc float64
		for r := range tk.Zoo.Runs {
			zooAcc += float64(tk.Zoo.Metric(traj.MetricTestAcc, r, tk.Zoo.Checkpoints-1)) / float64(tk.Zoo.Runs)
		}
		t.Logf("conditional %s (task %d): generated %.3f, zoo %.3f (%.0f%%)", tk.Name, i, acc, zooAcc, 100*acc/zooAcc)
		// Measured with the defaults (the step rule's 600 steps, no alignment): 81% (MNIST) and 77%
		// (Fashion-MNIST); aligned 78% and 81%; 500 fixed steps, aligned, 76% and 80%.
		if !(acc >= 0.70*zooAcc) {
			t.Errorf("conditional %s: generated nets reach %.3f = %.0f%% of the task zoo's %.3f; want ≥ 70%%", tk.Name, acc, 100*acc/zooAcc, zooAcc)
		}
	}
}
