package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gomlx/compute"
	gplot "gonum.org/v1/plot"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/plot"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Point is one size of a scaling sweep: the zoo step against R, or the meta-model's fit step
// against P.
type Point struct {
	Workload string  `json:"workload"` // "zoo" or "fit"
	Axis     string  `json:"axis"`     // "R" (zoo) or "P" (fit)
	X        int     `json:"x"`        // the value of Axis
	StepS    float64 `json:"step_s"`   // seconds per training step, warm
	// PeakMB is the process's peak resident memory while the case ran, above what it held
	// before (MiB; -1 where the OS cannot report it: only Linux resets the peak).
	PeakMB float64 `json:"peak_mb"`
	// GrowthKB is the live Go heap after the last step minus after the first ones (KiB, zoo only:
	// what each further step leaks; ~0 expected).
	GrowthKB float64 `json:"growth_kb"`
	Steps    int     `json:"steps"`    // timed steps
	Compiles int     `json:"compiles"` // training-step graphs built (1 expected)
}

// ScalingOptions choose a sweep; zero values take the defaults below.
type ScalingOptions struct {
	Rs     []int // zoo runs per step (default 1, 4, 16, 64, 256; Quick: 1, 2, 4)
	Hidden []int // fit: MLP 784-h-10 zoos (default h = 1, 4, 12, 40, 128 → P ≈ 10³…10⁵; Quick: 1, 2, 4)
	Quick  bool  // tiny sizes, for tests and CI-scale notebooks
	Steps  int   // timed steps per point (default 20 zoo, fit by P: see sweepFitSteps; Quick: 4)
	Seed   uint64
	Log    io.Writer
}

// Scaling times the zoo step against R and the fit step against P, recording peak memory, the
// heap each extra zoo step leaves behind and how often each step graph was compiled. Cost should grow linearly
// (log-log slope ≈ 1, see Slope) once the sizes are past the fixed per-step overheads.
func Scaling(ctx context.Context, be compute.Backend, opt ScalingOptions) ([]Point, error) {
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	rs, hs, hidden, width, train := opt.Rs, opt.Hidden, 32, 256, 8192
	if opt.Quick {
		hidden, width, train = 8, 16, 512
	}
	if rs == nil {
		rs = []int{1, 4, 16, 64, 256}
		if opt.Quick {
			rs = []int{1, 2, 4}
		}
	}
	if hs == nil {
		hs = []int{1, 4, 12, 40, 128}
		if opt.Quick {
			hs = []int{1, 2, 4}
		}
	}
	steps := func(def int) int {
		switch {
		case opt.Steps > 0:
			return opt.Steps
		case opt.Quick:
			return 4
		}
		return def
	}
	ds := data.NoiseMNIST(train, 16, opt.Seed)
	var out []Point
	for _, r := range rs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, hidden), Runs: r, Epochs: 1000, Checkpoints: 1, Seed: opt.Seed, EvalTrain: 16}
		var pt Point
		var err error
		peak, merr := peakDuring(func() error {
			pt, err = zooPoint(be, cfg, ds, steps(20))
			return err
		})
		if err != nil {
			return out, err
		}
		pt.PeakMB = mb(peak, merr)
		out = append(out, pt)
		fmt.Fprintf(opt.Log, "scaling zoo R=%d: %.4f s/step, peak +%.0f MiB, heap growth %.1f KiB\n", r, pt.StepS, pt.PeakMB, pt.GrowthKB)
	}
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		z, err := benchZoo(arch.MLP([]int{1, 28, 28}, 10, h), 32, opt.Seed)
		if err != nil {
			return out, err
		}
		n := sweepFitSteps(steps(0), z.Params)
		var rate float64
		var compiles int
		peak, merr := peakDuring(func() error {
			_, rate, compiles, _, err = fitRate(ctx, be, z, fitConfig(flow.NetConfig{Width: width, Depth: 1}, opt.Seed), n)
			return err
		})
		if err != nil {
			return out, err
		}
		pt := Point{Workload: "fit", Axis: "P", X: z.Params, StepS: 1 / rate, PeakMB: mb(peak, merr), Steps: n, Compiles: compiles}
		out = append(out, pt)
		fmt.Fprintf(opt.Log, "scaling fit P=%d: %.4f s/step, peak +%.0f MiB\n", z.Params, pt.StepS, pt.PeakMB)
	}
	return out, nil
}

// sweepFitSteps is the timed steps of a fit point: n when set, else about two seconds of steps at this
// VM's cost (2.5 ms + 4 µs·P a step, width 256), and at least 20. The rate is a difference of two
// fits' times, and setting up a fit (allocating and first touching its P-sized arrays) jitters by
// up to a second or two at P = 10⁵: six steps, the old default, were lost in it once the steps got
// fast (P = 101,770 measured 5.5 ms a step in one sweep, 366 ms in another).
func sweepFitSteps(n, p int) int {
	if n > 0 {
		return n
	}
	return max(20, int(math.Ceil(2/(0.0025+4e-6*float64(p)))))
}

// zooPoint times n steps after 3 warm ones (the first compiles) and measures the live heap
// between the 3rd and the last step.
func zooPoint(be compute.Backend, cfg zoo.Config, ds *data.Dataset, n int) (Point, error) {
	sb, err := zoo.NewStepBench(be, cfg, ds)
	if err != nil {
		return Point{}, err
	}
	for range 3 {
		if err := sb.Step(); err != nil {
			return Point{}, err
		}
	}
	before := LiveHeap()
	start := time.Now()
	for range n {
		if err := sb.Step(); err != nil {
			return Point{}, err
		}
	}
	el := time.Since(start).Seconds()
	growth := float64(int64(LiveHeap())-int64(before)) / 1024
	return Point{Workload: "zoo", Axis: "R", X: cfg.Runs, StepS: el / float64(n), GrowthKB: growth, Steps: n, Compiles: sb.Compilations()}, nil
}

// LiveHeap is the Go heap in use after two collections (the second runs the finalizers the first
// queued, which release unreferenced tensors' buffers).
func LiveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// peakDuring runs f and returns the process's peak resident bytes during it above the resident
// bytes before it. It resets the kernel's high-water mark (Linux /proc/self/clear_refs); elsewhere
// it returns an error and f still runs.
func peakDuring(f func() error) (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	base, err1 := procStatus("VmRSS")
	err2 := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	if err := f(); err != nil {
		return 0, err
	}
	if err1 != nil || err2 != nil {
		return -1, fmt.Errorf("bench: peak memory unavailable here: %v %v", err1, err2)
	}
	peak, err := procStatus("VmHWM")
	if err != nil {
		return -1, err
	}
	return peak - base, nil
}

// procStatus reads one "Key:   N kB" line of /proc/self/status, in bytes.
func procStatus(key string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(k) != key {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		return n * 1024, err
	}
	return 0, fmt.Errorf("bench: no %s in /proc/self/status", key)
}

func mb(b int64, err error) float64 {
	if err != nil || b < 0 {
		return -1
	}
	return float64(b) / (1 << 20)
}

// Slope is the least-squares slope of log y against log x: the exponent k of y ∝ xᵏ (1 for
// linear growth). Points with x ≤ 0 or y ≤ 0 are skipped; NaN when fewer than two remain.
func Slope(xs, ys []float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for i := range xs {
		if xs[i] <= 0 || ys[i] <= 0 {
			continue
		}
		lx, ly := math.Log(xs[i]), math.Log(ys[i])
		n++
		sx += lx
		sy += ly
		sxx += lx * lx
		sxy += lx * ly
	}
	d := n*sxx - sx*sx
	if n < 2 || d == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / d
}

// fitConfig is the fit workload's CFM configuration (steps are set per call): flow's defaults
// but for the net, and no alignment (see Fit). bench/pytorch/bench.py's fit_run mirrors it.
func fitConfig(net flow.NetConfig, seed uint64) flow.Config {
	return flow.Config{Coupling: flow.CouplingIndependent, Predict: flow.PredictTarget, Align: flow.AlignNone, Net: net,
		BatchSize: 64, LR: 1e-3, Seed: seed}
}

// ScalingReport is what `nmflow bench --scaling --json` prints.
type ScalingReport struct {
	Impl    string             `json:"impl"`
	Backend string             `json:"backend"`
	Quick   bool               `json:"quick"`
	Points  []Point            `json:"points"`
	Slopes  map[string]float64 `json:"slopes"` // "zoo time", "zoo memory", "fit time", "fit memory": log-log slopes
}

// Slopes fits the log-log slope of time and peak memory against size, per workload, over the
// points with X ≥ from[workload] (small sizes are dominated by fixed per-step costs).
func Slopes(pts []Point, from map[string]int) map[string]float64 {
	out := map[string]float64{}
	for _, w := range []string{"zoo", "fit"} {
		var xs, ts, ms []float64
		for _, p := range pts {
			if p.Workload == w && p.X >= from[w] {
				xs, ts, ms = append(xs, float64(p.X)), append(ts, p.StepS), append(ms, p.PeakMB)
			}
		}
		if len(xs) >= 2 {
			out[w+" time"] = Slope(xs, ts)
			out[w+" memory"] = Slope(xs, ms)
		}
	}
	return out
}

// ScalingTable writes the points and slopes as text.
func ScalingTable(w io.Writer, rep ScalingReport) {
	fmt.Fprintf(w, "%-5s %-2s %9s %12s %12s %12s %9s\n", "work", "", "size", "s/step", "peak MiB", "growth KiB", "compiles")
	for _, p := range rep.Points {
		fmt.Fprintf(w, "%-5s %-2s %9d %12.5f %12.1f %12.1f %9d\n", p.Workload, p.Axis, p.X, p.StepS, p.PeakMB, p.GrowthKB, p.Compiles)
	}
	for _, k := range []string{"zoo time", "zoo memory", "fit time", "fit memory"} {
		if v, ok := rep.Slopes[k]; ok {
			fmt.Fprintf(w, "log-log slope, %s: %.2f\n", k, v)
		}
	}
}

// ScalingPlots draws time per step and peak memory against R (zoo) and P (fit) on log-log axes,
// each with a dashed slope-1 line through its largest size for reference (linear growth); the
// legend gives the slope over the sizes from[workload] and up, as Slopes does.
func ScalingPlots(pts []Point, from map[string]int) ([]*gplot.Plot, error) {
	var plots []*gplot.Plot
	for _, w := range []struct{ name, axis string }{{"zoo", "R (models per step)"}, {"fit", "P (parameters per net)"}} {
		for _, m := range []struct {
			label string
			get   func(Point) float64
		}{{"seconds per step", func(p Point) float64 { return p.StepS }}, {"peak memory (MiB)", func(p Point) float64 { return p.PeakMB }}} {
			var s plot.Series
			for _, p := range pts {
				if p.Workload == w.name && m.get(p) > 0 {
					s.X, s.Y = append(s.X, float64(p.X)), append(s.Y, m.get(p))
				}
			}
			if len(s.X) < 2 {
				continue
			}
			var fx, fy []float64
			for i, x := range s.X {
				if x >= float64(from[w.name]) {
					fx, fy = append(fx, x), append(fy, s.Y[i])
				}
			}
			if len(fx) < 2 {
				fx, fy = s.X, s.Y
			}
			s.Name = fmt.Sprintf("%s (slope %.2f from %s = %d)", w.name, Slope(fx, fy), w.axis[:1], int(fx[0]))
			last := len(s.X) - 1
			ref := plot.Series{Name: "linear", X: []float64{s.X[0], s.X[last]}, Y: []float64{s.Y[last] * s.X[0] / s.X[last], s.Y[last]}, Dashed: true}
			p, err := plot.Lines(w.axis, m.label, true, true, []plot.Series{s, ref}, plot.WithTitle(fmt.Sprintf("%s: %s", w.name, m.label)))
			if err != nil {
				return nil, err
			}
			plots = append(plots, p)
		}
	}
	return plots, nil
}
