package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/ckptcheck"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/vae"
)

func runFit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fit", "fit --zoo zoo.safetensors --method cfm|mmfm|jko --source kaiming|gaussian --coupling trajectory|independent|ot --steps N --out model-dir", stderr)
	def, err := flow.Config{}.Defaults() // the library's defaults are the CLI's
	if err != nil {
		return err
	}
	zooPath := fs.String("zoo", "zoo.safetensors", "trajectory file written by 'nmflow zoo'")
	method := fs.String("method", flow.MethodCFM, "meta-model: cfm (straight path init → final), mmfm (spline through intermediate checkpoints) or jko (potential stepping checkpoint to checkpoint)")
	inter := fs.Int("intermediates", 0, "mmfm/jko: intermediate checkpoints used as anchors, evenly spread (0: all, -1: none)")
	interp := fs.String("interp", flow.InterpCubic, "mmfm: interpolant through the anchors: cubic (not-a-knot spline) or linear")
	anchorTimes := fs.String("anchor-times", "", "mmfm/jko: anchor times: uniform, steps (proportional to training steps) or arc (to the distance travelled)")
	noise := fs.String("noise", flow.NoiseConstant, "mmfm: noise schedule: constant (σ) or adaptive (σ·√(s(1−s)) between anchors)")
	sigmaMin := fs.Float64("sigma-min", 0, "mmfm: floor of the adaptive σ")
	tau := fs.Float64("jko-tau", 1, "jko: step size τ")
	timeDep := fs.Bool("jko-time", false, "jko: time-dependent potential V(x, t)")
	jkoSub := fs.Int("jko-substeps", 0, fmt.Sprintf("jko: explicit steps per anchor interval, each fitted at its point of the chord between the anchors (0: %d)", flow.DefaultJKOSubSteps))
	jkoSep := fs.String("jko-separable", flow.SeparableShift, "jko: the potential's per-coordinate term: shift (c_j·x per anchor interval), interval (c_j·x + ½Σd_ji·x_i² per interval) or shared (one c·x + ½Σd_i·x_i² for all steps: fits made before the flag existed)")
	source := fs.String("source", flow.SourceKaiming, "source law at t=0: kaiming (the zoo's own init law) or gaussian (N(0,I) in normalized space)")
	coupling := fs.String("coupling", flow.CouplingIndependent, "source/target coupling: independent (generalizes from fresh inits), trajectory (each run's own init: retraces the zoo's runs in-sample) or ot")
	alignMode := fs.String("align", "", "permutation alignment of the zoo before fitting: weights (weight matching; the default) or none (the default with --condition, where it measured better)")
	sigma := fs.Float64("sigma", 0, "constant noise σ of the path x_t = (1−t)x0 + t·x1 + σε")
	predict := fs.String("predict", "", "network output: target (cfm's default: the endpoint D of the path's tangent; v = (D − x_t)/(1 − t)) or velocity (v directly; mmfm's default, jko's only choice)")
	skew := fs.Float64("time-skew", 0, fmt.Sprintf("draw training times as t = u^skew (> 1 favours early times; default %d with --predict target, else 1)", flow.DefaultTimeSkew))
	norm := fs.String("norm", flow.NormLayer, "weight normalization fitted on the zoo: layer, param or none")
	target := fs.Int("target", -1, "zoo checkpoint used as x1 (negative counts from the end: -1 is the last)")
	steps := fs.Int("steps", 0, fmt.Sprintf("optimizer steps (0: %d, jko %d; with --condition: --steps-per-run per run of all the tasks)", def.Steps, flow.DefaultJKOSteps))
	batch := fs.Int("batch", def.BatchSize, "minibatch size")
	lr := fs.Float64("lr", def.LR, "peak learning rate (AdamW, linear warm-up then cosine decay)")
	warmup := fs.Int("warmup", 0, "warm-up steps (0: steps/20)")
	wd := fs.Float64("weight-decay", def.WeightDecay, "AdamW decoupled weight decay")
	clip := fs.Float64("clip", def.Clip, "global gradient-norm clip (negative: off)")
	width := fs.Int("width", 0, fmt.Sprintf("velocity net hidden width (0: %d, jko %d)", def.Net.Width, flow.DefaultJKOWidth))
	skip := fs.String("net-skip", flow.SkipNone, "velocity net output skip: diag (a per-coordinate term that lets the flow move every weight) or none (the output spans only --width directions; fits made before it existed)")
	depth := fs.Int("depth", def.Net.Depth, "velocity net residual blocks")
	timeDim := fs.Int("time-dim", def.Net.TimeDim, "sinusoidal time-embedding size (even)")
	ema := fs.Float64("ema", def.EMA, "EMA decay of the weights used for sampling")
	seed := fs.Uint64("seed", 0, "seed (net init, minibatches, source draws, times, noise)")
	every := fs.Int("checkpoint-every", 200, "save a resumable checkpoint every N steps")
	out := fs.String("out", "model", "output folder (model.json + ckpt/); an unfinished fit there with the same settings is resumed")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	lrCut, maxCuts := lrCutFlags(fs, "the fit")
	latent := addLatentFlags(fs)
	cond := addCondFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out must name the model folder")
	}
	if err := checkLRCut(*lrCut, *maxCuts); err != nil {
		return err
	}
	if *steps < 0 || *batch < 1 {
		return fmt.Errorf("--steps must be ≥ 0 (0: the default) and --batch ≥ 1 (got %d, %d)", *steps, *batch)
	}
	if *width < 0 || *depth < 0 {
		return fmt.Errorf("--width must be ≥ 1 (0: the default) and --depth ≥ 0 (got %d, %d)", *width, *depth)
	}
	if *every < 1 {
		return fmt.Errorf("--checkpoint-every must be ≥ 1, got %d", *every)
	}
	if *target == 0 {
		return fmt.Errorf("--target 0 is the init checkpoint; the flow needs a later one (≥ 1, or negative to count from the end)")
	}
	cfg := flow.Config{
		Method: *method, Source: *source, Coupling: *coupling, Sigma: *sigma, Norm: *norm, Predict: *predict, TimeSkew: *skew, Align: *alignMode,
		Net:    flow.NetConfig{Width: *width, Depth: *depth, TimeDim: *timeDim, Skip: *skip},
		Target: *target, Steps: *steps, BatchSize: *batch, LR: *lr, WarmUp: *warmup, WeightDecay: *wd,
		Clip: *clip, EMA: *ema, Seed: *seed, Intermediates: *inter,
	}
	if *method != flow.MethodCFM {
		cfg.MMFM = flow.MMFMConfig{Interp: *interp, Times: *anchorTimes, Noise: *noise, SigmaMin: *sigmaMin}
	}
	if *method == flow.MethodJKO {
		cfg.JKO = flow.JKOConfig{Tau: *tau, TimeDependent: *timeDep, Separable: *jkoSep, SubSteps: *jkoSub}
	}
	// flow.Config reads 0 as "use the default" for these; say so rather than silently substituting.
	switch {
	case *skew != 0 && !(*skew >= 1):
		return fmt.Errorf("--time-skew must be ≥ 1, got %g", *skew)
	case !(*lr > 0):
		return fmt.Errorf("--lr must be > 0, got %g", *lr)
	case *ema == 0:
		return fmt.Errorf("--ema 0 would select the default %g; use a small positive decay (e.g. 1e-9) to sample with the last weights", def.EMA)
	case *wd == 0:
		return fmt.Errorf("--weight-decay 0 would select the default 0.01; use a tiny positive value (e.g. 1e-12) for no decay")
	case *clip == 0:
		return fmt.Errorf("--clip 0 would select the default 1; use a negative value to disable clipping")
	case *tau <= 0:
		return fmt.Errorf("--jko-tau must be > 0, got %g", *tau)
	case !(*ema > 0 && *ema < 1):
		return fmt.Errorf("--ema must be in (0,1), got %g", *ema)
	case *wd < 0 || *sigma < 0 || *sigmaMin < 0:
		return fmt.Errorf("--weight-decay, --sigma and --sigma-min must be ≥ 0, got %g, %g and %g", *wd, *sigma, *sigmaMin)
	case *timeDim < 0 || *timeDim%2 != 0 || *warmup < 0 || *inter < -1:
		return fmt.Errorf("--time-dim must be even and ≥ 0 (0: default), --warmup ≥ 0 and --intermediates ≥ -1; got %d, %d and %d", *timeDim, *warmup, *inter)
	case *norm != flow.NormLayer && *norm != flow.NormParam && *norm != flow.NormNone:
		return fmt.Errorf("unknown --norm %q (want %s, %s or %s)", *norm, flow.NormLayer, flow.NormParam, flow.NormNone)
	}
	if err := latent.configure(fs, &cfg, *seed); err != nil {
		return err
	}
	if err := cond.configure(fs, &cfg); err != nil {
		return err
	}
	if cfg, err = cfg.Defaults(); err != nil { // fail on bad flags before loading the zoo
		return err
	}
	if err := checkOutput("--out", *out, true, outpath.In("--zoo", *zooPath)); err != nil {
		return err
	}
	var z *traj.Zoo
	var tasks []flow.CondTask
	if cfg.Cond != nil {
		if tasks, err = cond.load(*zooPath, stderr); err != nil {
			return err
		}
		if z, err = flow.MergeTasks(tasks); err != nil { // all tasks' runs: what a shared VAE trains on
			return err
		}
	} else if z, err = traj.ReadZoo(*zooPath); err != nil {
		return err
	}
	if *latent.kind == "" {
		if err := checkFitMemory(z, cfg.Net.Width, cfg.Net.Depth, cfg.BatchSize); err != nil {
			return err
		}
	}
	lock, err := lockResumable(*out)
	if err != nil {
		return err
	}
	defer lock.Release()
	prev, prevErr := flow.ReadModelJSON(*out)
	switch {
	case prevErr != nil:
		return prevErr
	case prev != nil && prev.Steps >= prev.Config.Steps:
		fmt.Fprintf(stderr, "nmflow fit: %s already holds a finished fit (%d steps); checking its settings\n", *out, prev.Steps)
	case prev != nil:
		fmt.Fprintf(stderr, "nmflow fit: resuming the fit in %s at step %d of %d\n", *out, prev.Steps, prev.Config.Steps)
	}
	budget := fmt.Sprintf("%d steps", cfg.Steps)
	if cfg.Cond != nil && cfg.Steps == 0 {
		budget = fmt.Sprintf("%d steps (%d per run)", cfg.Cond.StepsPerRun*z.Runs, cfg.Cond.StepsPerRun)
	}
	fmt.Fprintf(stderr, "nmflow fit: %s %s/%s on %s (%d runs × P=%d, %s), net %d×%d, %s\n",
		cfg.Method, cfg.Source, cfg.Coupling, *zooPath, z.Runs, z.Params, z.Meta.Arch, cfg.Net.Width, cfg.Net.Depth, budget)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	before := 0
	if prev != nil {
		before = prev.Steps
	}
	var lat *vae.Model
	if *latent.kind != "" {
		if lat, err = latent.prepare(ctx, z, tasks, *out, stderr); err != nil {
			return err
		}
	}
	ck, ckBefore := filepath.Join(*out, "ckpt"), ckptcheck.List(filepath.Join(*out, "ckpt"))
	start := time.Now()
	fopt := flow.Options{Dir: *out, CheckpointEvery: *every, Progress: stderr, LRCut: *lrCut, MaxLRCuts: *maxCuts}
	var m *flow.Model
	if lat != nil {
		var lf *vae.LatentFlow
		if tasks != nil {
			lf, err = vae.FitLatentCond(ctx, lat, tasks, cfg, fopt)
		} else {
			lf, err = vae.FitLatent(ctx, lat, z, cfg, fopt)
		}
		if lf != nil {
			m = lf.Flow
		}
	} else if tasks != nil {
		m, err = flow.FitConditional(ctx, tasks, cfg, fopt)
	} else {
		m, err = flow.Fit(ctx, z, cfg, fopt)
	}
	if prev != nil {
		before = noteSetAside(stderr, "fit", ck, ckBefore, before)
	}
	if errors.Is(err, flow.ErrStopped) {
		saved := "no checkpoint was saved yet"
		if p, _ := flow.ReadModelJSON(*out); p != nil {
			saved = fmt.Sprintf("the last checkpoint (step %d of %d) is in %s", p.Steps, p.Config.Steps, *out)
		}
		return fmt.Errorf("interrupted; %s: rerun the same command to resume", saved)
	}
	if err != nil {
		return err
	}
	wall := time.Since(start).Seconds()
	done := m.Steps - before
	rate := 0.0
	if done > 0 && wall > 0 {
		rate = float64(done) / wall
	} else if m.WallSeconds > 0 {
		rate = float64(m.Steps) / m.WallSeconds
	}
	summary := map[string]any{
		"out": *out, "zoo": *zooPath, "method": m.Config.Method, "source": m.Config.Source, "coupling": m.Config.Coupling, "align": m.Config.Align,
		"norm": m.Config.Norm, "sigma": m.Config.Sigma, "seed": m.Config.Seed,
		"steps": m.Steps, "steps_this_run": done, "resumed_from": before,
		"final_loss":   jsonFloat(tailMean(m.History, 50)),
		"wall_seconds": wall, "total_fit_seconds": m.WallSeconds, "steps_per_second": rate,
		"target_checkpoint": m.TargetCheckpoint, "base_params": m.Base.Layout.Size(), "base_arch": m.Base.Arch.String(),
		"net": m.Config.Net,
	}
	if len(m.AnchorCheckpoints) > 0 {
		summary["anchor_checkpoints"], summary["anchor_times"] = m.AnchorCheckpoints, m.AnchorTimes
	}
	if len(m.History) > 0 {
		summary["first_loss"] = float64(m.History[0])
	}
	if len(m.LRCuts) > 0 {
		summary["lr_cuts"] = m.LRCuts
	}
	if lat != nil {
		summary["latent"] = latentSummary(lat)
	}
	if c := m.Config.Cond; c != nil {
		summary["condition"] = c
	}
	velParams, perr := flow.VelocityParams(*out)
	if perr == nil && velParams > 0 {
		summary["velocity_params"] = velParams
	}
	if *asJSON {
		return printJSON(stdout, summary)
	}
	status := fmt.Sprintf("%d steps", m.Steps)
	switch {
	case done == 0:
		status += " (already complete; nothing to do)"
	case before > 0:
		status += fmt.Sprintf(" (resumed at step %d)", before)
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s/%s meta-model, %s\n", *out, m.Config.Method, m.Config.Source, m.Config.Coupling, status)
	np := ""
	if velParams > 0 {
		np = fmt.Sprintf(", velocity net %s params", groupDigits(velParams))
	}
	fmt.Fprintf(stdout, "final loss %.4f (mean of last %d)%s; %.1f s, %.1f steps/s\n",
		tailMean(m.History, 50), min(50, len(m.History)), np, wall, rate)
	for _, c := range m.LRCuts {
		fmt.Fprintf(stdout, "learning rate ×%g from step %d (%s at step %d)\n", c.Scale, c.Step, c.What, c.Diverged)
	}
	if lat != nil {
		printLatent(stdout, *out, lat)
	}
	return nil
}
