package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
)

// Every workload runs at quick size; every graph (zoo step, fit step, solvers, evaluator)
// compiles exactly once across the warm-up and the timed calls; every case has a finite check
// value and the matmul-bound ones a roofline work; the report names the machine, the GEMM peak
// and flow's default net.
func TestQuickRunCompilesOnce(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunReport(context.Background(), be, "go", Options{Quick: true, Iters: 3})
	if err != nil {
		t.Fatal(err)
	}
	w, d := DefaultNet()
	if !(rep.PeakGFLOPS > 0) || rep.Threads < 1 || rep.FitConfig.Net.Width != w || rep.FitConfig.Net.Depth != d || !rep.Quick || rep.Machine == "" {
		t.Fatalf("report header: %+v", rep)
	}
	rs := rep.Results
	seen := map[string]int{}
	for _, r := range rs {
		seen[r.Workload]++
		if !(r.Throughput > 0) || !(r.WarmupS > 0) || r.Iters != 3 {
			t.Errorf("%s %s: throughput %g, warm-up %g, iters %d", r.Workload, r.Case, r.Throughput, r.WarmupS, r.Iters)
		}
		if r.Compiles != 1 {
			t.Errorf("%s %s compiled %d times over 4 calls, want 1", r.Workload, r.Case, r.Compiles)
		}
		if !(r.Check > 0) || math.IsInf(r.Check, 0) || r.CheckName == "" {
			t.Errorf("%s %s: check %s = %g", r.Workload, r.Case, r.CheckName, r.Check)
		}
		if matmulBound := r.Workload == "eval" || r.Workload == "sample"; matmulBound != (r.GFlop > 0) {
			t.Errorf("%s %s: roofline work %g GFLOP", r.Workload, r.Case, r.GFlop)
		}
	}
	if seen["zoo"] != 2 || seen["fit"] != 2 || seen["sample"] != len(Solvers) || seen["eval"] != 1 {
		t.Fatalf("cases per workload: %v", seen)
	}
	if want := fmt.Sprintf("P=805 %dx%d", w, d); rs[3].Case != want {
		t.Errorf("default-net fit case %q, want %q", rs[3].Case, want)
	}
	// Random labels over 10 classes: the zoo's and the evaluator's losses sit near ln 10.
	for _, r := range []Result{rs[0], rs[len(rs)-1]} {
		if math.Abs(r.Check-math.Log(10)) > 0.1 {
			t.Errorf("%s %s: loss %g, want ≈ ln 10", r.Workload, r.Case, r.Check)
		}
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
	if n := Compare(&b, ours, ref); n != 1 || !strings.Contains(b.String(), "| **0.50** |") {
		t.Fatalf("compare: %d ratios\n%s", n, b.String())
	}
}

// A quick sweep: every point measured, one compilation each, no heap growth per zoo step, and
// (on Linux) a peak-memory figure.
func TestScalingQuick(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	pts, err := Scaling(context.Background(), be, ScalingOptions{Quick: true, Steps: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 6 {
		t.Fatalf("%d points, want 3 zoo + 3 fit", len(pts))
	}
	for _, p := range pts {
		if !(p.StepS > 0) || p.Compiles != 1 || p.Steps != 10 {
			t.Errorf("%s %s=%d: %g s/step, %d compiles, %d steps", p.Workload, p.Axis, p.X, p.StepS, p.Compiles, p.Steps)
		}
		if runtime.GOOS == "linux" && p.PeakMB < 0 {
			t.Errorf("%s %s=%d: no peak memory on linux", p.Workload, p.Axis, p.X)
		}
		// A leaked [R,P] state tensor per step would be ≥ 10 × 4 × 6,370 × 4 B ≈ 1 MB here.
		if p.Workload == "zoo" && math.Abs(p.GrowthKB) > 256 {
			t.Errorf("zoo R=%d: live heap grew %.0f KiB over %d steps", p.X, p.GrowthKB, p.Steps)
		}
	}
	if pts[3].X >= pts[5].X || pts[0].X != 1 {
		t.Errorf("sweep order: %+v", pts)
	}
}

func TestSlope(t *testing.T) {
	xs := []float64{1, 10, 100, 1000, -1}
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = 3 * math.Pow(x, 1.5)
	}
	if k := Slope(xs, ys); math.Abs(k-1.5) > 1e-9 {
		t.Fatalf("slope %g, want 1.5", k)
	}
	if k := Slope([]float64{2}, []float64{3}); !math.IsNaN(k) {
		t.Fatalf("slope of one point %g, want NaN", k)
	}
}

// The configuration the report hands to bench.py is the one the timed fit trained with.
func TestReportedFitConfigIsWhatFitUses(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunReport(context.Background(), be, "go", Options{Quick: true, Workloads: []string{"eval"}, Iters: 40})
	if err != nil {
		t.Fatal(err)
	}
	z, err := benchZoo(arch.MLP([]int{1, 28, 28}, 10, 1), 32, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, d := DefaultNet()
	_, _, _, m, err := fitRate(context.Background(), be, z, fitConfig(flow.NetConfig{Width: w, Depth: d}, 1), 40)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep.FitConfig)
	want, _ := json.Marshal(m.Config)
	if string(got) != string(want) || rep.FitConfig.WarmUp != 2 || rep.FitConfig.Align != flow.AlignNone {
		t.Fatalf("report's fit config\n%s\nthe fit's\n%s", got, want)
	}
}
