package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nmflow/nmflow/nmflow/adjoint"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/ckptcheck"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/vae"
)

func init() {
	commands["finetune"] = command{"steer a meta-model towards a reward (adjoint matching); resumable", runFinetune}
}

func runFinetune(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("finetune", "finetune --model M --reward ce --dataset fashion-mnist --lambda L --iters N --out M2", stderr)
	modelDir := fs.String("model", "model", "base meta-model folder (written by 'nmflow fit'; a latent one, with vae/, is fine-tuned through its decoder)")
	reward := fs.String("reward", "ce", "reward: ce (−cross-entropy of the generated nets on a minibatch of --dataset)")
	dataset := fs.String("dataset", "", "dataset of the reward: "+strings.Join(data.Names(), ", ")+" (default: the base nets' own)")
	split := fs.String("split", "train", "split the reward's minibatches come from: train or test")
	dataDir := fs.String("data-dir", "", "local dataset folder (default $NMFLOW_DATA)")
	rewardBatch := fs.Int("reward-batch", 256, "images per reward minibatch")
	lambda := fs.Float64("lambda", adjoint.DefaultStandardLambda, "λ in p* ∝ p_base·exp(λ·r/s): larger trades closeness to the base for reward (s: the reward's spread over the base model's samples, 1 with --standardize=false)")
	standardize := fs.Bool("standardize", true, "measure the reward in units of its spread s over the base model's samples (measured once at the start, recorded in finetune.json); false: λ applies to r in nats per image")
	steps := fs.Int("steps", 20, "SDE steps per trajectory")
	times := fs.Int("times", 8, "loss times drawn per trajectory")
	batch := fs.Int("batch", 32, "trajectories per iteration")
	iters := fs.Int("iters", 120, "iterations")
	lr := fs.Float64("lr", 3e-3, "Adam learning rate")
	decay := fs.Bool("decay", true, "cosine decay of the learning rate to 0 over the iterations")
	clip := fs.Float64("clip", 1, "global gradient-norm clip (negative: off)")
	quantile := fs.Float64("loss-quantile", 0.9, "per-sample loss clipping at an EMA of this quantile (negative: off)")
	lossEMA := fs.Float64("loss-ema", 0.9, "EMA decay of the loss-clipping level")
	weight := fs.String("weight", adjoint.WeightOutput, "loss weighting over times: output (each term in units of the network's output) or adjoint (the paper's; unstable for target-prediction models)")
	seed := fs.Uint64("seed", 0, "seed (source draws, SDE noise, loss times, minibatches)")
	every := fs.Int("checkpoint-every", 10, "save a resumable checkpoint every N iterations")
	out := fs.String("out", "", "output folder: the fine-tuned meta-model (for 'nmflow sample'), finetune.json and checkpoints; an unfinished run there with the same settings is resumed")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	lrCut, maxCuts := lrCutFlags(fs, "the fine-tuning")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := checkLRCut(*lrCut, *maxCuts); err != nil {
		return err
	}
	// adjoint.Config reads 0 as "use the default" for these; say so rather than silently substituting.
	switch {
	case *out == "":
		return fmt.Errorf("--out must name the output folder")
	case *reward != "ce":
		return fmt.Errorf("unknown --reward %q (want ce; other rewards are available from Go through adjoint.Reward)", *reward)
	case *split != "train" && *split != "test":
		return fmt.Errorf("--split must be train or test, got %q", *split)
	case *dataset != "" && !slices.Contains(data.Names(), *dataset):
		return fmt.Errorf("unknown --dataset %q (want one of %s)", *dataset, strings.Join(data.Names(), ", "))
	case *rewardBatch < 1:
		return fmt.Errorf("--reward-batch must be ≥ 1, got %d", *rewardBatch)
	case math.IsNaN(*lambda) || math.IsInf(*lambda, 0) || *lambda < 0:
		return fmt.Errorf("--lambda must be a finite number ≥ 0, got %g", *lambda)
	case *steps < 2:
		return fmt.Errorf("--steps must be ≥ 2, got %d", *steps)
	case *times < 1 || *times > *steps-1:
		return fmt.Errorf("--times must be in 1..%d (--steps − 1), got %d", *steps-1, *times)
	case *batch < 1 || *iters < 1:
		return fmt.Errorf("--batch and --iters must be ≥ 1 (got %d, %d)", *batch, *iters)
	case !(*lr > 0):
		return fmt.Errorf("--lr must be > 0, got %g", *lr)
	case *clip == 0:
		return fmt.Errorf("--clip 0 would select the default 1; use a negative value to disable clipping")
	case *quantile == 0 || *quantile > 1:
		return fmt.Errorf("--loss-quantile must be in (0, 1] (negative: off), got %g", *quantile)
	case !(*lossEMA > 0 && *lossEMA < 1):
		return fmt.Errorf("--loss-ema must be in (0, 1), got %g", *lossEMA)
	case *weight != adjoint.WeightOutput && *weight != adjoint.WeightAdjoint:
		return fmt.Errorf("unknown --weight %q (want %s or %s)", *weight, adjoint.WeightOutput, adjoint.WeightAdjoint)
	case *every < 1:
		return fmt.Errorf("--checkpoint-every must be ≥ 1, got %d", *every)
	}
	if err := checkOutput("--out", *out, true, outpath.In("--model", *modelDir)); err != nil {
		return err
	}
	if err := ckptcheck.Tree(*modelDir); err != nil {
		return err
	}
	cfg := adjoint.Config{Lambda: *lambda, Steps: *steps, Times: *times, Batch: *batch, Iters: *iters, LR: *lr,
		Clip: *clip, LossQuantile: *quantile, LossEMA: *lossEMA, Weight: *weight, Seed: *seed, Standardize: *standardize, Decay: *decay}
	var err error
	if cfg, err = cfg.Defaults(); err != nil {
		return err
	}
	// A latent meta-model (fit --latent vae) generates latents: the reward reads the nets its VAE
	// decodes, and the output folder gets the VAE too, so 'nmflow sample' decodes the fine-tuned one.
	var lf *vae.LatentFlow
	var base *flow.Model
	var info flow.BaseInfo
	if vae.IsLatent(*modelDir) {
		if lf, err = vae.LoadLatent(*modelDir, nil); err != nil {
			return err
		}
		base, info = lf.Flow, lf.VAE.Base
	} else {
		if base, err = flow.Load(*modelDir, nil); err != nil {
			return err
		}
		info = base.Base
	}
	if err := info.Arch.CheckLayout(info.Layout); err != nil {
		return fmt.Errorf("%s has contradictory metadata: %v", *modelDir, err)
	}
	net, err := arch.New(info.Arch)
	if err != nil {
		return fmt.Errorf("the base model's architecture: %w", err)
	}
	name := *dataset
	if name == "" {
		name = info.Dataset.Name
	}
	ds, err := data.Load(name, data.Options{Dir: *dataDir, Log: stderr})
	if err != nil {
		return err
	}
	if !slices.Equal(ds.Shape, net.Spec().Input) || len(ds.Classes) != net.Spec().Classes {
		return fmt.Errorf("%s has %d classes of %v images, the base nets (%s) take %v inputs and %d classes", name, len(ds.Classes), ds.Shape, net.Spec(), net.Spec().Input, net.Spec().Classes)
	}
	// The nets see inputs preprocessed as in their own training, whatever the reward's dataset.
	meta := info.Dataset
	mean, std := meta.Mean, meta.Std
	if len(mean) == 0 {
		mean, std = make([]float32, ds.Shape[0]), slices.Repeat([]float32{1}, ds.Shape[0])
	}
	norm, err := feed.NewNorm(mean, std, ds.ExampleSize(), meta.Standardize)
	if err != nil {
		return err
	}
	sp := ds.Train
	if *split == "test" {
		sp = ds.Test
	}
	r, err := adjoint.NewCrossEntropy(net, name, sp, norm, *rewardBatch)
	if err != nil {
		return err
	}
	if !adjoint.Exact(base) {
		fmt.Fprintf(stderr, "nmflow finetune: note: the base model uses the %s source with %s coupling; the memoryless schedule is exact only for the gaussian source with independent coupling, so the result approximates p_base·exp(λr)\n", base.Config.Source, base.Config.Coupling)
	}
	lock, err := lockResumable(*out)
	if err != nil {
		return err
	}
	defer lock.Release()
	if prev, _ := adjoint.ReadResult(*out); prev != nil && prev.Iters < prev.Config.Iters {
		fmt.Fprintf(stderr, "nmflow finetune: resuming the run in %s at iteration %d of %d\n", *out, prev.Iters, prev.Config.Iters)
	}
	fmt.Fprintf(stderr, "nmflow finetune: %s from %s (%s, P=%d), λ=%g, %d iterations × %d trajectories × %d SDE steps\n",
		r.Name(), *modelDir, net.Spec(), net.Layout().Size(), cfg.Lambda, cfg.Iters, cfg.Batch, cfg.Steps)
	if lf != nil {
		fmt.Fprintf(stderr, "nmflow finetune: latent meta-model (d_z=%d): the reward reads the nets its VAE decodes; the VAE is copied to %s\n",
			lf.VAE.Config.LatentDim, filepath.Join(*out, vae.Dir))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ck := filepath.Join(*out, "finetune-ckpt") // adjoint's checkpoint folder
	ckBefore := ckptcheck.List(ck)
	said := 0
	if prev, _ := adjoint.ReadResult(*out); prev != nil {
		said = prev.Iters
	}
	start := time.Now()
	opt := adjoint.Options{Dir: *out, CheckpointEvery: *every, Progress: stderr, LRCut: *lrCut, MaxLRCuts: *maxCuts}
	var res *adjoint.Result
	if lf != nil {
		res, _, err = lf.FineTune(ctx, r, cfg, opt)
	} else {
		res, err = adjoint.FineTune(ctx, base, r, cfg, opt)
	}
	noteSetAside(stderr, "finetune", ck, ckBefore, said)
	if errors.Is(err, adjoint.ErrStopped) {
		saved := "no checkpoint was saved yet"
		if p, _ := adjoint.ReadResult(*out); p != nil {
			saved = fmt.Sprintf("the last checkpoint (iteration %d of %d) is in %s", p.Iters, p.Config.Iters, *out)
		}
		return fmt.Errorf("interrupted; %s: rerun the same command to resume", saved)
	}
	if err != nil {
		return err
	}
	wall := time.Since(start).Seconds()
	n := min(10, len(res.RewardHistory))
	summary := map[string]any{
		"out": *out, "model": *modelDir, "reward": res.Reward, "lambda": cfg.Lambda, "iters": res.Iters, "exact": res.Exact,
		"reward_first": jsonFloat(float64(res.RewardHistory[0])), "reward_last": jsonFloat(tailMean(res.RewardHistory, n)),
		"loss_last": jsonFloat(tailMean(res.Loss, n)), "kl_last": jsonFloat(tailMean(res.KL, n)),
		"wall_seconds": wall, "total_seconds": res.WallSeconds, "seed": cfg.Seed, "lambda_applied": res.LambdaApplied,
	}
	if cfg.Standardize {
		summary["reward_spread"], summary["reward_mean"] = res.RewardSpread, res.RewardMean
	}
	if len(res.LRCuts) > 0 {
		summary["lr_cuts"] = res.LRCuts
	}
	if lf != nil {
		summary["latent"] = "vae"
	}
	for i, m := range res.Metrics {
		summary[m+"_first"] = jsonFloat(float64(res.MetricHistory[i][0]))
		summary[m+"_last"] = jsonFloat(tailMean(res.MetricHistory[i], n))
	}
	if *asJSON {
		return printJSON(stdout, summary)
	}
	fmt.Fprintf(stdout, "wrote %s: %s fine-tuned with %s, λ=%g, %d iterations (%.1f s)\n", *out, *modelDir, res.Reward, cfg.Lambda, res.Iters, wall)
	if cfg.Standardize {
		fmt.Fprintf(stdout, "reward standardized: spread %.4g over the base model's samples (mean %.4g), so λ on r is %.4g\n", res.RewardSpread, res.RewardMean, res.LambdaApplied)
	}
	fmt.Fprintf(stdout, "reward %.4f → %.4f (mean of last %d)", res.RewardHistory[0], tailMean(res.RewardHistory, n), n)
	for i, m := range res.Metrics {
		fmt.Fprintf(stdout, ", %s %.4f → %.4f", m, res.MetricHistory[i][0], tailMean(res.MetricHistory[i], n))
	}
	fmt.Fprintf(stdout, "; KL proxy %.3g; sample it with: nmflow sample --model %s\n", tailMean(res.KL, n), *out)
	for _, c := range res.LRCuts {
		fmt.Fprintf(stdout, "learning rate ×%g from iteration %d (%s at iteration %d)\n", c.Scale, c.Step, c.What, c.Diverged)
	}
	return nil
}
