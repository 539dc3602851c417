package zoo_test

import (
	"context"
	"fmt"
	"io"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Train 4 small MLPs at once on a 1,000-image subset of MNIST for three epochs, keeping 3
// checkpoints after the init.
func Example() {
	ds, err := data.Load("mnist", data.Options{})
	if err != nil {
		panic(err)
	}
	cfg := zoo.Config{Arch: arch.MLP(ds.Shape, 10, 16), Runs: 4, Epochs: 3, Checkpoints: 3,
		BatchSize: 50, LR: 0.1, Momentum: 0.9, Seed: 1, TrainSize: 1000, TestSize: 1000}
	z, err := zoo.Train(context.Background(), cfg, ds, zoo.Options{Progress: io.Discard})
	if err != nil {
		panic(err)
	}
	fmt.Println("runs", z.Runs, "checkpoints", z.Checkpoints, "params", z.Params, "steps", z.Steps)
	better := 0
	for r := 0; r < z.Runs; r++ {
		if z.Metric("test_acc", r, 3) > 0.7 && z.Metric("test_acc", r, 0) < 0.3 {
			better++
		}
	}
	fmt.Println("runs that learned:", better)
	// Output:
	// runs 4 checkpoints 4 params 12730 steps [0 20 40 60]
	// runs that learned: 4
}
