package zoo

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// Starting from the init law's own draws, TrainFrom is Train.
func TestTrainFromInitLawIsTrain(t *testing.T) {
	cfg := smallConfig()
	cfg.Epochs, cfg.Checkpoints = 1, 2
	want, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	init, _ := arch.InitBatch(want.Meta.Layout, arch.InitPyTorch, arch.RunSeeds(cfg.Seed, cfg.Runs))
	cfg.Runs = 0 // inferred from the weights
	got, err := TrainFrom(context.Background(), cfg, synthetic(), Start{Weights: init, Init: "law"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Weights, want.Weights) || !slices.Equal(got.Metrics["test_acc"], want.Metrics["test_acc"]) {
		t.Fatal("TrainFrom from the init law's draws differs from Train")
	}
	if got.Meta.Init != "law" || got.Meta.Extra["zoo_config"] != "" || got.Meta.Extra[ExtraStartConfig] == "" || len(got.Meta.Extra["start_weights_sha256"]) != 64 {
		t.Fatalf("metadata: init %q, extra %v", got.Meta.Init, got.Meta.Extra)
	}
}

// Given steps and data seeds: checkpoint 0 is the given weights, checkpoints fall on the steps,
// and two runs with the same start and data seed train identically.
func TestTrainFromStepsAndSeeds(t *testing.T) {
	cfg := smallConfig()
	net := arch.MustNew(cfg.Arch)
	p := net.Layout().Size()
	w, _ := arch.InitBatch(net.Layout(), arch.InitPyTorch, []uint64{5, 5, 6})
	steps := []int64{0, 3, 20, 25} // 18 steps per epoch: 25 crosses into the second epoch
	cfg.Runs = 3
	z, err := TrainFrom(context.Background(), cfg, synthetic(), Start{Weights: w, Steps: steps, DataSeeds: []uint64{9, 9, 9}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(z.Steps, steps) || z.Checkpoints != 4 || z.Meta.Optimizer.Epochs != 2 {
		t.Fatalf("steps %v, %d checkpoints, %d epochs", z.Steps, z.Checkpoints, z.Meta.Optimizer.Epochs)
	}
	for r := range 3 {
		if !slices.Equal(z.At(r, 0), w[r*p:(r+1)*p]) {
			t.Fatalf("run %d: checkpoint 0 is not its given weights", r)
		}
	}
	if !slices.Equal(z.At(0, 3), z.At(1, 3)) {
		t.Fatal("runs with the same start and data seed ended apart")
	}
	if a0, a3 := z.Metric("test_acc", 0, 0), z.Metric("test_acc", 0, 3); slices.Equal(z.At(0, 3), z.At(2, 3)) || a3 < a0+0.15 {
		t.Fatalf("runs 0 and 2 should differ and run 0 learn (acc %.3f → %.3f)", a0, a3)
	}
}

func TestTrainFromBadInput(t *testing.T) {
	cfg := smallConfig()
	p := arch.MustNew(cfg.Arch).Layout().Size()
	good := make([]float32, 3*p)
	nan := make([]float32, 3*p)
	nan[p+2] = float32(math.NaN())
	cases := []struct {
		name string
		s    Start
		opt  Options
		want string
	}{
		{"short", Start{Weights: good[:2*p+1]}, quiet(), "do not make whole nets"},
		{"wrong R", Start{Weights: good[:2*p]}, quiet(), "3×"},
		{"nan", Start{Weights: nan}, quiet(), "fc1.weight[2] of net 1 is NaN"},
		{"seeds", Start{Weights: good, DataSeeds: []uint64{1}}, quiet(), "1 data seeds for 3 nets"},
		{"steps not from 0", Start{Weights: good, Steps: []int64{1, 5}}, quiet(), "must start at 0"},
		{"steps unordered", Start{Weights: good, Steps: []int64{0, 5, 5}}, quiet(), "strictly increasing"},
		{"state", Start{Weights: good}, Options{State: "x.state"}, "does not resume"},
	}
	for _, c := range cases {
		_, err := TrainFrom(context.Background(), cfg, synthetic(), c.s, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
