package shift_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/data/shift"
)

// Rotate a 3x3 one-channel image by 90° and translate it one pixel to the right.
func Example() {
	img := data.Split{Images: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}, Labels: []int{0}, N: 1}
	for _, spec := range []string{"rotate:90", "translate:1"} {
		sh, err := shift.Parse(spec)
		if err != nil {
			panic(err)
		}
		out, err := sh.Apply(img, []int{1, 3, 3}, 0)
		if err != nil {
			panic(err)
		}
		fmt.Println(sh.Spec, out.Images)
	}
	// Output:
	// rotate:90 [3 6 9 2 5 8 1 4 7]
	// translate:1,0 [0 1 2 0 4 5 0 7 8]
}
