package adjoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/optim"
	"github.com/nmflow/nmflow/nmflow/progress"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// The fine-tuning record written next to the fine-tuned model.
const (
	ResultFormat  = "nmflow.finetune"
	ResultVersion = 1
	resultFile    = "finetune.json"
	stateDir      = "finetune-ckpt" // GoMLX checkpoints of the run (weights + Adam state)
	modelFile     = "model.json"
)

// Options control a run without changing its result.
type Options struct {
	// Dir, when set, receives the fine-tuned meta-model (model.json + ckpt/, readable by flow.Load
	// and `nmflow sample`), the record finetune.json, and resumable checkpoints in finetune-ckpt/
	// every CheckpointEvery iterations. A run found there with the same configuration is resumed.
	Dir             string
	CheckpointEvery int       // default 10
	Progress        io.Writer // nil: a bar on stderr or in the notebook; io.Discard: none
	// StopAfter > 0 stops with ErrStopped after that many iterations of this call (tests, slicing).
	StopAfter int
	// Decoder maps the meta-model's space to raw weights for the reward (nil: the base model's
	// inverse normalizer). Set it for latent meta-models.
	Decoder Decoder
	// LRCut in (0,1) continues a run that diverges (a NaN or Inf loss or gradient norm): it goes
	// back to the last checkpoint in Dir (the start when none was saved yet), multiplies the
	// learning rate by LRCut from there on and goes on, at most MaxLRCuts times; the cuts are
	// recorded in Result.LRCuts (finetune.json), so a resumed run reapplies them, and are not
	// part of Config, so rerunning a stopped run with the same Config and an LRCut continues it
	// from its last checkpoint. It needs Dir. 0 stops with a *DivergedError instead. A run that
	// does not diverge is unaffected (flow.Options.LRCut and zoo.Options.LRCut do the same).
	LRCut float64
	// MaxLRCuts bounds the cuts of a run, those recorded by earlier (resumed) calls included
	// (default 3).
	MaxLRCuts int
}

// DivergedError reports a NaN or Inf loss or gradient norm. Nothing of that iteration is kept; the
// last checkpoint in Options.Dir (if any) is from before it and is kept: see Options.LRCut.
type DivergedError struct {
	Iter int // the iteration (0-based) whose loss or gradient norm was not finite
	optim.Divergence
}

func (e *DivergedError) Error() string { return e.Message(fineTuner, e.Iter) }

var fineTuner = optim.Trainer{Pkg: "adjoint", Unit: "iteration", Run: "fine-tuning", Knobs: "the learning rate, λ or the gradient clip"}

// ErrStopped reports a run interrupted by Options.StopAfter or a cancelled context.
var ErrStopped = errors.New("adjoint: fine-tuning stopped before the last iteration (resume with the same directory)")

// BaseRef identifies the base meta-model of a run, so a resume cannot mix models.
type BaseRef struct {
	Created  string `json:"created"`
	Steps    int    `json:"steps"`
	ZooSeed  uint64 `json:"zoo_seed"`
	Params   int    `json:"params"`
	Source   string `json:"source"`
	Coupling string `json:"coupling"`
	Predict  string `json:"predict"`
}

// Result is the record of a run (saved as finetune.json) and the fine-tuned model.
type Result struct {
	Format        string   `json:"format"`
	Version       int      `json:"version"`
	NmflowVersion string   `json:"nmflow_version"`
	Config        Config   `json:"config"`
	Reward        string   `json:"reward"`
	Metrics       []string `json:"metrics,omitempty"`
	Base          BaseRef  `json:"base"`
	// Exact says whether the memoryless schedule is exact for the base model (see Exact).
	Exact bool `json:"exact"`
	// With Config.Standardize: the mean and standard deviation of the reward over the base
	// model's samples, measured before the first iteration (a resumed run reads them here).
	RewardMean   float64 `json:"reward_mean,omitempty"`
	RewardSpread float64 `json:"reward_spread,omitempty"`
	// LambdaApplied is the λ the tilt applies to the reward as Reward computes it:
	// Config.Lambda/RewardSpread when standardized, else Config.Lambda.
	LambdaApplied float64 `json:"lambda_applied"`
	Iters         int     `json:"iters_done"`
	// Per iteration: mean reward and metrics of that iteration's fine-tuned SDE samples, the
	// (clipped) loss, the KL proxy ½∫‖u‖²dt, the gradient norm before clipping, the clip level.
	RewardHistory []float32   `json:"reward_history"`
	MetricHistory [][]float32 `json:"metric_history,omitempty"` // [metric][iteration]
	Loss          []float32   `json:"loss_history"`
	KL            []float32   `json:"kl_history"`
	GradNorm      []float32   `json:"grad_norm_history"`
	ClipLevel     []float64   `json:"clip_level_history"`
	WallSeconds   float64     `json:"wall_seconds"`
	// LRCuts lists the learning-rate cuts made after divergences (Options.LRCut), in order; Step
	// and Diverged count iterations: from iteration Step on, the learning rate is Config.LR·Scale.
	LRCuts []flow.LRCut `json:"lr_cuts,omitempty"`

	Model *flow.Model `json:"-"` // the fine-tuned meta-model; sample it like any other

	saved int // iterations done at the newest checkpoint in the output folder (0: none)
}

// lrScaleAt is the learning-rate multiplier of iteration it: that of the last cut made at or
// before it (as flow.Model's). Cuts go back to checkpoints, which only move forward.
func (r *Result) lrScaleAt(it int) float64 {
	scale := 1.0
	for _, c := range r.LRCuts {
		if c.Step <= it {
			scale = c.Scale
		}
	}
	return scale
}

// Exact reports whether the memoryless schedule is exact for m: its flow must carry a standard
// Gaussian N(0, I) (in normalized space), drawn independently of the data, along the linear
// path without extra noise — flow.SourceGaussian, flow.CouplingIndependent, Sigma 0. Only then
// is the score a function of the velocity, (t·v − x)/(1 − t), so that the SDE with drift
// 2v − x/t and σ(t) = √(2(1−t)/t) has the ODE's marginals and forgets its start. For other
// models (the Kaiming source, trajectory or OT couplings) the schedule uses the source's
// per-parameter mean and std and is an approximation: fine-tuning still raises the reward, but
// its result is not exactly p_base·exp(λr).
func Exact(m *flow.Model) bool {
	c := m.Config
	return c.Source == flow.SourceGaussian && c.Coupling == flow.CouplingIndependent && c.Sigma == 0
}

func refOf(m *flow.Model) BaseRef {
	return BaseRef{Created: m.Created, Steps: m.Steps, ZooSeed: m.Base.ZooSeed, Params: m.Base.Layout.Size(),
		Source: m.Config.Source, Coupling: m.Config.Coupling, Predict: m.Config.Predict}
}

// FineTune steers base towards p*(θ) ∝ p_base(θ)·exp(λ·r(θ)) by adjoint matching (Domingo-Enrich
// et al., ICLR 2025; METHODS.md §7) and returns the record with the fine-tuned model.
func FineTune(ctx context.Context, base *flow.Model, reward Reward, cfg Config, opt Options) (*Result, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	if base == nil || base.Weights() == nil {
		return nil, fmt.Errorf("adjoint: the base model has no weights (load it with flow.Load or fit it)")
	}
	if reward == nil {
		return nil, fmt.Errorf("adjoint: no reward given (adjoint.NewCrossEntropy, adjoint.Linear or your own adjoint.Reward)")
	}
	if !(opt.LRCut >= 0 && opt.LRCut < 1) {
		return nil, fmt.Errorf("adjoint: Options.LRCut must be in (0,1) (0: stop on divergence), got %v", opt.LRCut)
	}
	if opt.LRCut > 0 && opt.Dir == "" {
		return nil, fmt.Errorf("adjoint: Options.LRCut needs Options.Dir: a divergence goes back to the last checkpoint saved there")
	}
	mean, std, err := base.SourceMoments()
	if err != nil {
		return nil, err
	}
	decode := opt.Decoder
	if decode == nil {
		decode = Denormalize(base.Norm.Mean, base.Norm.Std)
	}
	res := &Result{Config: cfg, Reward: reward.Name(), Metrics: reward.Metrics(), Base: refOf(base), Exact: Exact(base)}
	res.MetricHistory = make([][]float32, len(res.Metrics))

	// The fine-tuned field under /vel and a frozen copy of the base under /base/vel, both starting
	// at the base's weights; a function, since a resume may have to try more than one checkpoint.
	var frozen []*model.Variable
	newStore := func() (*model.Store, error) {
		store := model.NewStore()
		frozen = frozen[:0]
		for v := range base.Weights().IterVariables() {
			path := model.JoinPath(v.Scope(), v.Name())
			for _, p := range []string{"/" + baseScope + path, path} {
				val, err := v.Value()
				if err != nil {
					return nil, fmt.Errorf("adjoint: reading %s: %w", path, err)
				}
				clone, err := val.LocalClone()
				if err != nil {
					return nil, fmt.Errorf("adjoint: copying %s: %w", path, err)
				}
				nv, err := store.CreateVariable(p, clone)
				if err != nil {
					return nil, fmt.Errorf("adjoint: %w", err)
				}
				if p != path {
					frozen = append(frozen, nv.SetTrainable(false))
				}
			}
		}
		return store, nil
	}
	// open starts the engine on a store: a fresh one at the base's weights, or the newest
	// loadable checkpoint of the output folder (with the handler that saves the next ones) when
	// there is one; the record is cut back to the checkpoint's iteration.
	open := func() (*engine, *checkpoint.Handler, error) {
		var store *model.Store
		var ckpt *checkpoint.Handler
		var err error
		if opt.Dir != "" {
			store, ckpt, err = res.loadState(opt.Dir, newStore)
			if ckpt != nil {
				ckpt.ExcludeVarsFromSaving(frozen...) // the base weights come from the base model
			}
		} else {
			store, err = newStore()
		}
		if err != nil {
			return nil, nil, err
		}
		eng, err := newEngine(base.ComputeBackend(), cfg, store, base.Field, base.FieldGradients, base.FieldScale, mean, std, base.DrawSource, reward, decode)
		if err == nil && res.LambdaApplied > 0 {
			eng.lambda = res.LambdaApplied
		}
		return eng, ckpt, err
	}
	if opt.Dir != "" {
		if err := res.resume(opt.Dir); err != nil {
			return nil, err
		}
	}
	eng, ckpt, err := open()
	if err != nil {
		return nil, err
	}
	if err := res.scaleReward(eng); err != nil {
		return nil, err
	}
	if eng, err = res.run(ctx, eng, ckpt, opt, open); err != nil {
		return nil, err
	}
	store := eng.store
	if res.Model, err = base.WithWeights(store); err != nil {
		return nil, err
	}
	if opt.Dir != "" {
		if err := res.Model.SaveAs(opt.Dir); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// scaleReward sets the λ the engine applies to the reward: Config.Lambda, or, with
// Config.Standardize, Config.Lambda over the reward's spread under the base model, measured on
// a fresh run (the fine-tuned field is still the base's) and read from the record on a resume.
func (r *Result) scaleReward(eng *engine) error {
	cfg := r.Config
	switch {
	case !cfg.Standardize:
		r.LambdaApplied = cfg.Lambda
	case r.RewardSpread == 0 && r.Iters > 0:
		return fmt.Errorf("adjoint: the record of this standardized run has no reward spread; remove the output folder to start over")
	case r.RewardSpread == 0:
		var err error
		if r.RewardMean, r.RewardSpread, err = eng.spread(); err != nil {
			return err
		}
		r.LambdaApplied = cfg.Lambda / r.RewardSpread
	}
	eng.lambda = r.LambdaApplied
	return nil
}

// resume checks what the output folder dir holds and, when it is a run with the same settings,
// restores its record (loadState then cuts it back to the checkpoint's iteration). The learning-
// rate cuts of the record are not settings: a run stopped by a divergence resumes with an LRCut.
func (r *Result) resume(dir string) error {
	js := filepath.Join(dir, resultFile)
	if !exists(js) {
		switch {
		case exists(filepath.Join(dir, modelFile)):
			return fmt.Errorf("adjoint: %s holds a meta-model that is not a fine-tuning result; choose another output folder", dir)
		case exists(filepath.Join(dir, stateDir)):
			return fmt.Errorf("adjoint: %s has a %s/ folder but no %s; remove the folder or choose another", dir, stateDir, resultFile)
		}
		return nil
	}
	var old Result
	if err := readJSON(js, &old); err != nil {
		return err
	}
	a, _ := json.Marshal(old.Config)
	b, _ := json.Marshal(r.Config)
	switch {
	case string(a) != string(b):
		return fmt.Errorf("adjoint: %s holds a run with other settings:\n  there: %s\n  now:   %s\nuse the same settings to resume, or another output folder", dir, a, b)
	case old.Reward != r.Reward:
		return fmt.Errorf("adjoint: %s holds a run with reward %q, not %q; use another output folder", dir, old.Reward, r.Reward)
	case old.Base != r.Base:
		return fmt.Errorf("adjoint: %s was fine-tuned from another base model (%+v); use another output folder", dir, old.Base)
	}
	*r = old
	r.Model = nil
	return nil
}

// loadState returns a store made by newStore with dir's newest loadable checkpoint in it (one
// that a kill during its save left unreadable is moved aside: flow.LoadCheckpoint; none: the
// fresh store), and the handler that saves the next ones; it cuts the record back to the
// checkpoint's iteration. The checkpoint is authoritative (the record is written just before it).
func (r *Result) loadState(dir string, newStore func() (*model.Store, error)) (*model.Store, *checkpoint.Handler, error) {
	ck := filepath.Join(dir, stateDir)
	store, _, err := flow.LoadCheckpoint(ck, newStore)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; run the same fine-tuning again to start it over from iteration 0", err)
	}
	done := int(optimizer.GetGlobalStep(store))
	if done > len(r.Loss) {
		return nil, nil, fmt.Errorf("adjoint: %s: checkpoint at iteration %d but the record has %d; remove the folder to start over", dir, done, len(r.Loss))
	}
	r.truncate(done)
	r.saved = done
	// GoMLX loads the newest checkpoint into the store again: the one just loaded.
	h, err := checkpoint.Build(store).Dir(ck).Keep(2).Done()
	if err != nil {
		return nil, nil, fmt.Errorf("adjoint: checkpoint folder %s: %w", ck, err)
	}
	return store, h, nil
}

func (r *Result) truncate(n int) {
	r.Iters = n
	r.RewardHistory, r.Loss, r.KL, r.GradNorm, r.ClipLevel = r.RewardHistory[:n], r.Loss[:n], r.KL[:n], r.GradNorm[:n], r.ClipLevel[:n]
	for i := range r.MetricHistory {
		r.MetricHistory[i] = r.MetricHistory[i][:n]
	}
}

// writeRecord writes the record finetune.json into dir.
func (r *Result) writeRecord(dir string) error {
	r.Format, r.Version, r.NmflowVersion = ResultFormat, ResultVersion, nmflow.Version
	return writeJSON(filepath.Join(dir, resultFile), r)
}

// save writes the record, then the checkpoint.
func (r *Result) save(dir string, ckpt *checkpoint.Handler) error {
	if err := r.writeRecord(dir); err != nil {
		return err
	}
	if err := ckpt.Save(); err != nil {
		return fmt.Errorf("adjoint: saving checkpoint in %s: %w", dir, err)
	}
	r.saved = r.Iters
	return nil
}

// run iterates from r.Iters to the last iteration on eng, saving checkpoints with ckpt (nil: none),
// and returns the engine it ended on: a divergence with Options.LRCut goes back to the newest
// checkpoint through open, which starts a new engine.
func (r *Result) run(ctx context.Context, eng *engine, ckpt *checkpoint.Handler, opt Options, open func() (*engine, *checkpoint.Handler, error)) (*engine, error) {
	cfg := r.Config
	every := opt.CheckpointEvery
	if every <= 0 {
		every = 10
	}
	label := fmt.Sprintf("finetune %s λ=%g", r.Reward, cfg.Lambda)
	bar := progress.To(opt.Progress, cfg.Iters, label)
	defer bar.Done()
	bar.Set(r.Iters)
	start := time.Now()
	save := func() error {
		r.WallSeconds += time.Since(start).Seconds()
		start = time.Now()
		return r.save(opt.Dir, ckpt)
	}
	levelAt := func(n int) float64 { // the clip level after n iterations
		if n == 0 {
			return 0
		}
		return r.ClipLevel[n-1]
	}
	level := levelAt(r.Iters)
	done := 0
	for it := r.Iters; it < cfg.Iters; it++ {
		if err := ctx.Err(); err != nil {
			if ckpt != nil && done > 0 && r.Iters > r.saved {
				if serr := save(); serr != nil {
					return nil, serr
				}
			}
			return nil, fmt.Errorf("%w: %v", ErrStopped, err)
		}
		eng.cfg.LR = cfg.LR * r.lrScaleAt(it) * cfg.decayAt(it) // the engine passes it to each Adam step
		st, err := eng.iterate(it, level)
		if err != nil {
			return nil, err
		}
		// The gradient norm too: a NaN gradient makes the weights NaN before the loss shows it, and
		// the next checkpoint would save them. Nothing of this iteration is kept.
		if d := divergence(it, eng.cfg.LR, st); d != nil {
			var ok bool
			if eng, ckpt, ok, err = r.diverged(d, opt, open); !ok {
				return nil, err
			}
			bar.Set(r.Iters)
			level = levelAt(r.Iters)
			it = r.Iters - 1
			continue
		}
		level = nextLevel(level, st.perSample, cfg.LossQuantile, cfg.LossEMA)
		r.RewardHistory = append(r.RewardHistory, float32(st.reward))
		for i, v := range st.metrics {
			r.MetricHistory[i] = append(r.MetricHistory[i], float32(v))
		}
		r.Loss = append(r.Loss, float32(st.loss))
		r.KL = append(r.KL, float32(st.kl))
		r.GradNorm = append(r.GradNorm, float32(st.gnorm))
		r.ClipLevel = append(r.ClipLevel, level)
		r.Iters = it + 1
		done++
		bar.Set(r.Iters)
		bar.SetInfo(r.info())
		last := r.Iters == cfg.Iters
		stop := opt.StopAfter > 0 && done >= opt.StopAfter && !last
		if ckpt != nil && (r.Iters%every == 0 || last || stop) {
			if err := save(); err != nil {
				return nil, err
			}
		}
		if stop {
			return nil, ErrStopped
		}
	}
	r.WallSeconds += time.Since(start).Seconds()
	return eng, nil
}

// divergence returns the divergence of iteration it if its loss or gradient norm is NaN or ±Inf.
func divergence(it int, lr float64, st *stats) *DivergedError {
	for _, q := range []struct {
		what string
		v    float64
	}{{"loss", st.loss}, {"gradient norm", st.gnorm}} {
		if math.IsNaN(q.v) || math.IsInf(q.v, 0) {
			return &DivergedError{Iter: it, Divergence: optim.Divergence{What: q.what, Value: q.v, LR: lr}}
		}
	}
	return nil
}

// diverged handles the divergence d. With Options.LRCut (and a cut left) it goes back to the
// newest checkpoint in Options.Dir (the start if there is none) through open, records the cut
// and returns the new engine and handler with ok; otherwise it returns the error to stop with.
func (r *Result) diverged(d *DivergedError, opt Options, open func() (*engine, *checkpoint.Handler, error)) (*engine, *checkpoint.Handler, bool, error) {
	d.LastGood, d.Dir = r.saved, opt.Dir
	if opt.Dir == "" {
		return nil, nil, false, d
	}
	if opt.LRCut == 0 {
		if !exists(filepath.Join(opt.Dir, resultFile)) {
			// Nothing saved yet: a record at iteration 0 lets the same run be started again (with
			// an LRCut) in this folder, whose finetune-ckpt/ may exist already.
			start := *r
			start.MetricHistory = append([][]float32(nil), r.MetricHistory...)
			start.truncate(0)
			if err := start.writeRecord(opt.Dir); err != nil {
				return nil, nil, false, errors.Join(d, err)
			}
		}
		return nil, nil, false, d
	}
	maxCuts := opt.MaxLRCuts
	if maxCuts <= 0 {
		maxCuts = 3
	}
	if len(r.LRCuts) >= maxCuts {
		return nil, nil, false, fmt.Errorf("%w (gave up after %d learning-rate cuts)", d, len(r.LRCuts))
	}
	eng, ckpt, err := open()
	if err != nil {
		return nil, nil, false, fmt.Errorf("adjoint: going back to the last checkpoint after %v: %w", d, err)
	}
	r.LRCuts = append(r.LRCuts, flow.LRCut{Step: r.Iters, Scale: r.lrScaleAt(d.Iter) * opt.LRCut, Diverged: d.Iter,
		What: fmt.Sprintf("%s is %v", d.What, d.Value)})
	// Record the cut now, with the checkpoint's iterations: a run stopped before its next save
	// resumes with it.
	if err := r.writeRecord(opt.Dir); err != nil {
		return nil, nil, false, err
	}
	return eng, ckpt, true, nil
}

// info is the progress line: the last iteration's reward, metrics, loss and KL proxy.
func (r *Result) info() string {
	n := r.Iters - 1
	var b strings.Builder
	fmt.Fprintf(&b, "reward %.4g", r.RewardHistory[n])
	for i, name := range r.Metrics {
		fmt.Fprintf(&b, " %s %.3f", name, r.MetricHistory[i][n])
	}
	fmt.Fprintf(&b, " loss %.3g KL %.3g", r.Loss[n], r.KL[n])
	return b.String()
}

// ReadResult reads the record finetune.json of a fine-tuning output folder (without the model:
// load that with flow.Load).
func ReadResult(dir string) (*Result, error) {
	var r Result
	if err := readJSON(filepath.Join(dir, resultFile), &r); err != nil {
		return nil, err
	}
	if r.Format != ResultFormat || r.Version < 1 || r.Version > ResultVersion {
		return nil, fmt.Errorf("adjoint: %s is not a fine-tuning record (format %q version %d)", dir, r.Format, r.Version)
	}
	return &r, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("adjoint: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("adjoint: %s is not a valid fine-tuning record: %w", path, err)
	}
	return nil
}

// writeJSON writes v to path atomically (traj.WriteAtomic: temp file + rename).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("adjoint: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("adjoint: %w", err)
	}
	if err := traj.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("adjoint: writing %s: %w", path, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// SampleSDE draws n weight vectors (raw, [n,P]) from m with the memoryless SDE on a grid of
// steps steps (phase 0.5), the sampler that fine-tuning trains on. For models where Exact holds it
// has the ODE sampler's law up to discretization; comparing the two shows how far the
// memoryless identity is from holding for a fitted model.
func SampleSDE(m *flow.Model, n, steps int, seed uint64) ([]float32, error) {
	if m == nil || m.Weights() == nil {
		return nil, fmt.Errorf("adjoint: the model has no weights (load it with flow.Load or fit it)")
	}
	if n < 1 || steps < 2 {
		return nil, fmt.Errorf("adjoint: need n ≥ 1 and steps ≥ 2, got %d and %d", n, steps)
	}
	mean, std, err := m.SourceMoments()
	if err != nil {
		return nil, err
	}
	e := &engine{cfg: Config{Steps: steps, Seed: seed}, draw: m.DrawSource, d: len(mean), phase: 0.5}
	if e.sde, err = model.NewExec(m.ComputeBackend(), m.Weights(), sdeStepGraph(m.Field, mean, std)); err != nil {
		return nil, err
	}
	xs, _, _, err := e.simulate(0, n)
	if err != nil {
		return nil, err
	}
	defer finalizeAll(xs)
	out := tensors.MustCopyFlatData[float32](xs[steps])
	m.Norm.Inverse(out)
	return out, nil
}
