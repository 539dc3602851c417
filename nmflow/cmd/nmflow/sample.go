package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/task"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Dopri5's tolerances below these cannot be met in float32 (machine epsilon 1.2e-7).
const minRtol, minAtol = 1e-7, 1e-10

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sample", "sample --model model-dir --n N --solver "+strings.Join(solve.Methods(), "|")+" --steps S --seed S --out gen.safetensors", stderr)
	modelDir := fs.String("model", "model", "meta-model folder written by 'nmflow fit'")
	n := fs.Int("n", 100, "number of nets to generate")
	solver := fs.String("solver", "euler", "ODE solver: "+strings.Join(solve.Methods(), ", "))
	steps := fs.Int("steps", 100, "steps of a fixed-step solver (dopri5 adapts its own)")
	atol := fs.Float64("atol", 0, fmt.Sprintf("dopri5 absolute tolerance (0: %g)", solve.DefaultAtol))
	rtol := fs.Float64("rtol", 0, fmt.Sprintf("dopri5 relative tolerance (0: %g)", solve.DefaultRtol))
	seed := fs.Uint64("seed", 0, "seed of the source draws x0")
	out := fs.String("out", "generated.safetensors", "output file of generated weights [N, P]")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	taskName := fs.String("task", "", "conditional model: generate for this task (DATASET[+perm:SEED][+rotate:DEG], held out or not), conditioned on a support set drawn from its training images")
	guidance := fs.Float64("guidance", 1, "--task: classifier-free guidance weight w (0: unconditional, 1: conditional, > 1: stronger)")
	supportSeed := fs.Uint64("support-seed", 0, "--task: seed of the support set drawn")
	supportPool := fs.Int("support-pool", 256, "--task: training images per class the support set is drawn from")
	taskTest := fs.Int("task-test", 1000, "--task: test the generated nets on the first N test images of the task (0: skip)")
	force := fs.Bool("force", false, "replace an existing --out that is not a file of generated weights")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	method := strings.ToLower(strings.TrimSpace(*solver))
	if !slices.Contains(solve.Methods(), method) {
		return fmt.Errorf("unknown --solver %q (want one of %s)", *solver, strings.Join(solve.Methods(), ", "))
	}
	_, adaptive, _ := solve.Order(method)
	switch {
	case *n < 1:
		return fmt.Errorf("--n must be ≥ 1, got %d", *n)
	case !adaptive && *steps < 1:
		return fmt.Errorf("--steps must be ≥ 1 for %s, got %d", method, *steps)
	case *atol < 0 || *rtol < 0:
		return fmt.Errorf("--atol and --rtol must be > 0 (0: default), got %g, %g", *atol, *rtol)
	case *rtol > 0 && *rtol < minRtol, *atol > 0 && *atol < minAtol:
		return fmt.Errorf("--rtol %g / --atol %g ask for more than float32 weights can resolve (rtol ≥ %g, atol ≥ %g); the solver would shrink its steps to nothing", *rtol, *atol, minRtol, minAtol)
	case *guidance < 0:
		return fmt.Errorf("--guidance must be ≥ 0, got %g", *guidance)
	case *supportPool < 1 || *taskTest < 0:
		return fmt.Errorf("--support-pool must be ≥ 1 and --task-test ≥ 0, got %d and %d", *supportPool, *taskTest)
	}
	if err := checkOutput("--out", *out, false, outpath.In("--model", *modelDir)); err != nil {
		return err
	}
	if err := checkReplace("--out", *out, traj.KindGenerated, *force, nil); err != nil {
		return err
	}
	start := time.Now()
	gen, m, base, err := loadGenerator(*modelDir)
	if err != nil {
		return err
	}
	p := base.Layout.Size()
	if err := checkSampleSize(*n, p, *out); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var cond *flow.Condition
	var taskData *data.Dataset
	if *taskName != "" {
		if cond, taskData, err = taskCondition(m, *taskName, *guidance, *supportSeed, *supportPool, stderr); err != nil {
			return err
		}
	} else if set["guidance"] || set["support-seed"] || set["task-test"] {
		return fmt.Errorf("--guidance, --support-seed and --task-test apply to conditional generation: add --task NAME")
	}
	if m.Config.Method == flow.MethodJKO {
		method = "jko" // explicit steps of the potential, one per anchor interval: no ODE solver
	}
	fmt.Fprintf(stderr, "nmflow sample: %d nets of %s (P=%d) from %s with %s\n", *n, base.Arch, p, *modelDir, method)
	s, err := gen.Sample(*n, flow.SampleOptions{Seed: *seed, Solve: solve.Options{Method: method, Steps: *steps, Atol: *atol, Rtol: *rtol, Progress: stderr}, Cond: cond})
	if err != nil {
		return err
	}
	g := gen.Generated(s, method, *seed, *modelDir)
	var taskAcc *eval.Summary
	if cond != nil {
		tk, _ := task.Parse(*taskName)
		g.Meta.Extra["task"], g.Meta.Extra["guidance"] = tk.Name, fmt.Sprint(*guidance)
		g.Meta.Extra["support_seed"], g.Meta.Extra["held_out"] = fmt.Sprint(*supportSeed), fmt.Sprint(!slices.Contains(m.Config.Cond.Tasks, tk.Name))
		if *taskTest > 0 {
			acc, err := task.Accuracy(m.ComputeBackend(), base.Arch, base.Dataset, taskData, s.Weights, s.N, *taskTest)
			if err != nil {
				return err
			}
			sum := eval.Summarize(acc)
			taskAcc = &sum
		}
	}
	if err := traj.WriteGenerated(*out, g); err != nil {
		return err
	}
	wall := time.Since(start).Seconds()
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.N) / s.Seconds
	}
	summary := map[string]any{
		"out": *out, "model": *modelDir, "n": s.N, "params": s.P, "arch": base.Arch.String(), "solver": method,
		"steps": s.Steps, "nfe": s.NFE, "seed": *seed, "seconds": s.Seconds, "nets_per_second": rate, "wall_seconds": wall,
		"source": m.Config.Source, "coupling": m.Config.Coupling, "model_steps": m.Steps,
	}
	if adaptive {
		o := solve.Options{Atol: *atol, Rtol: *rtol}
		if o.Atol == 0 {
			o.Atol = solve.DefaultAtol
		}
		if o.Rtol == 0 {
			o.Rtol = solve.DefaultRtol
		}
		summary["atol"], summary["rtol"] = o.Atol, o.Rtol
	}
	if g.Meta.Extra["latent"] != "" {
		summary["latent"] = g.Meta.Extra["latent"]
	}
	if cond != nil {
		summary["task"], summary["guidance"], summary["held_out"] = g.Meta.Extra["task"], *guidance, g.Meta.Extra["held_out"] == "true"
		if taskAcc != nil {
			summary["task_accuracy"] = taskAcc
		}
	}
	if *asJSON {
		return printJSON(stdout, summary)
	}
	if taskAcc != nil {
		fmt.Fprintf(stdout, "task %s (held out: %s), guidance %g: test accuracy mean %.4f, min %.4f, max %.4f\n",
			g.Meta.Extra["task"], g.Meta.Extra["held_out"], *guidance, taskAcc.Mean, taskAcc.Min, taskAcc.Max)
	}
	fmt.Fprintf(stdout, "wrote %s: %d generated nets × %d params (%s)\n%s: %d steps, %d velocity evaluations, %.2f s (%.1f nets/s; %.1f s with loading)\n",
		*out, s.N, s.P, base.Arch, method, s.Steps, s.NFE, s.Seconds, rate, wall)
	return nil
}
