package bench_test

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/bench"
)

// Slope reads a scaling sweep: the cost of a step grows as size^slope, so 1 is linear.
func ExampleSlope() {
	r := []float64{16, 64, 256}
	seconds := []float64{0.03, 0.11, 0.45} // a zoo step at R = 16, 64, 256
	fmt.Printf("slope %.2f\n", bench.Slope(r, seconds))
	// Output: slope 0.98
}
