package downstream_test

import (
	"context"
	"fmt"
	"io"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/downstream"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Fine-tune 4 nets pre-trained on MNIST digits 0–9 (standing in for generated ones) and 4 nets
// from the PyTorch init law for two epochs of a 1,000-image subset, on the same minibatches.
func Example() {
	ds, err := data.Load("mnist", data.Options{})
	if err != nil {
		panic(err)
	}
	train := zoo.Config{Arch: arch.MLP(ds.Shape, 10, 16), BatchSize: 50, LR: 0.1, Momentum: 0.9, Seed: 1,
		TrainSize: 1000, TestSize: 1000, EvalTrain: 100}
	pre := train
	pre.Runs, pre.Epochs, pre.Checkpoints, pre.Seed = 4, 2, 1, 7
	z, err := zoo.Train(context.Background(), pre, ds, zoo.Options{Progress: io.Discard})
	if err != nil {
		panic(err)
	}
	kaiming, err := downstream.InitLaw("kaiming", z.Meta.Layout, arch.InitPyTorch, 4, 1)
	if err != nil {
		panic(err)
	}
	sets := []downstream.Set{{Name: "pre-trained", Weights: z.Checkpoint(1), Layout: z.Meta.Layout}, kaiming}
	res, err := downstream.Compare(context.Background(), downstream.Config{Train: train, Steps: 40, Points: 3}, ds, sets, zoo.Options{Progress: io.Discard})
	if err != nil {
		panic(err)
	}
	fmt.Println("steps", res.Steps)
	h, rows := res.Table()
	fmt.Println(h[2:], len(rows), "rows")
	pt, km := res.Curve("pre-trained").AccMean, res.Curve("kaiming").AccMean
	fmt.Println("pre-trained ahead at step 0 and at the end:", pt[0] > km[0]+0.5, pt[len(pt)-1] > km[len(km)-1])
	// Output:
	// steps [0 1 5 6 20 40]
	// [pre-trained (n=4) kaiming (n=4)] 4 rows
	// pre-trained ahead at step 0 and at the end: true true
}
