package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Workloads are the names Run accepts, in report order.
var Workloads = []string{"zoo", "fit", "sample", "eval"}

// Result is one case of one workload; the PyTorch reference prints the same JSON.
type Result struct {
	Workload   string  `json:"workload"`
	Case       string  `json:"case"`       // e.g. "R=64", "P=9550", "euler"
	Unit       string  `json:"unit"`       // "model-steps/s", "steps/s", "nets/s"
	Throughput float64 `json:"throughput"` // in Unit, warm (after the first call)
	WarmupS    float64 `json:"warmup_s"`   // first call: compile + first execution
	Iters      int     `json:"iters"`      // timed calls
	Compiles   int     `json:"compiles"`   // graphs built for the case (1 expected; PyTorch: 0, eager)
	// Check is a value both implementations compute from the same laws of data and weights after
	// the timed calls (CheckName: "loss", "displacement"); Summarize compares them within
	// CheckTolerance.
	Check     float64 `json:"check"`
	CheckName string  `json:"check_name,omitempty"`
	// Moved (zoo) is the RMS of the weights' change over the warm-up and timed steps, compared
	// within MovedTolerance: the zoo's loss on random labels stays near ln 10 whether its step
	// updates the weights or not; this does not.
	Moved float64 `json:"moved,omitempty"`
	// GFlop is the matmul work per Unit (eval, sample: per net), in GFLOP: Throughput·GFlop is
	// the achieved GFLOP/s of the roofline column.
	GFlop float64 `json:"gflop,omitempty"`
}

// Report is what `nmflow bench --json` prints (and bench/pytorch/bench.py, with its BLAS).
type Report struct {
	Impl    string `json:"impl"` // "nmflow" or "pytorch"
	Backend string `json:"backend"`
	Quick   bool   `json:"quick"`
	Machine string `json:"machine,omitempty"` // CPU model and count
	Build   string `json:"build,omitempty"`   // nmflow: Go version and GOEXPERIMENT
	Threads int    `json:"threads,omitempty"` // nmflow: GOMAXPROCS; PyTorch: torch.get_num_threads()
	BLAS    string `json:"blas,omitempty"`    // PyTorch: the BLAS library its matmuls run on
	// PeakGFLOPS is the measured GEMM peak of this backend on this machine (see Peak).
	PeakGFLOPS float64 `json:"peak_gflops,omitempty"`
	// FitConfig is the fit workload's configuration as Fit resolves it (flow's defaults, the
	// bench's lr, the timed fit's steps; its net is flow's default net, the fit case at P =
	// 25,450), for bench/pytorch/bench.py to follow (--nmflow-report).
	FitConfig *flow.Config `json:"fit_config,omitempty"`
	// OtherCores is the CPU other processes used during the run, in cores on average (-1:
	// unknown, not Linux); above QuietLimit the run is not a measurement.
	OtherCores float64 `json:"other_cores"`
	// Warnings make a report unfit for comparison (e.g. PyTorch on the reference BLAS).
	Warnings []string `json:"warnings,omitempty"`
	Results  []Result `json:"results"`
}

// Options choose the workloads and sizes.
type Options struct {
	Workloads []string // nil: all
	Quick     bool     // tiny sizes (seconds), for tests
	Iters     int      // timed calls per case (default 20 zoo, 10–100 fit by size, 3 sample, 10 eval; Quick: 2)
	Seed      uint64   // default 1
	Log       io.Writer
}

// RunReport runs the chosen workloads and the GEMM peak on be (named backendName) and describes
// the machine: what `nmflow bench --json` prints.
func RunReport(ctx context.Context, be compute.Backend, backendName string, opt Options) (Report, error) {
	opt = opt.withDefaults()
	rep := Report{Impl: "nmflow", Backend: backendName, Quick: opt.Quick, Machine: Machine(), Build: goBuild(),
		Threads: runtime.GOMAXPROCS(0)}
	cfg := fitConfig(flow.NetConfig{}, opt.Seed)
	cfg.Steps = 2 + iters(opt, fitSteps)
	cfg, err := cfg.Defaults()
	if err != nil {
		return rep, err
	}
	rep.FitConfig = &cfg
	n := 1024
	if opt.Quick {
		n = 256
	}
	if rep.PeakGFLOPS, err = Peak(be, n); err != nil {
		return rep, err
	}
	fmt.Fprintf(opt.Log, "bench: %s, %d threads; GEMM peak %.1f GFLOP/s\n", rep.Machine, rep.Threads, rep.PeakGFLOPS)
	load := startLoad()
	rep.Results, err = Run(ctx, be, opt)
	rep.OtherCores = load.others()
	return rep, err
}

// withDefaults fills the seed (1) and the log (none).
func (opt Options) withDefaults() Options {
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	return opt
}

// Run runs the chosen workloads on be.
func Run(ctx context.Context, be compute.Backend, opt Options) ([]Result, error) {
	opt = opt.withDefaults()
	ws := opt.Workloads
	if len(ws) == 0 {
		ws = Workloads
	}
	var out []Result
	for _, w := range ws {
		if !slices.Contains(Workloads, w) {
			return out, fmt.Errorf("bench: unknown workload %q (want %s)", w, strings.Join(Workloads, ", "))
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var rs []Result
		var err error
		switch w {
		case "zoo":
			rs, err = Zoo(be, opt)
		case "fit":
			rs, err = Fit(ctx, be, opt)
		case "sample":
			rs, err = Sample(be, opt)
		case "eval":
			rs, err = Eval(be, opt)
		}
		for _, r := range rs {
			fmt.Fprintf(opt.Log, "bench %s %s: %.4g %s (warm-up %.2fs, %s %.5g)\n", r.Workload, r.Case, r.Throughput, r.Unit, r.WarmupS, r.CheckName, r.Check)
		}
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func iters(opt Options, def int) int {
	switch {
	case opt.Iters > 0:
		return opt.Iters
	case opt.Quick:
		return 2
	}
	return def
}

// timeIt calls f once as warm-up, then n times, and returns (warm-up s, warm calls per second).
func timeIt(n int, f func() error) (float64, float64, error) {
	start := time.Now()
	if err := f(); err != nil {
		return 0, 0, err
	}
	warm := time.Since(start).Seconds()
	start = time.Now()
	for range n {
		if err := f(); err != nil {
			return 0, 0, err
		}
	}
	return warm, float64(n) / time.Since(start).Seconds(), nil
}

// Zoo times the zoo's training step: MLP 784-32-10, SGD lr 0.05, batch 128, on 8,192 examples.
func Zoo(be compute.Backend, opt Options) ([]Result, error) {
	rs, hidden, train := []int{1, 8, 64, 256}, 32, 8192
	if opt.Quick {
		rs, hidden, train = []int{1, 4}, 8, 512
	}
	ds := data.NoiseMNIST(train, 16, opt.Seed)
	var out []Result
	for _, r := range rs {
		cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, hidden), Runs: r, Epochs: 1000, Checkpoints: 1, Seed: opt.Seed, EvalTrain: 16}
		sb, err := zoo.NewStepBench(be, cfg, ds)
		if err != nil {
			return out, err
		}
		n := iters(opt, 20)
		warm, rate, err := timeIt(n, sb.Step)
		if err != nil {
			return out, err
		}
		// Check: the mean per-run training loss of the last timed step.
		out = append(out, Result{Workload: "zoo", Case: fmt.Sprintf("R=%d", r), Unit: "model-steps/s", Throughput: rate * float64(r),
			WarmupS: warm, Iters: n, Compiles: sb.Compilations(), Check: sb.Loss(), CheckName: "loss", Moved: sb.Moved()})
	}
	return out, nil
}

// Fit times CFM meta-model training (flow.Fit with flow's default recipe, lr 1e-3: per-layer
// normalization, Kaiming source, endpoint prediction, time skew, AdamW with warm-up and cosine
// schedule, gradient clip and EMA; batch 64, independent coupling) on a 32-run zoo of MLP 784-h-10:
// h = 1, 12, 128 (P = 805, 9,550, 101,770) with a width-256, depth-1 net, and h = 32 (P = 25,450,
// the 784-32-10 zoo of the CLI's default fit) with flow's default net, named in the case
// ("P=25450 128x1"). Alignment is off: the synthetic zoo has nothing to align, and it is a
// one-off cost outside the steps. Warm-up is a fit of 2 steps (compile + first steps); the rate is
// (n steps) / (time of a fit of 2+n steps − warm-up), so each fit compiles once and the difference
// cancels it. Check: the mean loss of the n timed steps.
func Fit(ctx context.Context, be compute.Backend, opt Options) ([]Result, error) {
	dw, dd := DefaultNet()
	type fitCase struct {
		hidden int
		net    flow.NetConfig
		named  bool // the case name carries the net
		steps  int  // timed steps: about a second or more on either side, so the two fits' setup jitter stays small
	}
	cases := []fitCase{{1, flow.NetConfig{Width: 256, Depth: 1}, false, 100}, {12, flow.NetConfig{Width: 256, Depth: 1}, false, 40},
		{128, flow.NetConfig{Width: 256, Depth: 1}, false, 10}, {32, flow.NetConfig{Width: dw, Depth: dd}, true, fitSteps}}
	if opt.Quick {
		cases = []fitCase{{1, flow.NetConfig{Width: 16, Depth: 1}, false, 2}, {1, flow.NetConfig{Width: dw, Depth: dd}, true, 2}}
	}
	var out []Result
	for _, c := range cases {
		z, err := benchZoo(arch.MLP([]int{1, 28, 28}, 10, c.hidden), 32, opt.Seed)
		if err != nil {
			return out, err
		}
		n := iters(opt, c.steps)
		warm, rate, compiles, m, err := fitRate(ctx, be, z, fitConfig(c.net, opt.Seed), n)
		if err != nil {
			return out, err
		}
		name := fmt.Sprintf("P=%d", z.Params)
		if c.named {
			name += fmt.Sprintf(" %dx%d", c.net.Width, c.net.Depth)
		}
		out = append(out, Result{Workload: "fit", Case: name, Unit: "steps/s", Throughput: rate, WarmupS: warm, Iters: n,
			Compiles: compiles, Check: mean(m.History[len(m.History)-n:]), CheckName: "loss"})
	}
	return out, nil
}

// fitSteps is the timed steps of the fit case at P = 25,450 with flow's default net, the one
// Report.FitConfig describes.
const fitSteps = 40

// DefaultNet is the width and depth of flow's default velocity net (flow.Config.Defaults).
func DefaultNet() (width, depth int) {
	c, err := flow.Config{}.Defaults()
	if err != nil {
		panic(fmt.Sprintf("bench: flow's defaults do not validate: %v", err))
	}
	return c.Net.Width, c.Net.Depth
}

func mean(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

// fitRate fits cfg on z for 2 steps (compile and first steps: the warm-up, in seconds) and then
// for 2+n steps from scratch, and returns n / (the second time − the first): steady-state steps/s
// (bench/pytorch/bench.py times its fit the same way), and the second fit's model. compiles counts the training-step graphs the second fit built (1
// expected).
func fitRate(ctx context.Context, be compute.Backend, z *traj.Zoo, cfg flow.Config, n int) (warm, rate float64, compiles int, m *flow.Model, err error) {
	fit := func(steps int) (float64, error) {
		cfg.Steps = steps
		compiles = 0
		start := time.Now()
		m, err = flow.Fit(ctx, z, cfg, flow.Options{Backend: be, Progress: io.Discard, Compiles: &compiles})
		return time.Since(start).Seconds(), err
	}
	if warm, err = fit(2); err != nil {
		return 0, 0, 0, nil, err
	}
	total, err := fit(2 + n)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	if total <= warm {
		// The n steps were lost in the timing noise (tiny --quick sizes): the whole second fit,
		// setup included, bounds the rate from below.
		return warm, float64(2+n) / total, compiles, m, nil
	}
	return warm, float64(n) / (total - warm), compiles, m, nil
}

// benchZoo is a zoo of `runs` PyTorch-law inits (checkpoint 0) and those inits shifted by
// N(0, 0.05²) noise (checkpoint 1), from fixed seeds.
func benchZoo(spec arch.Spec, runs int, seed uint64) (*traj.Zoo, error) {
	l := arch.MustNew(spec).Layout()
	p := l.Size()
	init, err := arch.InitBatch(l, arch.InitPyTorch, arch.RunSeeds(seed, runs))
	if err != nil {
		return nil, err
	}
	z := &traj.Zoo{Meta: traj.Meta{Kind: traj.KindZoo, Arch: spec, Layout: l, Init: arch.InitPyTorch, Seed: seed, Dataset: traj.DatasetMeta{Name: "bench"}},
		Runs: runs, Checkpoints: 2, Params: p, Weights: make([]float32, runs*2*p), Steps: []int64{0, 100}}
	rng := rand.New(rand.NewPCG(seed, 2))
	for r := range runs {
		w := init[r*p : (r+1)*p]
		copy(z.At(r, 0), w)
		for i, v := range w {
			z.At(r, 1)[i] = v + 0.05*float32(rng.NormFloat64())
		}
	}
	return z, z.Check()
}

// Solvers are the fixed-step methods of the sample workload.
var Solvers = []string{"euler", "midpoint", "rk4"}

// Sample times solve.Solver.Integrate of N = 64 states of D = 25,450 (the 784-32-10 MLP's size)
// for 100 steps through solve.MLPVelocity(D, 512, seed); nets/s counts states per second.
func Sample(be compute.Backend, opt Options) ([]Result, error) {
	n, d, hidden, steps := 64, 25450, 512, 100
	if opt.Quick {
		n, d, hidden, steps = 4, 64, 16, 5
	}
	v := solve.MLPVelocity(d, hidden, opt.Seed)
	x0 := make([]float32, n*d)
	rng := rand.New(rand.NewPCG(opt.Seed, 4))
	for i := range x0 {
		x0[i] = float32(rng.NormFloat64())
	}
	var out []Result
	for _, method := range Solvers {
		s, err := solve.NewSolver(solve.GraphCompiler(be, v), method)
		if err != nil {
			return out, err
		}
		var rms float64
		call := func() error {
			res, err := s.Integrate(tensors.FromFlatDataAndDimensions(slices.Clone(x0), n, d), solve.Options{Steps: steps})
			if err != nil {
				return err
			}
			x := tensors.MustCopyFlatData[float32](res.X)
			res.X.MustFinalizeAll()
			// Check: the RMS of the displacement x(1) − x(0) (x(1) itself is within 2% of x(0)'s
			// RMS here, so a sampler that does not move would pass a check on it).
			rms = 0
			for i, v := range x {
				d := float64(v) - float64(x0[i])
				rms += d * d
			}
			rms = math.Sqrt(rms / float64(len(x)))
			return nil
		}
		k := iters(opt, 3)
		warm, rate, err := timeIt(k, call)
		if err == nil {
			// Matmul work per net: two d×hidden products per velocity call, evals calls per step.
			evals := map[string]int{"euler": 1, "midpoint": 2, "rk4": 4}[method]
			out = append(out, Result{Workload: "sample", Case: method, Unit: "nets/s", Throughput: rate * float64(n), WarmupS: warm,
				Iters: k, Compiles: s.Compilations(), Check: rms, CheckName: "displacement", GFlop: float64(steps*evals) * 4 * float64(d*hidden) / 1e9})
		}
		s.Close()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Eval times eval.Evaluator (the zoo's and `nmflow eval`'s batched accuracy) on 64 PyTorch-law
// nets of MLP 784-32-10 and 10,000 examples.
func Eval(be compute.Backend, opt Options) ([]Result, error) {
	nets, hidden, examples := 64, 32, 10000
	if opt.Quick {
		nets, hidden, examples = 4, 8, 256
	}
	spec := arch.MLP([]int{1, 28, 28}, 10, hidden)
	net, err := arch.New(spec)
	if err != nil {
		return nil, err
	}
	w, err := arch.InitBatch(net.Layout(), arch.InitPyTorch, arch.RunSeeds(opt.Seed, nets))
	if err != nil {
		return nil, err
	}
	im, err := feed.New(data.Noise(examples, 784, 10, opt.Seed+1), 784)
	if err != nil {
		return nil, err
	}
	norm, err := feed.NewNorm([]float32{0}, []float32{1}, 784, false)
	if err != nil {
		return nil, err
	}
	ev := eval.NewEvaluator(be, net, im, norm, spec.Input, nets)
	params := tensors.FromFlatDataAndDimensions(w, nets, net.Layout().Size())
	var loss float64
	k := iters(opt, 10)
	warm, rate, err := timeIt(k, func() error {
		l, _, err := ev.Run(params)
		loss = mean(l)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Check: the mean over nets of the per-net test loss. Work: both layers' matmuls per net.
	gflop := 2 * float64(examples) * float64(784*hidden+hidden*10) / 1e9
	return []Result{{Workload: "eval", Case: fmt.Sprintf("N=%d", nets), Unit: "nets/s", Throughput: rate * float64(nets), WarmupS: warm,
		Iters: k, Compiles: ev.Compilations(), Check: loss, CheckName: "loss", GFlop: gflop}}, nil
}

// Table writes results as an aligned text table.
func Table(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "%-8s %-14s %14s %-14s %10s %6s %8s  %s\n", "workload", "case", "throughput", "unit", "warm-up s", "iters", "compiles", "check")
	for _, r := range rs {
		fmt.Fprintf(w, "%-8s %-14s %14.4g %-14s %10.3f %6d %8d  %s %.5g\n", r.Workload, r.Case, r.Throughput, r.Unit, r.WarmupS, r.Iters, r.Compiles, r.CheckName, r.Check)
	}
}

// Compare writes the one-round Summary of ours against ref and returns the number of cases with
// a ratio (both reports have them).
func Compare(w io.Writer, ours, ref Report) int {
	s, err := Summarize([]Report{ours}, []Report{ref})
	if err != nil {
		fmt.Fprintln(w, err)
		return 0
	}
	s.Write(w)
	n := 0
	for _, c := range s.Cases {
		if c.Ratio > 0 {
			n++
		}
	}
	return n
}
