package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/progress"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// The fit loop: Fit sets up a trainer (alignment, normalizer, source, anchors), compiles one
// training step (loss.go, adamw.go) and runs it over minibatches prepared one step ahead
// (batch.go), saving GoMLX checkpoints (checkpoint.go) and handling divergence (diverge.go).

// Options control a fit without changing its result, but for LRCut once a fit diverges.
type Options struct {
	Backend compute.Backend // nil: backend.Default()
	// Dir, when set, receives GoMLX checkpoints (Dir/ckpt) every CheckpointEvery steps and the model
	// at the end; an existing checkpoint there is resumed (its config must match).
	Dir             string
	CheckpointEvery int       // default 200
	Progress        io.Writer // nil: a progress bar on stderr or in the notebook; io.Discard: none
	// StopAfter > 0 stops with ErrStopped after that many steps of this call (tests, slicing).
	StopAfter int
	// LRCut in (0,1) continues a fit that diverges (a NaN or Inf loss or gradient norm):
	// it goes back to the last checkpoint in Dir (or to the start when none was saved yet),
	// multiplies the learning-rate schedule by LRCut from there on, and goes on, at most MaxLRCuts
	// times; the cuts are recorded in Model.LRCuts (model.json), so a resumed fit reapplies them.
	// It needs Dir. 0 stops with a *DivergedError instead. A fit that does not diverge is
	// unaffected, and rerunning a stopped fit with an LRCut continues from its last checkpoint.
	LRCut float64
	// MaxLRCuts bounds the cuts of a fit, those recorded by earlier (resumed) calls included
	// (default 3).
	MaxLRCuts int
	// Compiles, when set, is incremented each time the training-step graph is built: once per
	// fit, plus once per learning-rate cut (tests and benchmarks check that steps never recompile).
	Compiles *int
}

// ErrStopped reports a fit interrupted by Options.StopAfter or a cancelled context.
var ErrStopped = errors.New("flow: fit stopped before the last step (resume with the same directory)")

// trainer holds the state of one fit.
type trainer struct {
	cfg     Config
	be      compute.Backend
	store   *model.Store
	step    *model.Exec
	src     *Source
	x0s     []float32   // [R,P] normalized inits (trajectory coupling)
	x1s     []float32   // [R,P] normalized targets
	mid     [][]float32 // MMFM: [R,P] normalized intermediate anchors, in time order
	path    *mmfmPath   // MMFM: the interpolant
	runs, p int
	m       *Model
	// newStore makes an empty store with the seeded random state: every (re)load starts from one.
	newStore func() (*model.Store, error)
	saved    int // steps done at the last checkpoint on disk (0: none)
	// optVars are the variables the training step returns gradients for, in order.
	optVars  []*model.Variable
	host     *hostOptimizer // their optimizer state; nil until the first step of a store
	cond     *condData      // conditional fits (FitConditional); nil otherwise
	compiles *int           // Options.Compiles
}

// Fit trains a CFM meta-model on the zoo's trajectories.
func Fit(ctx context.Context, z *traj.Zoo, cfg Config, opt Options) (*Model, error) {
	if cfg.Cond != nil {
		return nil, fmt.Errorf("flow: Config.Cond is set: fit a conditional model with FitConditional, which takes the tasks' zoos and support pools")
	}
	return fit(ctx, z, cfg, opt, nil)
}

func fit(ctx context.Context, z *traj.Zoo, cfg Config, opt Options, cond *condData) (*Model, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	if !(opt.LRCut >= 0 && opt.LRCut < 1) {
		return nil, fmt.Errorf("flow: LRCut must be in (0,1) (0: stop on divergence), got %v", opt.LRCut)
	}
	if err := z.Check(); err != nil {
		return nil, err
	}
	if NeedsAlign(cfg.Align, z) {
		if z, _, err = align.Zoo(z, align.Options{Checkpoint: cfg.Target, Seed: cfg.Seed}); err != nil {
			return nil, err
		}
	}
	target := cfg.Target
	if target < 0 {
		target += z.Checkpoints
	}
	if target <= 0 || target >= z.Checkpoints {
		return nil, fmt.Errorf("flow: target checkpoint %d out of range 1..%d", cfg.Target, z.Checkpoints-1)
	}
	be := opt.Backend
	if be == nil {
		if be, _, err = backend.Default(); err != nil {
			return nil, err
		}
	}
	t := &trainer{cfg: cfg, be: be, runs: z.Runs, p: z.Params, cond: cond, compiles: opt.Compiles}
	inits, finals := z.Checkpoint(0), z.Checkpoint(target)
	rows := make([][]float32, 0, 2*z.Runs)
	for r := 0; r < z.Runs; r++ {
		rows = append(rows, inits[r*t.p:(r+1)*t.p], finals[r*t.p:(r+1)*t.p])
	}
	norm, err := FitNormalizer(cfg.Norm, z.Meta.Layout, rows)
	if err != nil {
		return nil, err
	}
	norm.Forward(inits)
	norm.Forward(finals)
	t.x0s, t.x1s = inits, finals
	t.src = &Source{Kind: cfg.Source, Layout: z.Meta.Layout, Law: z.Meta.Init, norm: norm}
	if cfg.Source == SourceKaiming && z.Meta.Init == "" {
		return nil, fmt.Errorf("flow: the zoo does not record its init law; use --source gaussian")
	}
	t.m = &Model{Config: cfg, Base: baseOf(z), Norm: norm, TargetCheckpoint: target, be: be}
	if cfg.Method != MethodCFM {
		if err := t.setupAnchors(z, target); err != nil {
			return nil, err
		}
	}

	t.newStore = func() (*model.Store, error) {
		s := model.NewStore()
		return s, s.SetRNGStateFromSeed(int64(cfg.Seed))
	}
	if opt.Dir != "" {
		t.store, err = t.m.resume(opt.Dir, t.newStore)
	} else {
		t.store, err = t.newStore()
	}
	if err != nil {
		return nil, err
	}
	t.saved = t.m.Steps
	if err := t.compile(); err != nil {
		return nil, err
	}
	if err := t.run(ctx, opt); err != nil {
		return nil, err
	}
	return t.m, nil
}

// compile builds the training step on t.store (again after a learning-rate cut).
func (t *trainer) compile() error {
	if t.step != nil {
		t.step.Finalize()
	}
	step, err := model.NewExec(t.be, t.store, t.stepGraph)
	if err != nil {
		return err
	}
	t.step = step.SetMaxCache(1)
	return nil
}

func (t *trainer) run(ctx context.Context, opt Options) error {
	cfg := t.cfg
	every := opt.CheckpointEvery
	if every <= 0 {
		every = 200
	}
	var ckpt *checkpoint.Handler
	if opt.Dir != "" {
		var err error
		if ckpt, err = t.checkpointer(opt.Dir); err != nil {
			return err
		}
	}
	label := fmt.Sprintf("fit %s %s/%s", cfg.Method, cfg.Source, cfg.Coupling)
	bar := progress.To(opt.Progress, cfg.Steps, label)
	defer bar.Done()
	start, begin := time.Now(), time.Now() // begin: this call's steps, for the time per step
	stop := make(chan struct{})
	defer func() { close(stop) }()
	batches := t.prefetch(t.m.Steps, stop)
	done := 0
	for s := t.m.Steps; s < cfg.Steps; s++ {
		if err := ctx.Err(); err != nil {
			// Keep what this call did: save before stopping (a checkpoint is cheap next to a lost interval).
			if ckpt != nil && done > 0 && t.m.Steps > t.saved {
				t.m.WallSeconds += time.Since(start).Seconds()
				if serr := t.save(opt.Dir, ckpt); serr != nil {
					return serr
				}
			}
			return fmt.Errorf("%w: %v", ErrStopped, err)
		}
		in := <-batches
		if in.err != nil {
			return in.err
		}
		lr := cfg.lrAt(s) * t.m.lrScaleAt(s)
		args := []any{in.xt, in.target, in.t}
		for _, c := range in.cond {
			args = append(args, c)
		}
		out, err := t.step.Exec(args...)
		if err != nil {
			return fmt.Errorf("flow: training step %d failed: %w", s, err)
		}
		loss := tensors.MustCopyFlatData[float32](out[0])[0]
		gn, err := t.gradNorm(out[1:])
		if err != nil {
			return err
		}
		if testHookStep != nil {
			testHookStep(s, &loss, &gn)
		}
		// Both are checked before anything of this step is kept or saved.
		d := nonFinite(s, lr, "loss", loss)
		if d == nil {
			d = nonFinite(s, lr, "gradient norm", gn)
		}
		if d != nil {
			if ckpt, err = t.diverged(d, opt); err != nil {
				return err
			}
			// Back at the checkpoint's step, with a new store, step and handler.
			close(stop)
			stop = make(chan struct{})
			batches = t.prefetch(t.m.Steps, stop)
			bar.Set(t.m.Steps)
			s = t.m.Steps - 1
			continue
		}
		if err := t.hostStep(s, lr, gn, out[1:]); err != nil {
			return err
		}
		t.m.History = append(t.m.History, loss)
		t.m.GradNorm = append(t.m.GradNorm, gn)
		t.m.Steps = s + 1
		done++
		bar.Set(t.m.Steps)
		last := t.m.Steps == cfg.Steps
		if t.m.Steps%10 == 0 || last {
			bar.SetInfo(fmt.Sprintf("loss %.4f, %.3gs/step", smoothLoss(t.m.History), time.Since(begin).Seconds()/float64(done)))
		}
		if ckpt != nil && (t.m.Steps%every == 0 || last || (opt.StopAfter > 0 && done >= opt.StopAfter)) {
			t.m.WallSeconds += time.Since(start).Seconds()
			start = time.Now()
			if err := t.save(opt.Dir, ckpt); err != nil {
				return err
			}
		}
		if opt.StopAfter > 0 && done >= opt.StopAfter && !last {
			return ErrStopped
		}
	}
	t.m.WallSeconds += time.Since(start).Seconds()
	t.m.StepSeconds = t.m.WallSeconds / float64(max(t.m.Steps, 1))
	if err := t.host.sync(t.m.Steps); err != nil {
		return err
	}
	if err := t.m.adoptEMA(t.store); err != nil {
		return err
	}
	if opt.Dir != "" {
		return t.m.Save(opt.Dir)
	}
	return nil
}

// testHookStep lets tests change the loss and gradient norm of a step (a divergence at a chosen step).
var testHookStep func(step int, loss, gradNorm *float32)

// checkpointer opens dir/ckpt for saving t.store (GoMLX loads its newest checkpoint into the
// store again, which holds the same values already).
func (t *trainer) checkpointer(dir string) (*checkpoint.Handler, error) {
	ckpt, err := checkpoint.Build(t.store).Dir(filepath.Join(dir, "ckpt")).Keep(2).Done()
	if err != nil {
		return nil, fmt.Errorf("flow: checkpoint folder %s: %w", dir, err)
	}
	return ckpt, nil
}

// save writes model.json and a checkpoint of the steps done. The weights saved are finite: the
// loss and gradient norm of every step are checked, and an AdamW step with a finite gradient and
// learning rate keeps finite weights finite.
func (t *trainer) save(dir string, ckpt *checkpoint.Handler) error {
	if err := t.host.sync(t.m.Steps); err != nil {
		return err
	}
	if err := t.m.saveTraining(dir, ckpt); err != nil {
		return err
	}
	t.saved = t.m.Steps
	return nil
}

// smoothLoss is the mean of the last (up to) 50 losses, for progress display.
func smoothLoss(h []float32) float64 {
	n := min(len(h), 50)
	var s float64
	for _, v := range h[len(h)-n:] {
		s += float64(v)
	}
	return s / float64(n)
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
