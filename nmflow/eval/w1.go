package eval

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/align"
)

// W1 is the exact 1-Wasserstein distance between the empirical measures of two equal-size sets of
// flat vectors (uniform weight 1/n on each) under the Euclidean cost:
//
//	W1(a, b) = min over permutations π of (1/n) · Σ_i ‖a_i − b_π(i)‖₂
//
// — a permutation suffices because the optimal coupling of two uniform n-point measures is a
// permutation matrix (Birkhoff). It is solved exactly by [align.Assignment] on the [Distances] matrix in
// O(n³) time and O(n²) memory; use those two directly for the optimal π. Sets of different sizes
// are an error: W1 between unequal empirical measures needs fractional transport, and silently
// matching a subset would understate it. The paper reports W1 × 100.
func W1(a, b [][]float32) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("eval: W1 needs sets of equal size, got %d and %d vectors (subsample the larger set, or use Distances and align.Assignment for a one-sided matching)", len(a), len(b))
	}
	cost, err := Distances(a, b)
	if err != nil {
		return 0, err
	}
	_, total := align.Assignment(cost)
	return total / float64(len(a)), nil
}
