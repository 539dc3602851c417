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

// Summarize reads interleaved rounds of the two sides: the ratio of the medians, and whether the
// check values (computed by both from the same laws of data and weights) agree.
func ExampleSummarize() {
	var ours, refs []bench.Report
	for _, rates := range [][2]float64{{800, 600}, {700, 640}, {900, 560}} { // model-steps/s per round
		ours = append(ours, bench.Report{Impl: "nmflow", Results: []bench.Result{
			{Workload: "zoo", Case: "R=64", Throughput: rates[0], Compiles: 1, Check: 2.307, CheckName: "loss", Moved: 7.9e-4}}})
		refs = append(refs, bench.Report{Impl: "pytorch", Results: []bench.Result{
			{Workload: "zoo", Case: "R=64", Throughput: rates[1], Check: 2.306, CheckName: "loss", Moved: 7.8e-4}}})
	}
	s, err := bench.Summarize(ours, refs)
	if err != nil {
		panic(err)
	}
	c := s.Cases[0]
	fmt.Printf("%s %s: ratio %.2f over %d rounds, checks agree: %v, problems: %d\n", c.Workload, c.Case, c.Ratio, s.Rounds, c.Agree, len(s.Problems))
	// Output: zoo R=64: ratio 1.33 over 3 rounds, checks agree: true, problems: 0
}
