package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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
	Compiles   int     `json:"compiles"`   // graphs built for the case (1 expected; -1 unknown)
	Check      float64 `json:"check"`      // a sanity value (loss, output RMS, accuracy)
}

// Report is what `nmflow bench --json` prints.
type Report struct {
	Impl    string   `json:"impl"` // "nmflow" or "pytorch"
	Backend string   `json:"backend"`
	Quick   bool     `json:"quick"`
	Results []Result `json:"results"`
}

// Options choose the workloads and sizes.
type Options struct {
	Workloads []string // nil: all
	Quick     bool     // tiny sizes (seconds), for tests
	Iters     int      // timed calls per case (default 20 zoo, 10 fit, 3 sample, 3 eval; Quick: 2)
	Seed      uint64   // default 1
	Log       io.Writer
}

// Run runs the chosen workloads on be.
func Run(ctx context.Context, be compute.Backend, opt Options) ([]Result, error) {
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
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
			fmt.Fprintf(opt.Log, "bench %s %s: %.4g %s (warm-up %.2fs)\n", r.Workload, r.Case, r.Throughput, r.Unit, r.WarmupS)
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
		out = append(out, Result{Workload: "zoo", Case: fmt.Sprintf("R=%d", r), Unit: "model-steps/s", Throughput: rate * float64(r),
			WarmupS: warm, Iters: n, Compiles: sb.Compilations()})
	}
	return out, nil
}

// Fit times CFM meta-model training (flow.Fit, width 256, depth 1, batch 64, independent
// coupling) on a 32-run zoo of MLP 784-h-10 with h = 1, 12, 128 (P = 805, 9,550, 101,770). Warm-up
// is a fit of 2 steps (compile + first steps); the rate is (n steps) / (time of a fit of 2+n
// steps − warm-up), so each fit compiles once and the difference cancels it.
func Fit(ctx context.Context, be compute.Backend, opt Options) ([]Result, error) {
	hs, width := []int{1, 12, 128}, 256
	if opt.Quick {
		hs, width = []int{1}, 16
	}
	var out []Result
	for _, h := range hs {
		z, err := benchZoo(arch.MLP([]int{1, 28, 28}, 10, h), 32, opt.Seed)
		if err != nil {
			return out, err
		}
		n := iters(opt, 10)
		warm, rate, compiles, err := fitRate(ctx, be, z, fitConfig(width, opt.Seed), n)
		if err != nil {
			return out, err
		}
		out = append(out, Result{Workload: "fit", Case: fmt.Sprintf("P=%d", z.Params), Unit: "steps/s",
			Throughput: rate, WarmupS: warm, Iters: n, Compiles: compiles})
	}
	return out, nil
}

// fitRate fits cfg on z for 2 steps (compile and first steps: the warm-up, in seconds) and then
// for 2+n steps from scratch, and returns n / (the second time − the first): steady-state steps/s.
// compiles counts the training-step graphs the second fit built (1 expected).
func fitRate(ctx context.Context, be compute.Backend, z *traj.Zoo, cfg flow.Config, n int) (warm, rate float64, compiles int, err error) {
	fit := func(steps int) (float64, error) {
		cfg.Steps = steps
		compiles = 0
		start := time.Now()
		_, err := flow.Fit(ctx, z, cfg, flow.Options{Backend: be, Progress: io.Discard, Compiles: &compiles})
		return time.Since(start).Seconds(), err
	}
	if warm, err = fit(2); err != nil {
		return 0, 0, 0, err
	}
	total, err := fit(2 + n)
	if err != nil {
		return 0, 0, 0, err
	}
	return warm, float64(n) / math.Max(total-warm, 1e-9), compiles, nil
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
			rms = 0
			for _, v := range x {
				rms += float64(v) * float64(v)
			}
			rms = math.Sqrt(rms / float64(len(x)))
			return nil
		}
		k := iters(opt, 3)
		warm, rate, err := timeIt(k, call)
		if err == nil {
			out = append(out, Result{Workload: "sample", Case: method, Unit: "nets/s", Throughput: rate * float64(n), WarmupS: warm,
				Iters: k, Compiles: s.Compilations(), Check: rms})
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
	var acc float64
	k := iters(opt, 3)
	warm, rate, err := timeIt(k, func() error {
		_, a, err := ev.Run(params)
		acc = 0
		for _, v := range a {
			acc += float64(v) / float64(len(a))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// The Evaluator's Exec has SetMaxCache(1): a second compilation would have failed Run.
	return []Result{{Workload: "eval", Case: fmt.Sprintf("N=%d", nets), Unit: "nets/s", Throughput: rate * float64(nets), WarmupS: warm,
		Iters: k, Compiles: 1, Check: acc}}, nil
}

// Table writes results as an aligned text table.
func Table(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "%-8s %-10s %14s %-14s %10s %6s %8s\n", "workload", "case", "throughput", "unit", "warm-up s", "iters", "compiles")
	for _, r := range rs {
		fmt.Fprintf(w, "%-8s %-10s %14.4g %-14s %10.3f %6d %8d\n", r.Workload, r.Case, r.Throughput, r.Unit, r.WarmupS, r.Iters, r.Compiles)
	}
}

// Compare writes nmflow/PyTorch throughput ratios for the cases both reports have.
func Compare(w io.Writer, ours, ref Report) int {
	key := func(r Result) string { return r.Workload + "/" + r.Case }
	refs := map[string]Result{}
	for _, r := range ref.Results {
		refs[key(r)] = r
	}
	fmt.Fprintf(w, "%s: %s\n%s: %s\n", ours.Impl, ours.Backend, ref.Impl, ref.Backend)
	fmt.Fprintf(w, "%-8s %-10s %-14s %14s %14s %8s\n", "workload", "case", "unit", ours.Impl, ref.Impl, "ratio")
	n := 0
	for _, r := range ours.Results {
		p, ok := refs[key(r)]
		if !ok || p.Throughput <= 0 {
			fmt.Fprintf(w, "%-8s %-10s %-14s %14.4g %14s %8s\n", r.Workload, r.Case, r.Unit, r.Throughput, "-", "-")
			continue
		}
		fmt.Fprintf(w, "%-8s %-10s %-14s %14.4g %14.4g %8.2f\n", r.Workload, r.Case, r.Unit, r.Throughput, p.Throughput, r.Throughput/p.Throughput)
		n++
	}
	return n
}
