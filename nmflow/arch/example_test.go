package arch_test

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
)

// Build an MLP for 28x28 images, sample 3 models from PyTorch's default init and run them on one
// shared batch of 2 images.
func Example() {
	net, err := arch.New(arch.MLP([]int{1, 28, 28}, 10, 32))
	if err != nil {
		panic(err)
	}
	l := net.Layout()
	fmt.Println(net.Spec(), "P =", l.Size())
	for _, s := range l.Segments {
		fmt.Println(s.Name, s.Shape)
	}
	params, _ := arch.InitBatch(l, arch.InitPyTorch, arch.RunSeeds(42, 3))
	fwd := MustNewExec(backend.MustDefault(), net.Forward)
	logits := fwd.MustExec1(tensors.FromFlatDataAndDimensions(params, 3, l.Size()),
		tensors.FromFlatDataAndDimensions(make([]float32, 2*784), 2, 1, 28, 28))
	fmt.Println("logits shape:", logits.Shape().Dimensions)
	// Output:
	// mlp 784-32-10 P = 25450
	// fc1.weight [32 784]
	// fc1.bias [32]
	// fc2.weight [10 32]
	// fc2.bias [10]
	// logits shape: [3 2 10]
}
