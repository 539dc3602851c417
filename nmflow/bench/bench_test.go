package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/backend"
)

// Every workload runs at quick size; the zoo step and each solver compile exactly once across
// the warm-up and the timed calls.
func TestQuickRunCompilesOnce(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Run(context.Background(), be, Options{Quick: true, Iters: 3})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rs {
		seen[r.Workload]++
		if !(r.Throughput > 0) || !(r.WarmupS > 0) || r.Iters != 3 {
			t.Errorf("%s %s: throughput %g, warm-up %g, iters %d", r.Workload, r.Case, r.Throughput, r.WarmupS, r.Iters)
		}
		if (r.Workload == "zoo" || r.Workload == "sample") && r.Compiles != 1 {
			t.Errorf("%s %s compiled %d times over 4 calls, want 1", r.Workload, r.Case, r.Compiles)
		}
		if r.Workload == "sample" && !(r.Check > 0) {
			t.Errorf("sample %s: output RMS %g", r.Case, r.Check)
		}
	}
	if seen["zoo"] != 2 || seen["fit"] != 1 || seen["sample"] != len(Solvers) || seen["eval"] != 1 {
		t.Fatalf("cases per workload: %v", seen)
	}
	var tab bytes.Buffer
	Table(&tab, rs)
	if !strings.Contains(tab.String(), "R=4") || !strings.Contains(tab.String(), "rk4") {
		t.Fatalf("table lacks cases:\n%s", tab.String())
	}
	if _, err := Run(context.Background(), be, Options{Quick: true, Workloads: []string{"nope"}}); err == nil {
		t.Fatal("unknown workload accepted")
	}
}

func TestCompareRatios(t *testing.T) {
	ours := Report{Impl: "nmflow", Backend: "go", Results: []Result{{Workload: "zoo", Case: "R=1", Unit: "model-steps/s", Throughput: 50},
		{Workload: "eval", Case: "N=64", Unit: "nets/s", Throughput: 10}}}
	ref := Report{Impl: "pytorch", Backend: "cpu", Results: []Result{{Workload: "zoo", Case: "R=1", Unit: "model-steps/s", Throughput: 100}}}
	var b bytes.Buffer
	if n := Compare(&b, ours, ref); n != 1 || !strings.Contains(b.String(), "0.50") {
		t.Fatalf("compare: %d ratios\n%s", n, b.String())
	}
}
