package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/task"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

func init() {
	commands["tasks"] = command{"train a multi-task zoo: one zoo per task (mnist, fashion-mnist, mnist+perm:1, mnist+rotate:30, ...)", runTasks}
}

func runTasks(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tasks", "tasks --tasks mnist,fashion-mnist,mnist+perm:1,mnist+rotate:30 --out tasks-dir [zoo flags]", stderr)
	names := fs.String("tasks", strings.Join(task.Defaults, ","), "comma-separated task names: DATASET[+perm:SEED][+rotate:DEG] (see docs/conditional.md); the default is two distinct datasets")
	out := fs.String("out", "tasks", "folder of the task zoos (one trajectory file per task); zoos already there with the same settings are reused")
	hidden := fs.Int("hidden", 16, "MLP hidden width")
	runs := fs.Int("runs", 16, "runs per task")
	epochs := fs.Int("epochs", 1, "epochs")
	ckpts := fs.Int("checkpoints", 5, "checkpoints after the init")
	batch := fs.Int("batch", 128, "minibatch size")
	lr := fs.Float64("lr", 0.05, "SGD learning rate")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	trainSize := fs.Int("train-size", 0, "training examples per task (0: all)")
	testSize := fs.Int("test-size", 0, "test examples per task (0: all)")
	seed := fs.Uint64("seed", 1, "seed (the same for every task: run r starts from the same init in each)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	list := splitList(*names)
	if len(list) == 0 {
		return fmt.Errorf("--tasks is empty; name tasks, e.g. --tasks %s,mnist+perm:1", strings.Join(task.Defaults, ","))
	}
	if err := checkZooFlags(fs); err != nil {
		return err
	}
	if err := checkOutput("--out", *out, true); err != nil {
		return err
	}
	cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, *hidden), Runs: *runs, Epochs: *epochs, Checkpoints: *ckpts, BatchSize: *batch,
		Optimizer: "sgd", LR: *lr, Momentum: *momentum, Seed: *seed, TrainSize: *trainSize, TestSize: *testSize}
	if err := checkZooSize(cfg, 28*28, "", ""); err != nil { // the zoos train one after another
		return err
	}
	lock, err := lockOutput(*out, true)
	if err != nil {
		return err
	}
	defer lock.Release()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	set, err := task.Train(ctx, *out, list, cfg, data.Options{Log: stderr}, zoo.Options{Progress: stderr})
	if err != nil {
		return err
	}
	for i, name := range set.Names {
		z := set.Zoos[i]
		final := make([]float32, z.Runs)
		for r := range final {
			final[r] = z.Metric(traj.MetricTestAcc, r, z.Checkpoints-1)
		}
		acc := eval.Summarize(final)
		fmt.Fprintf(stdout, "%-28s %s  %d runs, final test accuracy %.4f\n", name, task.FileName(name), z.Runs, acc.Mean)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// condOpts are fit's flags for a conditional meta-model.
type condOpts struct {
	kind, tasks    *string
	k, dim, hidden *int
	pool           *int
	perRun         *int
	drop           *float64
}

func addCondFlags(fs *flag.FlagSet) *condOpts {
	return &condOpts{
		kind:   fs.String("condition", "", "support: condition the flow on a task's support set; --zoo is then a folder written by 'nmflow tasks'"),
		tasks:  fs.String("tasks", "", "--condition: comma-separated tasks of the --zoo folder to fit on (default: all of them)"),
		k:      fs.Int("support-k", 5, "--condition: support images per class"),
		dim:    fs.Int("cond-dim", 32, "--condition: size of the set embedding y"),
		hidden: fs.Int("cond-hidden", 64, "--condition: width of the per-image MLP of the set encoder"),
		pool:   fs.Int("support-pool", 256, "--condition: training images per class that support sets are drawn from"),
		drop:   fs.Float64("cond-drop", 0.1, "--condition: probability p of training on the null condition (classifier-free guidance)"),
		perRun: fs.Int("steps-per-run", flow.DefaultStepsPerRun, "--condition with --steps 0: optimizer steps per run of all the tasks together (recorded in model.json)"),
	}
}

// configure checks the flags and sets cfg.Cond for --condition support.
func (co *condOpts) configure(fs *flag.FlagSet, cfg *flow.Config) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch *co.kind {
	case "":
		for _, name := range []string{"tasks", "support-k", "cond-dim", "cond-hidden", "support-pool", "cond-drop", "steps-per-run"} {
			if set[name] {
				return fmt.Errorf("--%s applies to a conditional flow: add --condition support", name)
			}
		}
		return nil
	case flow.CondSupport:
	default:
		return fmt.Errorf("unknown --condition %q (want support)", *co.kind)
	}
	switch {
	case *co.k < 1 || *co.dim < 1 || *co.hidden < 1:
		return fmt.Errorf("--support-k, --cond-dim and --cond-hidden must be ≥ 1 (got %d, %d, %d)", *co.k, *co.dim, *co.hidden)
	case *co.pool < *co.k:
		return fmt.Errorf("--support-pool %d is smaller than --support-k %d: support sets draw k distinct images per class from the pool", *co.pool, *co.k)
	case !(*co.drop > 0 && *co.drop < 1):
		return fmt.Errorf("--cond-drop must be in (0,1): guidance needs the null condition trained, got %g", *co.drop)
	case *co.perRun < 1:
		return fmt.Errorf("--steps-per-run must be ≥ 1, got %d", *co.perRun)
	case set["steps-per-run"] && cfg.Steps != 0:
		return fmt.Errorf("--steps %d and --steps-per-run %d both set the budget; give one of them", cfg.Steps, *co.perRun)
	}
	cfg.Cond = &flow.CondConfig{Kind: flow.CondSupport, K: *co.k, Hidden: *co.hidden, Drop: *co.drop}
	if cfg.Steps == 0 {
		cfg.Cond.StepsPerRun = *co.perRun
	}
	cfg.Net.CondDim = *co.dim
	return nil
}

// load opens the task zoos and their support pools.
func (co *condOpts) load(dir string, stderr io.Writer) ([]flow.CondTask, error) {
	set, err := task.Open(dir, splitList(*co.tasks)...)
	if err != nil {
		return nil, err
	}
	tasks, err := set.CondTasks(*co.pool, data.Options{Log: stderr})
	if err != nil {
		return nil, err
	}
	runs := 0
	for _, tk := range tasks {
		runs += tk.Zoo.Runs
	}
	fmt.Fprintf(stderr, "nmflow fit: conditional on support sets of k=%d per class; %d tasks (%s), %d runs\n", *co.k, len(tasks), strings.Join(set.Names, ", "), runs)
	return tasks, nil
}

// taskCondition draws the support set of task name (seed) for a conditional model.
func taskCondition(m *flow.Model, name string, guidance float64, seed uint64, pool int, stderr io.Writer) (*flow.Condition, *data.Dataset, error) {
	cc := m.Config.Cond
	if cc == nil {
		return nil, nil, fmt.Errorf("the model is unconditional: --task and --guidance need a model fitted with --condition support")
	}
	ds, err := task.Load(name, data.Options{Log: stderr})
	if err != nil {
		return nil, nil, err
	}
	if len(ds.Classes) != cc.Classes || ds.ExampleSize() != cc.ImageDim {
		return nil, nil, fmt.Errorf("task %s has %d classes of %d-value images; the model was fitted on %d classes of %d", name, len(ds.Classes), ds.ExampleSize(), cc.Classes, cc.ImageDim)
	}
	p, err := task.Pool(ds, pool)
	if err != nil {
		return nil, nil, err
	}
	sup, err := task.Support(p, cc.K, seed)
	if err != nil {
		return nil, nil, err
	}
	return &flow.Condition{Support: sup, Guidance: guidance}, ds, nil
}
