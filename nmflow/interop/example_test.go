package interop_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/interop"
)

// Load a zoo saved by the most ordinary PyTorch loop: net = nn.Sequential(nn.Linear(12, 5),
// nn.ReLU(), nn.Linear(5, 3)) and torch.save(net.state_dict(), f"run{r}/epoch{k}.pt"). The keys
// 0.weight, 2.weight, ... are matched to the MLP's layers by order and shape, and recorded so
// that an export loads back into the same nn.Sequential. The zoo is ready for traj.WriteZoo and
// flow.Fit.
func Example() {
	spec := arch.MLP([]int{12}, 3, 5)
	z, rep, err := interop.AssembleZoo("testdata/byo/zoo", interop.AssembleOptions{Spec: spec, Init: arch.InitPyTorch})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.First)
	fmt.Printf("%d runs × %d checkpoints × %d params, epochs %v\n", z.Runs, z.Checkpoints, z.Params, z.Steps)
	keys, _ := interop.SourceKeys(z.Meta)
	fmt.Println("source keys:", keys)
	// Output:
	// testdata/byo/zoo/run0/epoch0.pt: 4/4 layout tensors found (prefix "", source names)
	//   0.weight [5 12] -> fc1.weight
	//   0.bias [5] -> fc1.bias
	//   2.weight [3 5] -> fc2.weight
	//   2.bias [3] -> fc2.bias
	// 2 runs × 3 checkpoints × 83 params, epochs [0 1 2]
	// source keys: [0.weight 0.bias 2.weight 2.bias]
}
