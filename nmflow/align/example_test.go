package align_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
)

// A net with its two hidden units swapped is the same function; Match finds the swap and Apply
// undoes it exactly.
func ExampleMatch() {
	spec := arch.MLP([]int{2}, 2, 2) // fc1 [2,2], fc1.bias [2], fc2 [2,2], fc2.bias [2]
	ref := []float32{
		1, 2, 3, 4, // fc1.weight: unit 0 reads (1,2), unit 1 reads (3,4)
		0.5, -0.5, // fc1.bias
		1, -1, 2, -2, // fc2.weight: columns are the hidden units
		0, 0,
	}
	swapped := []float32{3, 4, 1, 2, -0.5, 0.5, -1, 1, -2, 2, 0, 0}
	perm, err := align.Match(spec, ref, swapped, 1)
	if err != nil {
		panic(err)
	}
	back, _ := align.Apply(spec, perm, swapped)
	fmt.Println("permutation of the hidden layer:", perm[0])
	fmt.Println("aligned:", back)
	// Output:
	// permutation of the hidden layer: [1 0]
	// aligned: [1 2 3 4 0.5 -0.5 1 -1 2 -2 0 0]
}
