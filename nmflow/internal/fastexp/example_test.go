package fastexp_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/internal/fastexp"
)

func ExampleNeg() {
	fmt.Printf("%.6f %.6f\n", fastexp.Neg(-1), fastexp.Neg(0))
	// Output: 0.367879 1.000000
}
