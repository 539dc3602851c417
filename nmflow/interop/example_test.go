package interop_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/interop"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Load a zoo of PyTorch training runs: a folder run0/epoch0.pt … run2/epoch3.pt, each file a
// torch.save({"model": net.state_dict(), "epoch": e, "train_loss": ..., "test_acc": ...}) of an
// MLP 16-8-6-3. The result is an nmflow trajectory zoo, ready for traj.WriteZoo and flow.Fit.
func Example() {
	spec := arch.MLP([]int{1, 4, 4}, 3, 8, 6)
	z, rep, err := interop.AssembleZoo("testdata/torchzoo", interop.AssembleOptions{
		Spec: spec, Init: arch.InitPyTorch, Dataset: "toy", StepsPerEpoch: 6})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.First)
	fmt.Printf("%d runs × %d checkpoints × %d params, steps %v, metrics %v\n", z.Runs, z.Checkpoints, z.Params, z.Steps, rep.Metrics)
	for r := 0; r < z.Runs; r++ {
		fmt.Printf("run %d: test_acc %.2f → %.2f\n", r, z.Metric(traj.MetricTestAcc, r, 0), z.Metric(traj.MetricTestAcc, r, 3))
	}
	// Output:
	// testdata/torchzoo/run0/epoch0.pt: 6/6 layout tensors found (prefix "model.", layout names)
	// 3 runs × 4 checkpoints × 211 params, steps [0 6 12 18], metrics [test_acc train_loss]
	// run 0: test_acc 0.40 → 0.66
	// run 1: test_acc 0.32 → 0.80
	// run 2: test_acc 0.32 → 0.80
}
