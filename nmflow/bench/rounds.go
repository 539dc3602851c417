package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// CheckTolerance is how far apart two implementations' check values of a workload may be,
// relative to the larger: both compute them from the same laws of data and weights but different
// random draws (Go's and PyTorch's generators), so they agree in distribution, not bit for bit.
// At full size the spread between seeds is well inside these (zoo and eval losses of 10³–10⁵
// examples sit near ln 10; the sample's displacement RMS varies ±1.5% between seeds; the fit's
// mean loss over its timed steps moves with its batches' times); a step that does other work
// (a diverging update, another velocity or loss, a sampler that does not move) moves them further.
// Quick sizes are noisier: see QuickTolerance.
var CheckTolerance = map[string]float64{"zoo": 0.03, "fit": 0.15, "sample": 0.05, "eval": 0.02}

// MovedTolerance is CheckTolerance for Result.Moved: one net's weight change after 21 SGD steps
// varies ±20% between seeds at R = 1 (±7% at R = 8); no update gives 0, a wrong scale a multiple.
const MovedTolerance = 0.4

// QuickTolerance multiplies CheckTolerance for --quick reports (tiny batches and few steps).
const QuickTolerance = 3

// Case is one workload case over the rounds of a comparison.
type Case struct {
	Workload string    `json:"workload"`
	Case     string    `json:"case"`
	Unit     string    `json:"unit"`
	Ours     []float64 `json:"ours"`  // nmflow's throughput per round
	Ref      []float64 `json:"ref"`   // the reference's throughput per round
	Ratio    float64   `json:"ratio"` // median(Ours) / median(Ref); 0 when a side lacks the case
	// OursCheck and RefCheck are the medians of the rounds' check values (CheckName), Agree says
	// whether they are within the workload's tolerance (Tol, relative).
	OursCheck float64 `json:"ours_check"`
	RefCheck  float64 `json:"ref_check"`
	CheckName string  `json:"check_name"`
	Tol       float64 `json:"tol"`
	Agree     bool    `json:"agree"`
	// OursMoved and RefMoved are the medians of Result.Moved, compared within MovedTolerance
	// when nmflow reports it (zoo).
	OursMoved float64 `json:"ours_moved,omitempty"`
	RefMoved  float64 `json:"ref_moved,omitempty"`
	GFlop     float64 `json:"gflop,omitempty"` // matmul GFLOP per unit (roofline), from nmflow's report
	Compiles  []int   `json:"compiles"`        // nmflow's per round (1 expected)
}

// Summary is a comparison of nmflow's reports with a reference's over interleaved rounds (round i
// of each ran back to back): what `make bench` prints, and docs/bench.md's table.
type Summary struct {
	Ours   Report `json:"ours"` // the first round's report without results: backend, machine, threads
	Ref    Report `json:"ref"`
	Rounds int    `json:"rounds"`
	// OursPeak and RefPeak are the medians over rounds of the GEMM peaks (GFLOP/s).
	OursPeak float64 `json:"ours_peak_gflops"`
	RefPeak  float64 `json:"ref_peak_gflops"`
	Cases    []Case  `json:"cases"`
	// Problems make the comparison unfair or unchecked: check values that disagree, a case one
	// side lacks, recompiles, PyTorch on fewer threads or on the reference BLAS, quick and full
	// reports mixed, other processes busy during a run (Report.OtherCores). `nmflow bench
	// --compare` fails when there are any.
	Problems []string `json:"problems"`
}

// Summarize compares ours[i] with refs[i] over the rounds: medians, ranges, ratios, check
// agreement and the problems above.
func Summarize(ours, refs []Report) (Summary, error) {
	if len(ours) == 0 || len(ours) != len(refs) {
		return Summary{}, fmt.Errorf("bench: need one reference report per nmflow report (rounds), got %d and %d", len(ours), len(refs))
	}
	s := Summary{Ours: ours[0], Ref: refs[0], Rounds: len(ours), Problems: []string{}}
	s.Ours.Results, s.Ref.Results = nil, nil
	problem := func(f string, a ...any) {
		if p := fmt.Sprintf(f, a...); !slices.Contains(s.Problems, p) {
			s.Problems = append(s.Problems, p)
		}
	}
	var op, rp []float64
	for i := range ours {
		o, r := ours[i], refs[i]
		op, rp = append(op, o.PeakGFLOPS), append(rp, r.PeakGFLOPS)
		if o.Quick != r.Quick || o.Quick != ours[0].Quick {
			problem("quick and full-size reports are mixed")
		}
		for _, w := range r.Warnings {
			problem("%s: %s", r.Impl, w)
		}
		for _, w := range o.Warnings {
			problem("%s: %s", o.Impl, w)
		}
		if r.Threads > 0 && r.Threads < o.Threads {
			problem("%s ran on %d threads, %s on %d: set TORCH_THREADS (make bench gives it nproc)", r.Impl, r.Threads, o.Impl, o.Threads)
		}
	}
	s.OursPeak, s.RefPeak = median(op), median(rp)
	for _, reps := range [][]Report{ours, refs} {
		busy, most := 0, 0.0
		for _, rep := range reps {
			if rep.OtherCores > QuietLimit {
				busy++
				most = max(most, rep.OtherCores)
			}
		}
		if busy > 0 {
			problem("the machine was not quiet: other processes used up to %.2f cores on average during %d of %d %s runs (limit %.2f)",
				most, busy, len(reps), reps[0].Impl, QuietLimit)
		}
	}
	key := func(r Result) string { return r.Workload + "/" + r.Case }
	index := map[string]int{}
	for side, reps := range [][]Report{ours, refs} {
		for _, rep := range reps {
			for _, r := range rep.Results {
				i, ok := index[key(r)]
				if !ok {
					i = len(s.Cases)
					index[key(r)] = i
					s.Cases = append(s.Cases, Case{Workload: r.Workload, Case: r.Case, Unit: r.Unit, CheckName: r.CheckName})
				}
				c := &s.Cases[i]
				if side == 0 {
					c.Ours = append(c.Ours, r.Throughput)
					c.Compiles = append(c.Compiles, r.Compiles)
					c.GFlop = r.GFlop
				} else {
					c.Ref = append(c.Ref, r.Throughput)
				}
			}
		}
	}
	quick := ours[0].Quick
	for i := range s.Cases {
		c := &s.Cases[i]
		oc, om := checks(ours, *c)
		rc, rm := checks(refs, *c)
		switch {
		case len(c.Ours) == 0:
			problem("%s %s: only %s has this case", c.Workload, c.Case, refs[0].Impl)
			continue
		case len(c.Ref) == 0:
			problem("%s %s: only %s has this case", c.Workload, c.Case, ours[0].Impl)
			continue
		case len(c.Ours) != s.Rounds || len(c.Ref) != s.Rounds:
			problem("%s %s: measured in %d and %d of %d rounds", c.Workload, c.Case, len(c.Ours), len(c.Ref), s.Rounds)
		}
		if mr := median(c.Ref); mr > 0 {
			c.Ratio = median(c.Ours) / mr
		}
		for _, n := range c.Compiles {
			if n != 1 {
				problem("%s %s: %s compiled its graph %d times (1 expected)", c.Workload, c.Case, ours[0].Impl, n)
			}
		}
		c.OursCheck, c.RefCheck = median(oc), median(rc)
		c.Tol = CheckTolerance[c.Workload]
		if quick {
			c.Tol *= QuickTolerance
		}
		c.Agree = agree(c.OursCheck, c.RefCheck, c.Tol)
		if !c.Agree {
			problem("%s %s: check values disagree: %s %.5g (%s) against %.5g (%s), tolerance %.0f%%",
				c.Workload, c.Case, c.CheckName, c.OursCheck, ours[0].Impl, c.RefCheck, refs[0].Impl, 100*c.Tol)
		}
		if c.OursMoved, c.RefMoved = median(om), median(rm); c.OursMoved > 0 {
			tol := MovedTolerance
			if quick {
				tol = min(tol*QuickTolerance, 0.9) // below 1: no update (0) still disagrees
			}
			if !agree(c.OursMoved, c.RefMoved, tol) {
				c.Agree = false
				problem("%s %s: the weights moved differently: RMS change %.4g (%s) against %.4g (%s), tolerance %.0f%%",
					c.Workload, c.Case, c.OursMoved, ours[0].Impl, c.RefMoved, refs[0].Impl, 100*tol)
			}
		}
	}
	return s, nil
}

// checks lists the check values of case c over reps.
func checks(reps []Report, c Case) (check, moved []float64) {
	for _, rep := range reps {
		for _, r := range rep.Results {
			if r.Workload == c.Workload && r.Case == c.Case {
				check, moved = append(check, r.Check), append(moved, r.Moved)
			}
		}
	}
	return check, moved
}

// agree says whether a and b are finite and within tol of each other, relative to the larger.
func agree(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// median of v (NaN when empty); v is not changed.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// span writes "median (min–max)" of v, or the single value.
func span(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	if len(v) == 1 {
		return fmt.Sprintf("%.4g", v[0])
	}
	return fmt.Sprintf("**%.4g** (%.4g–%.4g)", median(v), slices.Min(v), slices.Max(v))
}

// Write prints the summary as Markdown: the two sides' setups, one table row per case (medians,
// ranges, ratio, roofline, checks) and the problems. docs/bench.md's table is this output.
func (s Summary) Write(w io.Writer) {
	o, r := s.Ours, s.Ref
	fmt.Fprintf(w, "- machine: %s\n", o.Machine)
	fmt.Fprintf(w, "- %s: %s, %s, %d threads, GEMM peak %.1f GFLOP/s\n", o.Impl, o.Backend, o.Build, o.Threads, s.OursPeak)
	fmt.Fprintf(w, "- %s: %s, BLAS %s, %d threads, GEMM peak %.1f GFLOP/s\n", r.Impl, r.Backend, r.BLAS, r.Threads, s.RefPeak)
	quick := ""
	if o.Quick {
		quick = " (--quick sizes: a smoke test, not a measurement)"
	}
	if s.Rounds == 1 {
		fmt.Fprintf(w, "- 1 round (%s, then %s)%s; ratio = %s / %s\n\n", o.Impl, r.Impl, quick, o.Impl, r.Impl)
	} else {
		fmt.Fprintf(w, "- %d interleaved rounds (%s, %s, %s, …)%s; each cell: median (min–max) over rounds; ratio = %s median / %s median\n\n",
			s.Rounds, o.Impl, r.Impl, o.Impl, quick, o.Impl, r.Impl)
	}
	fmt.Fprintf(w, "| workload | case | unit | %s | %s | ratio | %s GFLOP/s (%% of peak) | %s GFLOP/s (%% of peak) | check: %s / %s |\n",
		o.Impl, r.Impl, o.Impl, r.Impl, o.Impl, r.Impl)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	roof := func(v []float64, gflop, peak float64) string {
		if gflop == 0 || len(v) == 0 {
			return ""
		}
		g := median(v) * gflop
		if peak > 0 {
			return fmt.Sprintf("%.1f (%.0f%%)", g, 100*g/peak)
		}
		return fmt.Sprintf("%.1f", g)
	}
	for _, c := range s.Cases {
		ratio := "–"
		if c.Ratio > 0 {
			ratio = fmt.Sprintf("**%.2f**", c.Ratio)
		}
		check := "–"
		if len(c.Ours) > 0 && len(c.Ref) > 0 {
			mark := "agree"
			if !c.Agree {
				mark = "**DISAGREE**"
			}
			check = fmt.Sprintf("%s %.4g / %.4g", c.CheckName, c.OursCheck, c.RefCheck)
			if c.OursMoved > 0 {
				check += fmt.Sprintf(", moved %.3g / %.3g", c.OursMoved, c.RefMoved)
			}
			check += fmt.Sprintf(", %s (±%.0f%%)", mark, 100*c.Tol)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Workload, c.Case, c.Unit, span(c.Ours), span(c.Ref), ratio,
			roof(c.Ours, c.GFlop, s.OursPeak), roof(c.Ref, c.GFlop, s.RefPeak), check)
	}
	if len(s.Problems) > 0 {
		fmt.Fprintf(w, "\n**Not a fair, checked comparison** (%d problems):\n", len(s.Problems))
		for _, p := range s.Problems {
			fmt.Fprintf(w, "- %s\n", strings.TrimSpace(p))
		}
	}
}
