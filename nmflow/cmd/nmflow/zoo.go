package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

func runData(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data", "data fetch NAME [--dir D] [--json]   (NAME: "+fmt.Sprint(data.Names())+")", stderr)
	dir := fs.String("dir", "", "local folder with the dataset files (default $NMFLOW_DATA)")
	asJSON := fs.Bool("json", false, "print a JSON summary")
	if len(args) == 0 || args[0] != "fetch" {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	if err := parse(fs, args[1:], 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	name := fs.Arg(0)
	opt := data.Options{Dir: *dir, Log: stderr}
	path, err := data.Fetch(name, opt)
	if err != nil {
		return err
	}
	ds, err := data.Load(name, opt)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"name": ds.Name, "dir": path, "source": ds.Source, "shape": ds.Shape,
			"train": ds.Train.N, "test": ds.Test.N, "classes": ds.Classes})
	}
	fmt.Fprintf(stdout, "%s: %d train + %d test examples of shape %v, verified, in %s (from %s)\n", ds.Name, ds.Train.N, ds.Test.N, ds.Shape, path, ds.Source)
	return nil
}

func runZoo(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "merge" {
		return runZooMerge(args[1:], stdout, stderr)
	}
	fs := newFlags("zoo", "zoo --dataset D --arch mlp|cnn --runs R --epochs E --checkpoints K --seed S --out zoo.safetensors", stderr)
	dataset := fs.String("dataset", "mnist", "dataset: "+fmt.Sprint(data.Names()))
	dir := fs.String("dir", "", "local dataset folder (default $NMFLOW_DATA)")
	archKind := fs.String("arch", "mlp", "base architecture: mlp or cnn")
	hidden := fs.String("hidden", "32", "hidden widths, comma-separated (mlp: hidden layers; cnn: dense layers after the convs)")
	channels := fs.String("channels", "8,16", "cnn conv channels, comma-separated (3x3 conv + ReLU + 2x2 mean-pool each)")
	runs := fs.Int("runs", 16, "R: models trained at once")
	epochs := fs.Int("epochs", 1, "epochs over the training subset")
	ckpts := fs.Int("checkpoints", 10, "K: checkpoints after the init (K+1 kept, evenly spaced in steps)")
	batch := fs.Int("batch", 128, "minibatch size per run")
	optim := fs.String("optimizer", "sgd", "sgd or adam")
	lr := fs.Float64("lr", 0, "learning rate (default 0.05 for sgd, 1e-3 for adam)")
	momentum := fs.Float64("momentum", 0, "sgd momentum")
	wd := fs.Float64("weight-decay", 0, "L2 weight decay")
	initLaw := fs.String("init", arch.InitPyTorch, "init law: "+fmt.Sprint(arch.Laws()))
	seed := fs.Uint64("seed", 0, "seed (init, minibatch order and train subset)")
	trainSize := fs.Int("train-size", 0, "train on a seeded subset of this many examples (0: all)")
	testSize := fs.Int("test-size", 0, "test metrics on the first N test examples (0: all)")
	standardize := fs.Bool("standardize", false, "standardize inputs per channel with train statistics")
	out := fs.String("out", "zoo.safetensors", "output trajectory file")
	state := fs.String("state", "", "resume state file (default OUT.state; rerun the same command to resume)")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	lrCut, maxCuts := lrCutFlags(fs, "a run")
	alignZoo := fs.Bool("align", false, "permute each run's hidden units into one order before writing (weight matching, as 'nmflow align'; fits align by themselves)")
	shardFlag := fs.String("shard", "", "train only shard i/N of the runs (e.g. 0/4), for several machines; combine with 'nmflow zoo merge'")
	force := fs.Bool("force", false, "replace an existing --out of another kind or made with other settings")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := checkLRCut(*lrCut, *maxCuts); err != nil {
		return err
	}
	if *alignZoo && *shardFlag != "" {
		return fmt.Errorf("--align needs all runs: align after 'nmflow zoo merge' with 'nmflow align'")
	}
	if err := checkZooFlags(fs); err != nil {
		return err
	}
	var spec arch.Spec
	ds, err := data.Load(*dataset, data.Options{Dir: *dir, Log: stderr})
	if err != nil {
		return err
	}
	h, err := arch.ParseWidths(*hidden)
	if err != nil {
		return err
	}
	switch *archKind {
	case "mlp":
		spec = arch.MLP(ds.Shape, len(ds.Classes), h...)
	case "cnn":
		c, err := arch.ParseWidths(*channels)
		if err != nil {
			return err
		}
		spec = arch.CNN(ds.Shape, len(ds.Classes), c, h...)
	default:
		return fmt.Errorf("unknown --arch %q (want mlp or cnn)", *archKind)
	}
	cfg := zoo.Config{Arch: spec, Init: *initLaw, Runs: *runs, Epochs: *epochs, Checkpoints: *ckpts, BatchSize: *batch,
		Optimizer: *optim, LR: *lr, Momentum: *momentum, WeightDecay: *wd, Seed: *seed, Standardize: *standardize,
		TrainSize: *trainSize, TestSize: *testSize}
	if *state == "" {
		*state = *out + ".state"
	}
	// Before hours of training: the output is writable, is not the state, replaces no other
	// kind of file or other zoo, fits in memory, and no other job writes it.
	if err := checkOutput("--out", *out, false, outpath.In("--state", *state)); err != nil {
		return err
	}
	if err := checkReplace("--out", *out, traj.KindZoo, *force, zooConfigDiffers(cfg, *shardFlag)); err != nil {
		return err
	}
	if err := checkZooSize(cfg, ds.ExampleSize(), "--out", *out); err != nil {
		return err
	}
	lock, err := lockOutput(*out, false)
	if err != nil {
		return err
	}
	defer lock.Release()
	if zoo.Exists(*state) {
		fmt.Fprintf(stderr, "nmflow zoo: resuming from %s\n", *state)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	z, err := trainZoo(ctx, cfg, *shardFlag, ds, zoo.Options{State: *state, LRCut: *lrCut, MaxLRCuts: *maxCuts})
	if errors.Is(err, zoo.ErrStopped) {
		return fmt.Errorf("interrupted; progress up to the last checkpoint is in %s: rerun the same command to resume", *state)
	}
	var diverged *zoo.DivergedError
	if errors.As(err, &diverged) && *lrCut == 0 {
		return fmt.Errorf("%w\nrerun the same command with --lr-cut 0.5 to continue with a lower learning rate, or lower --lr", err)
	}
	if err != nil {
		return err
	}
	if *alignZoo {
		if z, _, err = align.Zoo(z, align.Options{}); err != nil {
			return err
		}
	}
	if err := traj.WriteZoo(*out, z); err != nil {
		return err
	}
	_ = os.Remove(*state) // the trajectory file now holds everything the state did
	wall := time.Since(start)
	summary := zooSummary(z, *out, wall)
	if *asJSON {
		return printJSON(stdout, summary)
	}
	acc := summary["final_test_acc"].(eval.Summary)
	fmt.Fprintf(stdout, "wrote %s: %d runs × %d checkpoints × %d params (%s on %s)\nfinal test accuracy: mean %.4f, min %.4f, max %.4f (init mean %.4f); %.1f s\n",
		*out, z.Runs, z.Checkpoints, z.Params, spec, ds.Name, acc.Mean, acc.Min, acc.Max, summary["init_test_acc"].(eval.Summary).Mean, wall.Seconds())
	return nil
}

func zooSummary(z *traj.Zoo, out string, wall time.Duration) map[string]any {
	col := func(metric string, k int) []float64 {
		v := make([]float64, z.Runs)
		for r := range v {
			v[r] = float64(z.Metric(metric, r, k))
		}
		return v
	}
	last := z.Checkpoints - 1
	steps := z.Steps[last] * int64(z.Runs)
	return map[string]any{
		"out": out, "runs": z.Runs, "checkpoints": z.Checkpoints, "params": z.Params, "steps": z.Steps,
		"arch": z.Meta.Arch.String(), "dataset": z.Meta.Dataset.Name, "seed": z.Meta.Seed, "backend": z.Meta.Backend,
		"final_test_acc": eval.Summarize(col(traj.MetricTestAcc, last)), "init_test_acc": eval.Summarize(col(traj.MetricTestAcc, 0)),
		"final_test_loss": eval.Summarize(col(traj.MetricTestLoss, last)),
		"wall_seconds":    wall.Seconds(), "model_steps_per_second": float64(steps) / wall.Seconds(),
	}
}
