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
}

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
	Iters int  `json:"iters_done"`
	// Per iteration: mean reward and metrics of that iteration's fine-tuned SDE samples, the
	// (clipped) loss, the KL proxy ½∫‖u‖²dt, the gradient norm before clipping, the clip level.
	RewardHistory []float32   `json:"reward_history"`
	MetricHistory [][]float32 `json:"metric_history,omitempty"` // [metric][iteration]
	Loss          []float32   `json:"loss_history"`
	KL            []float32   `json:"kl_history"`
	GradNorm      []float32   `json:"grad_norm_history"`
	ClipLevel     []float64   `json:"clip_level_history"`
	WallSeconds   float64     `json:"wall_seconds"`

	Model *flow.Model `json:"-"` // the fine-tuned meta-model; sample it like any other
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

	store := model.NewStore()
	var frozen []*model.Variable
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
	var ckpt *checkpoint.Handler
	if opt.Dir != "" {
		if ckpt, err = res.resume(opt.Dir, store, frozen); err != nil {
			return nil, err
		}
	}
	eng, err := newEngine(base.ComputeBackend(), cfg, store, base.Field, base.FieldGradients, base.FieldScale, mean, std, base.DrawSource, reward, decode)
	if err != nil {
		return nil, err
	}
	if err := res.run(ctx, eng, ckpt, opt); err != nil {
		return nil, err
	}
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

// resume prepares dir's checkpoints for store and, when dir holds a run with the same settings,
// restores its history; the checkpoint is authoritative (the record is written just before it).
func (r *Result) resume(dir string, store *model.Store, frozen []*model.Variable) (*checkpoint.Handler, error) {
	js := filepath.Join(dir, resultFile)
	if !exists(js) {
		switch {
		case exists(filepath.Join(dir, modelFile)):
			return nil, fmt.Errorf("adjoint: %s holds a meta-model that is not a fine-tuning result; choose another output folder", dir)
		case exists(filepath.Join(dir, stateDir)):
			return nil, fmt.Errorf("adjoint: %s has a %s/ folder but no %s; remove the folder or choose another", dir, stateDir, resultFile)
		}
	} else {
		var old Result
		if err := readJSON(js, &old); err != nil {
			return nil, err
		}
		a, _ := json.Marshal(old.Config)
		b, _ := json.Marshal(r.Config)
		switch {
		case string(a) != string(b):
			return nil, fmt.Errorf("adjoint: %s holds a run with other settings:\n  there: %s\n  now:   %s\nuse the same settings to resume, or another output folder", dir, a, b)
		case old.Reward != r.Reward:
			return nil, fmt.Errorf("adjoint: %s holds a run with reward %q, not %q; use another output folder", dir, old.Reward, r.Reward)
		case old.Base != r.Base:
			return nil, fmt.Errorf("adjoint: %s was fine-tuned from another base model (%+v); use another output folder", dir, old.Base)
		}
		*r = old
		r.Model = nil
	}
	h, err := checkpoint.Build(store).Dir(filepath.Join(dir, stateDir)).Keep(2).Done()
	if err != nil {
		return nil, fmt.Errorf("adjoint: checkpoint folder %s: %w", dir, err)
	}
	h.ExcludeVarsFromSaving(frozen...) // the base weights come from the base model
	done := int(optimizer.GetGlobalStep(store))
	if done > len(r.Loss) {
		return nil, fmt.Errorf("adjoint: %s: checkpoint at iteration %d but the record has %d; remove the folder to start over", dir, done, len(r.Loss))
	}
	r.truncate(done)
	return h, nil
}

func (r *Result) truncate(n int) {
	r.Iters = n
	r.RewardHistory, r.Loss, r.KL, r.GradNorm, r.ClipLevel = r.RewardHistory[:n], r.Loss[:n], r.KL[:n], r.GradNorm[:n], r.ClipLevel[:n]
	for i := range r.MetricHistory {
		r.MetricHistory[i] = r.MetricHistory[i][:n]
	}
}

// save writes the record, then the checkpoint.
func (r *Result) save(dir string, ckpt *checkpoint.Handler) error {
	r.Format, r.Version, r.NmflowVersion = ResultFormat, ResultVersion, nmflow.Version
	if err := writeJSON(filepath.Join(dir, resultFile), r); err != nil {
		return err
	}
	if err := ckpt.Save(); err != nil {
		return fmt.Errorf("adjoint: saving checkpoint in %s: %w", dir, err)
	}
	return nil
}

func (r *Result) run(ctx context.Context, eng *engine, ckpt *checkpoint.Handler, opt Options) error {
	cfg := r.Config
	every := opt.CheckpointEvery
	if every <= 0 {
		every = 10
	}
	label := fmt.Sprintf("finetune %s λ=%g", r.Reward, cfg.Lambda)
	var bar *progress.Bar
	if opt.Progress != nil {
		bar = progress.NewWriter(opt.Progress, cfg.Iters, label)
	} else {
		bar = progress.New(cfg.Iters, label)
	}
	defer bar.Done()
	bar.Set(r.Iters)
	start := time.Now()
	save := func() error {
		r.WallSeconds += time.Since(start).Seconds()
		start = time.Now()
		return r.save(opt.Dir, ckpt)
	}
	level := 0.0
	if r.Iters > 0 {
		level = r.ClipLevel[r.Iters-1]
	}
	done := 0
	for it := r.Iters; it < cfg.Iters; it++ {
		if err := ctx.Err(); err != nil {
			if ckpt != nil && done > 0 {
				if serr := save(); serr != nil {
					return serr
				}
			}
			return fmt.Errorf("%w: %v", ErrStopped, err)
		}
		st, err := eng.iterate(it, level)
		if err != nil {
			return err
		}
		if math.IsNaN(st.loss) || math.IsInf(st.loss, 0) {
			return fmt.Errorf("adjoint: loss became %v at iteration %d; lower the learning rate (now %g), λ (%g) or the gradient clip (%g)", st.loss, it, cfg.LR, cfg.Lambda, cfg.Clip)
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
				return err
			}
		}
		if stop {
			return ErrStopped
		}
	}
	r.WallSeconds += time.Since(start).Seconds()
	return nil
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
