package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/downstream"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

func init() {
	commands["init-bench"] = command{"fine-tune generated weights and init-law nets side by side: accuracy at step 0, ¼ epoch, 1 epoch, final", runInitBench}
}

func runInitBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init-bench", "init-bench --generated gen.safetensors [--dataset D] [--steps S] [--n N] [--out bench.json] [--json]", stderr)
	genPath := fs.String("generated", "generated.safetensors", "generated weights written by 'nmflow sample' (or any [N,P] weights file of the same container)")
	dataset := fs.String("dataset", "", "dataset to fine-tune and test on (default: the one the generated nets' zoo was trained on); another one measures transfer")
	dir := fs.String("dir", "", "local dataset folder (default $NMFLOW_DATA)")
	n := fs.Int("n", 0, "nets per set: the first N generated nets and N init-law nets (0: all generated nets)")
	steps := fs.Int64("steps", 0, "optimizer steps (0: two epochs of the training subset)")
	points := fs.Int("points", 8, "extra checkpoints for the curves, spaced geometrically from step 1 to --steps")
	initLaw := fs.String("init", "", "init law of the baseline nets: "+strings.Join(arch.Laws(), ", ")+" (default: the generated nets' own source law)")
	optim := fs.String("optimizer", "sgd", "sgd or adam")
	lr := fs.Float64("lr", 0, "learning rate (default 0.05 for sgd, 1e-3 for adam)")
	momentum := fs.Float64("momentum", 0.9, "sgd momentum")
	wd := fs.Float64("weight-decay", 0, "L2 weight decay")
	batch := fs.Int("batch", 128, "minibatch size per net")
	trainSize := fs.Int("train-size", 0, "fine-tune on a seeded subset of this many training examples (0: all)")
	testSize := fs.Int("test-size", 0, "test on the first N test examples (0: all)")
	seed := fs.Uint64("seed", 0, "seed (minibatch order, train subset, baseline init draws)")
	out := fs.String("out", "", "write the result as JSON to this file and the table as text beside it (.txt)")
	asJSON := fs.Bool("json", false, "print the JSON result on stdout")
	transfer := fs.String("transfer", "auto", "prepare the generated nets for another task (redraw the output layer, center every unit below and rescale it to the init law's scale: downstream.ForTransfer): auto (when --dataset is not the generated nets' own), on or off")
	keep := fs.Float64("keep", downstream.DefaultKeep, "with --transfer: weight of the generated features below the output layer, mixed with a fresh init draw at the init law's scale (0: init-law nets, 1: the generated features at init scale)")
	lrCut, maxCuts := lrCutFlags(fs, "a net")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := checkLRCut(*lrCut, *maxCuts); err != nil {
		return err
	}
	switch {
	case *n < 0:
		return fmt.Errorf("--n must be ≥ 0, got %d", *n)
	case *steps < 0:
		return fmt.Errorf("--steps must be ≥ 0 (0: two epochs), got %d", *steps)
	case *points < 1:
		return fmt.Errorf("--points must be ≥ 1, got %d", *points)
	case *transfer != "auto" && *transfer != "on" && *transfer != "off":
		return fmt.Errorf("--transfer must be auto, on or off, got %q", *transfer)
	case !(*keep >= 0 && *keep <= 1):
		return fmt.Errorf("--keep must be in [0, 1], got %g", *keep)
	}
	if err := checkZooFlags(fs); err != nil {
		return err
	}
	g, err := traj.ReadGenerated(*genPath)
	if err != nil {
		return err
	}
	gen, err := downstream.FromGenerated("generated", g, *n)
	if err != nil {
		return err
	}
	law := *initLaw
	if law == "" {
		if law = g.Meta.Init; law == "" {
			law = arch.InitPyTorch
		}
	}
	count := len(gen.Weights) / g.P
	base, err := downstream.InitLaw(law, g.Meta.Layout, law, count, *seed)
	if err != nil {
		return err
	}
	name := *dataset
	if name == "" {
		if name = g.Meta.Dataset.Name; name == "" {
			return fmt.Errorf("%s does not record its dataset; pass --dataset", *genPath)
		}
	}
	if *out != "" {
		if err := checkOutput("--out", *out, false, outpath.In("--generated", *genPath)); err != nil {
			return err
		}
		if err := checkReplace("--out", *out, "", false, nil); err != nil {
			return err
		}
	}
	ds, err := data.Load(name, data.Options{Dir: *dir, Log: stderr})
	if err != nil {
		return err
	}
	other := g.Meta.Dataset.Name != "" && ds.Name != g.Meta.Dataset.Name
	if other {
		fmt.Fprintf(stderr, "nmflow init-bench: note: the generated nets come from a %s zoo; fine-tuning them on %s measures transfer\n", g.Meta.Dataset.Name, ds.Name)
	}
	sets := []downstream.Set{gen, base}
	prepared := *transfer == "on" || (*transfer == "auto" && other)
	if prepared {
		// The nets as sampled stay in the comparison, so the table shows what the preparation buys.
		raw := gen
		raw.Name = "generated, as sampled"
		if gen, err = downstream.ForTransfer(gen, law, *keep, *seed); err != nil {
			return err
		}
		sets = []downstream.Set{gen, raw, base}
		fmt.Fprintf(stderr, "nmflow init-bench: generated nets prepared for transfer: output layer redrawn from %s, units below centered and rescaled to its scale, keep %g (--transfer off to compare them as sampled only)\n", law, *keep)
	}
	cfg := downstream.Config{Steps: *steps, Points: *points, Train: zoo.Config{
		Arch: g.Meta.Arch, BatchSize: *batch, Optimizer: *optim, LR: *lr, Momentum: *momentum, WeightDecay: *wd,
		Seed: *seed, Standardize: g.Meta.Dataset.Standardize, TrainSize: *trainSize, TestSize: *testSize, EvalTrain: 2000,
	}}
	fmt.Fprintf(stderr, "nmflow init-bench: %d generated + %d %s nets of %s on %s\n", count, count, law, g.Meta.Arch, ds.Name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := downstream.Compare(ctx, cfg, ds, sets, zoo.Options{LRCut: *lrCut, MaxLRCuts: *maxCuts})
	if errors.Is(err, zoo.ErrStopped) {
		return fmt.Errorf("interrupted (fine-tuning does not resume: rerun the command)")
	}
	var diverged *zoo.DivergedError
	if errors.As(err, &diverged) && *lrCut == 0 {
		return fmt.Errorf("%w\nrerun with --lr-cut 0.5, or a lower --lr", err)
	}
	if err != nil {
		return err
	}
	doc := struct {
		*downstream.Result
		Generated     string            `json:"generated_file"`
		Generator     map[string]string `json:"generator,omitempty"`
		BaselineLaw   string            `json:"baseline_init"`
		TransferFrom  string            `json:"trained_on,omitempty"`
		Keep          *float64          `json:"transfer_keep,omitempty"`
		BaselineNotes string            `json:"note"`
	}{res, *genPath, g.Meta.Extra, law, g.Meta.Dataset.Name, keepIf(prepared, *keep),
		"sets[i].test_acc[k][j]: net j of set i at steps[k]; net j of every set sees the same minibatches"}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	text := res.Text()
	if *out != "" {
		if err := traj.WriteAtomic(*out, func(w io.Writer) error { _, err := w.Write(append(js, '\n')); return err }); err != nil {
			return err
		}
		txt := strings.TrimSuffix(*out, ".json") + ".txt"
		if err := traj.WriteAtomic(txt, func(w io.Writer) error { _, err := io.WriteString(w, text); return err }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "nmflow init-bench: wrote %s and %s\n", *out, txt)
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", js)
		return err
	}
	_, err = fmt.Fprint(stdout, text)
	return err
}

// keepIf is the keep weight for the JSON record when the generated nets were prepared for
// transfer, nil otherwise.
func keepIf(prepared bool, keep float64) *float64 {
	if !prepared {
		return nil
	}
	return &keep
}
