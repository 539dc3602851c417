package bench

import (
	"bytes"
	"math"
	"runtime"
	"strings"
	"testing"
)

// round is one round's pair of reports: nmflow at rate ours, the reference at rate ref, both with
// check value check (the reference's scaled by refCheck).
func round(ours, ref, check, refCheck float64) (Report, Report) {
	o := Report{Impl: "nmflow", Backend: "go", Threads: 2, PeakGFLOPS: 50, Results: []Result{
		{Workload: "zoo", Case: "R=1", Unit: "model-steps/s", Throughput: ours, Compiles: 1, Check: check, CheckName: "loss", Moved: 1e-3},
		{Workload: "eval", Case: "N=64", Unit: "nets/s", Throughput: ours / 10, Compiles: 1, Check: check, CheckName: "loss", GFlop: 0.5}}}
	r := Report{Impl: "pytorch", Backend: "cpu", Threads: 2, PeakGFLOPS: 25, BLAS: "openblas", Results: []Result{
		{Workload: "zoo", Case: "R=1", Unit: "model-steps/s", Throughput: ref, Check: check * refCheck, CheckName: "loss", Moved: 0.8e-3},
		{Workload: "eval", Case: "N=64", Unit: "nets/s", Throughput: ref / 10, Check: check * refCheck, CheckName: "loss"}}}
	return o, r
}

// Three rounds: medians, ranges, the ratio of the medians, the roofline and agreeing checks.
func TestSummarizeRounds(t *testing.T) {
	var ours, refs []Report
	for i, v := range [][2]float64{{400, 100}, {300, 300}, {500, 200}} {
		o, r := round(v[0], v[1], 2.30+0.01*float64(i), 1.01)
		ours, refs = append(ours, o), append(refs, r)
	}
	s, err := Summarize(ours, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Problems) != 0 || s.Rounds != 3 || len(s.Cases) != 2 {
		t.Fatalf("problems %v, rounds %d, cases %d", s.Problems, s.Rounds, len(s.Cases))
	}
	zoo := s.Cases[0]
	if zoo.Ratio != 2 || !zoo.Agree || math.Abs(zoo.OursCheck-2.31) > 1e-12 || math.Abs(zoo.RefCheck-2.31*1.01) > 1e-12 {
		t.Fatalf("zoo: %+v", zoo)
	}
	var b bytes.Buffer
	s.Write(&b)
	for _, want := range []string{"**400** (300–500)", "**200** (100–300)", "| **2.00** |", "20.0 (40%)", "10.0 (40%)", "agree (±2%)",
		"moved 0.001 / 0.0008, agree", "3 interleaved rounds"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "Not a fair") {
		t.Errorf("a clean comparison reported problems:\n%s", b.String())
	}
}

// Each way a comparison can be unfair or unchecked is a problem, and the report says so.
func TestSummarizeProblems(t *testing.T) {
	o, r := round(400, 200, 2.3, 1.5) // check values 50% apart
	o.Results[0].Compiles = 2
	o.Results = append(o.Results, Result{Workload: "fit", Case: "P=805", Unit: "steps/s", Throughput: 1, Compiles: 1})
	r.Threads = 1
	r.Warnings = []string{"reference BLAS"}
	o.OtherCores = 1.5
	s, err := Summarize([]Report{o}, []Report{r})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	s.Write(&b)
	for _, want := range []string{"check values disagree", "compiled its graph 2 times", "only nmflow has this case", "1 threads",
		"reference BLAS", "not quiet: other processes used up to 1.50 cores on average during 1 of 1 nmflow runs", "**DISAGREE**", "Not a fair, checked comparison"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	if len(s.Problems) != 7 { // zoo and eval disagree, recompile, missing case, threads, warning, busy
		t.Errorf("%d problems, want 7: %q", len(s.Problems), s.Problems)
	}
	// A reference step that does not update its weights (or a script that does not measure it).
	o, r = round(400, 200, 2.3, 1)
	r.Results[0].Moved = 0
	if s, _ := Summarize([]Report{o}, []Report{r}); len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "moved differently") || s.Cases[0].Agree {
		t.Fatalf("unmoved weights: %q", s.Problems)
	}
	if _, err := Summarize([]Report{o, o}, []Report{r}); err == nil {
		t.Fatal("2 nmflow reports against 1 reference accepted")
	}
	q := o
	q.Quick = true
	if s, _ := Summarize([]Report{q}, []Report{r}); !strings.Contains(strings.Join(s.Problems, "\n"), "mixed") {
		t.Fatalf("quick against full not flagged: %q", s.Problems)
	}
}

func TestAgreeAndMedian(t *testing.T) {
	if !agree(100, 98, 0.02) || agree(100, 97, 0.02) || agree(math.NaN(), 1, 1) || agree(math.Inf(1), 1, 1) || !agree(0, 0, 0) {
		t.Fatal("agree")
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 || !math.IsNaN(median(nil)) {
		t.Fatal("median")
	}
}

// The load meter sees this process's own work as its own: on Linux it reports a finite,
// non-negative number of other processes' cores; elsewhere -1.
func TestLoadMeter(t *testing.T) {
	l := startLoad()
	x := 0.0
	for i := range 20_000_000 {
		x += math.Sqrt(float64(i))
	}
	got := l.others()
	if runtime.GOOS == "linux" && (!(got >= 0) || math.IsInf(got, 0)) || runtime.GOOS != "linux" && got != -1 || x == 0 {
		t.Fatalf("%s: other processes' cores %g", runtime.GOOS, got)
	}
}
