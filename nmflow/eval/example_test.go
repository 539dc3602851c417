package eval_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/eval"
)

// Two nets at the corners of a unit square's bottom edge, two at its top edge: pairing each
// with the point straight above it costs 1 per pair, the crossed pairing √2.
func ExampleW1() {
	a := [][]float32{{0, 0}, {1, 0}}
	b := [][]float32{{1, 1}, {0, 1}}
	w, err := eval.W1(a, b)
	if err != nil {
		panic(err)
	}
	cost, _ := eval.Distances(a, b)
	perm, total := align.Assignment(cost)
	fmt.Printf("W1 = %.3f (×100: %.1f)\n", w, 100*w)
	fmt.Printf("a[i] ↔ b[perm[i]]: perm = %v, total cost %.3f\n", perm, total)
	// Output:
	// W1 = 1.000 (×100: 100.0)
	// a[i] ↔ b[perm[i]]: perm = [1 0], total cost 2.000
}

func ExampleNovelty() {
	training := [][]float32{{0, 0}, {0, 1}, {4, 0}, {4, 1}} // two runs, two checkpoints each
	generated := [][]float32{{0, 0.1}, {2, 5}}
	r, err := eval.Novelty(generated, training, eval.NoveltyOptions{TrainGroups: []int{0, 0, 1, 1}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("nearest training: %v at %.2f\n", r.GenNearest, r.GenDist)
	fmt.Printf("training NN (other runs): %.1f\n", r.TrainDist)
	fmt.Printf("likely memorized: %.0f%%\n", 100*r.Memorized)
	// Output:
	// nearest training: [0 1] at [0.10 4.47]
	// training NN (other runs): [4.0 4.0 4.0 4.0]
	// likely memorized: 50%
}

func ExampleSummarize() {
	acc := []float32{0.91, 0.93, 0.88, 0.95}
	s := eval.Summarize(acc)
	fmt.Printf("mean %.3f median %.3f min %.2f max %.2f n %d\n", s.Mean, s.Median, s.Min, s.Max, s.N)
	// Output:
	// mean 0.918 median 0.920 min 0.88 max 0.95 n 4
}

// Two samples of one law are close in energy (the estimator is unbiased, so about 0); a set
// collapsed to its mean is not, although W1 calls it the closest.
func ExampleEnergy() {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, 500)
			for k := range out[i] {
				out[i][k] = float32(rng.NormFloat64())
			}
		}
		return out
	}
	x, y := draw(30), draw(30)
	mean := make([][]float32, 30)
	for i := range mean {
		mean[i] = make([]float32, 500) // the law's mean, 30 times
	}
	same, _ := eval.Energy(x, y)
	collapse, _ := eval.Energy(x, mean)
	w1Same, _ := eval.W1(x, y)
	w1Collapse, _ := eval.W1(x, mean)
	fmt.Printf("energy: independent sample %.1f, mean collapse %.1f\n", same, collapse)
	fmt.Printf("W1:     independent sample %.1f, mean collapse %.1f\n", w1Same, w1Collapse)
	// Output:
	// energy: independent sample -0.1, mean collapse 13.1
	// W1:     independent sample 30.3, mean collapse 22.4
}
