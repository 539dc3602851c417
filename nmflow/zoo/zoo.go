package zoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/progress"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Config describes a zoo: what to train, how, and which checkpoints to keep. Every field that
// changes the result is recorded in the trajectory file and checked on resume.
type Config struct {
	Arch        arch.Spec `json:"arch"`
	Init        string    `json:"init"`        // arch.InitPyTorch (default) or arch.InitHeUniform
	Runs        int       `json:"runs"`        // R models trained at once
	Epochs      int       `json:"epochs"`      // passes over the training subset
	Checkpoints int       `json:"checkpoints"` // K: checkpoints after the init (K+1 kept), evenly spaced in steps
	BatchSize   int       `json:"batch_size"`  // default 128
	Optimizer   string    `json:"optimizer"`   // "sgd" (default) or "adam"
	LR          float64   `json:"lr"`          // default 0.05 (sgd) / 1e-3 (adam)
	Momentum    float64   `json:"momentum"`    // sgd only
	WeightDecay float64   `json:"weight_decay"`
	Seed        uint64    `json:"seed"`
	Standardize bool      `json:"standardize"` // per-channel (x−mean)/std with train-split statistics
	TrainSize   int       `json:"train_size"`  // 0: the whole train split; else a seeded subset
	TestSize    int       `json:"test_size"`   // 0: the whole test split; else its first TestSize
	EvalTrain   int       `json:"eval_train"`  // train examples (first of the subset) for train loss; default 10000
}

// Defaults fills unset fields with the documented defaults and validates the rest.
func (c Config) Defaults() (Config, error) {
	if c.Init == "" {
		c.Init = arch.InitPyTorch
	}
	if c.Optimizer == "" {
		c.Optimizer = "sgd"
	}
	if c.BatchSize == 0 {
		c.BatchSize = 128
	}
	if c.LR == 0 {
		c.LR = map[string]float64{"sgd": 0.05, "adam": 1e-3}[c.Optimizer]
	}
	if c.EvalTrain == 0 {
		c.EvalTrain = 10000
	}
	switch {
	case c.Optimizer != "sgd" && c.Optimizer != "adam":
		return c, fmt.Errorf("zoo: unknown optimizer %q (want sgd or adam)", c.Optimizer)
	case c.Runs < 1:
		return c, fmt.Errorf("zoo: runs must be ≥ 1, got %d", c.Runs)
	case c.Epochs < 1:
		return c, fmt.Errorf("zoo: epochs must be ≥ 1, got %d", c.Epochs)
	case c.Checkpoints < 1:
		return c, fmt.Errorf("zoo: checkpoints (K) must be ≥ 1, got %d", c.Checkpoints)
	case c.BatchSize < 1:
		return c, fmt.Errorf("zoo: batch size must be ≥ 1, got %d", c.BatchSize)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return c, fmt.Errorf("zoo: learning rate must be a positive number, got %v", c.LR)
	case c.Momentum < 0 || c.Momentum >= 1:
		return c, fmt.Errorf("zoo: momentum must be in [0,1), got %v", c.Momentum)
	case c.WeightDecay < 0:
		return c, fmt.Errorf("zoo: weight decay must be ≥ 0, got %v", c.WeightDecay)
	case c.TrainSize < 0 || c.TestSize < 0 || c.EvalTrain < 0:
		return c, fmt.Errorf("zoo: sizes must be ≥ 0")
	}
	if _, err := arch.Bound(c.Init, arch.Segment{FanIn: 1, Kind: arch.Weight}); err != nil {
		return c, err
	}
	return c, nil
}

// Options control how a zoo is run; none of them changes the result.
type Options struct {
	// Backend to run on; nil uses backend.Default().
	Backend compute.Backend
	// State is a resume file: if it exists the run continues from it (its config must match), and it
	// is rewritten atomically after every checkpoint. Empty disables resuming.
	State string
	// Progress receives a progress bar; nil shows one on stderr (or inline in GoNB). Use io.Discard to silence.
	Progress io.Writer
	// StopAfter > 0 stops (returning ErrStopped) once that many checkpoints after the init are saved:
	// a clean interruption, used by tests and by callers that train in slices.
	StopAfter int
	// LRCut in (0,1) continues a run that diverges (a NaN or Inf training loss or weight): all runs
	// go back to the last good checkpoint, the learning rate is multiplied by LRCut, and training
	// goes on, at most MaxLRCuts times; the cuts are recorded in the zoo's metadata (Extra
	// "lr_cuts"). 0 stops with a *DivergedError instead. A run that does not diverge is unaffected.
	// Rerunning a stopped zoo with the same State and an LRCut continues from its last checkpoint.
	LRCut float64
	// MaxLRCuts bounds the cuts (default 3).
	MaxLRCuts int
}

// DivergedError reports a NaN or Inf training loss or weight. Train returns it together with the
// zoo of the checkpoints taken before (the last good one included), which the State file holds too.
type DivergedError struct {
	Run      int     // the first run that diverged
	Step     int64   // optimizer steps taken when it was detected (1-based step number)
	What     string  // "training loss" or the parameter, e.g. "parameter fc1.weight[3]"
	Value    float32 // the NaN or ±Inf found
	LastGood int64   // step of the last good checkpoint
	LR       float64 // the learning rate in use
	State    string  // the resume state file, if any
}

func (e *DivergedError) Error() string {
	kept := "in the partial zoo returned"
	if e.State != "" {
		kept = "in " + e.State
	}
	if e.LastGood == 0 {
		return fmt.Sprintf("zoo: run %d diverged at step %d: %s is %v with learning rate %g, before the first checkpoint after the init; "+
			"lower the learning rate, or rerun with a cut learning rate (--lr-cut, Options.LRCut, e.g. 0.5)", e.Run, e.Step, e.What, e.Value, e.LR)
	}
	return fmt.Sprintf("zoo: run %d diverged at step %d: %s is %v with learning rate %g. The last good checkpoint (step %d) is kept %s; "+
		"lower the learning rate, or continue from it with a cut learning rate (--lr-cut, Options.LRCut, e.g. 0.5)",
		e.Run, e.Step, e.What, e.Value, e.LR, e.LastGood, kept)
}

// ErrStopped is returned when Options.StopAfter or a cancelled context interrupts training; the
// state file then holds the last checkpoint.
var ErrStopped = errors.New("zoo: training stopped before the last checkpoint (resume with the same state file)")

// Train trains cfg.Runs models on ds at once and returns their trajectories. When training
// diverges it returns the checkpoints taken so far with a *DivergedError (see Options.LRCut).
func Train(ctx context.Context, cfg Config, ds *data.Dataset, opt Options) (*traj.Zoo, error) {
	t, err := prepare(cfg, ds, opt, nil)
	if err != nil {
		return nil, err
	}
	return t.run(ctx, opt)
}

// prepare validates cfg, builds the trainer and resumes it from opt.State. A non-nil shard
// restricts it to the runs that shard owns (shard.go).
func prepare(cfg Config, ds *data.Dataset, opt Options, sh *Shard) (*trainer, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	net, err := arch.New(cfg.Arch)
	if err != nil {
		return nil, err
	}
	if fmt.Sprint(cfg.Arch.Input) != fmt.Sprint(ds.Shape) && cfg.Arch.InputSize() != ds.ExampleSize() {
		return nil, fmt.Errorf("zoo: architecture input %v does not fit %s examples of shape %v", cfg.Arch.Input, ds.Name, ds.Shape)
	}
	if cfg.Arch.Classes < len(ds.Classes) {
		return nil, fmt.Errorf("zoo: architecture has %d outputs, %s has %d classes", cfg.Arch.Classes, ds.Name, len(ds.Classes))
	}
	be := opt.Backend
	if be == nil {
		if be, _, err = backend.Default(); err != nil {
			return nil, err
		}
	}
	var t *trainer
	if sh != nil {
		t, err = sh.newTrainer(be, net, cfg, ds)
	} else {
		t, err = newTrainer(be, net, cfg, ds)
	}
	if err != nil {
		return nil, err
	}
	if opt.State != "" {
		if err := t.resume(opt.State); err != nil {
			return nil, err
		}
	}
	return t, nil
}

type trainer struct {
	be          compute.Backend
	net         arch.Net
	cfg         Config
	ds          *data.Dataset
	train       *feed.Images
	norm        *feed.Norm
	runSeeds    []uint64
	steps       []int64 // [K+1] step of each checkpoint
	stepsPerEp  int
	total       int64
	step        *Exec
	evalTrain   *eval.Evaluator
	evalTest    *eval.Evaluator
	params      *tensors.Tensor
	s1, s2      *tensors.Tensor
	done        int64       // optimizer steps taken
	saved       [][]float32 // checkpoints so far, each [R,P]
	trainLoss   [][]float32 // per checkpoint, [R]
	testLoss    [][]float32
	testAcc     [][]float32
	trainN      int
	testN       int
	elapsed     time.Duration
	resumedFrom int64
	good        goodState // optimizer state at the last checkpoint, to go back to on divergence
	lrScale     float64   // product of the learning-rate cuts so far (1: none)
	cuts        []string  // one line per cut, for the metadata
}

// goodState is a host copy of everything the training step carries, at a checkpoint.
type goodState struct {
	params, s1, s2 []float32
	done           int64
}

func newTrainer(be compute.Backend, net arch.Net, cfg Config, ds *data.Dataset) (*trainer, error) {
	t := &trainer{be: be, net: net, cfg: cfg, ds: ds, lrScale: 1}
	tr := ds.Train
	if cfg.TrainSize > 0 && cfg.TrainSize < tr.N {
		tr = tr.Subset(cfg.TrainSize, cfg.Seed)
	}
	te := ds.Test
	if cfg.TestSize > 0 && cfg.TestSize < te.N {
		te = te.Head(cfg.TestSize)
	}
	if tr.N < cfg.BatchSize {
		return nil, fmt.Errorf("zoo: batch size %d is larger than the %d training examples", cfg.BatchSize, tr.N)
	}
	t.trainN, t.testN = tr.N, te.N
	d := ds.ExampleSize()
	var err error
	if t.train, err = feed.New(tr, d); err != nil {
		return nil, err
	}
	evTrainIm, err := feed.New(tr.Head(min(cfg.EvalTrain, tr.N)), d)
	if err != nil {
		return nil, err
	}
	testIm, err := feed.New(te, d)
	if err != nil {
		return nil, err
	}
	mean, std := ds.ChannelStats()
	if t.norm, err = feed.NewNorm(mean, std, d, cfg.Standardize); err != nil {
		return nil, err
	}

	t.stepsPerEp = tr.N / cfg.BatchSize
	t.total = int64(t.stepsPerEp * cfg.Epochs)
	if int64(cfg.Checkpoints) > t.total {
		return nil, fmt.Errorf("zoo: %d checkpoints but only %d training steps (%d epochs × %d steps); lower --checkpoints or raise --epochs", cfg.Checkpoints, t.total, cfg.Epochs, t.stepsPerEp)
	}
	t.steps = make([]int64, cfg.Checkpoints+1)
	for k := range t.steps {
		t.steps[k] = int64(math.Round(float64(k) * float64(t.total) / float64(cfg.Checkpoints)))
	}
	t.runSeeds = arch.RunSeeds(cfg.Seed, cfg.Runs)
	init, err := arch.InitBatch(net.Layout(), cfg.Init, t.runSeeds)
	if err != nil {
		return nil, err
	}
	r, p := cfg.Runs, net.Layout().Size()
	t.params = tensors.FromFlatDataAndDimensions(init, r, p)
	t.s1 = tensors.FromFlatDataAndDimensions(make([]float32, r*p), r, p)
	t.s2 = tensors.FromFlatDataAndDimensions(make([]float32, r*p), r, p)
	shape := ds.Shape
	if cfg.Arch.InputSize() == d {
		shape = cfg.Arch.Input
	}
	t.step = MustNewExec(be, stepGraph(net, cfg, shape)).SetMaxCache(1)
	t.evalTrain = eval.NewEvaluator(be, net, evTrainIm, t.norm, shape, r)
	t.evalTest = eval.NewEvaluator(be, net, testIm, t.norm, shape, r)
	return t, nil
}

// batchIndices returns the [R,B] example indices of global step s: each run walks its own
// permutation of the training subset, drawn from (run seed, epoch), so any step can be rebuilt
// after a resume without replaying the ones before it.
func (t *trainer) batchIndices(s int64, perms [][]int, permEpoch *int) []int32 {
	ep := int(s / int64(t.stepsPerEp))
	if *permEpoch != ep {
		for r := range perms {
			rng := rand.New(rand.NewPCG(t.runSeeds[r], uint64(ep)+1))
			perms[r] = rng.Perm(t.train.N)
		}
		*permEpoch = ep
	}
	b := t.cfg.BatchSize
	off := int(s%int64(t.stepsPerEp)) * b
	idx := make([]int32, len(perms)*b)
	for r, p := range perms {
		for j := 0; j < b; j++ {
			idx[r*b+j] = int32(p[off+j])
		}
	}
	return idx
}

func (t *trainer) checkpoint() error {
	trLoss, _, err := t.evalTrain.Run(t.params)
	if err != nil {
		return err
	}
	teLoss, teAcc, err := t.evalTest.Run(t.params)
	if err != nil {
		return err
	}
	w := tensors.MustCopyFlatData[float32](t.params)
	if i := traj.FirstNonFinite(w); i >= 0 {
		p := t.net.Layout().Size()
		return t.divergedAt(i/p, "parameter "+segmentOf(t.net.Layout(), i%p), w[i])
	}
	t.saved = append(t.saved, w)
	t.trainLoss = append(t.trainLoss, trLoss)
	t.testLoss = append(t.testLoss, teLoss)
	t.testAcc = append(t.testAcc, teAcc)
	return nil
}

func (t *trainer) run(ctx context.Context, opt Options) (*traj.Zoo, error) {
	start := time.Now()
	if opt.LRCut < 0 || opt.LRCut >= 1 || math.IsNaN(opt.LRCut) {
		return nil, fmt.Errorf("zoo: LRCut must be in (0,1) (0: stop on divergence), got %v", opt.LRCut)
	}
	maxCuts := opt.MaxLRCuts
	if maxCuts <= 0 {
		maxCuts = 3
	}
	if len(t.saved) == 0 {
		if err := t.checkpoint(); err != nil {
			return nil, err
		}
		t.keepGood()
	}
	// diverged goes back to the last good checkpoint with a cut learning rate, or gives up.
	diverged := func(err error) error {
		var d *DivergedError
		if !errors.As(err, &d) {
			return err
		}
		if _, err := os.Stat(opt.State); opt.State != "" && err == nil {
			d.State = opt.State // named only once written: divergence before the first save leaves none
		}
		if opt.LRCut == 0 || len(t.cuts) >= maxCuts {
			if opt.LRCut > 0 {
				return fmt.Errorf("%w (gave up after %d learning-rate cuts)", d, len(t.cuts))
			}
			return d
		}
		t.lrScale *= opt.LRCut
		t.cuts = append(t.cuts, fmt.Sprintf("step %d (run %d: %s %v): back to step %d, lr %g", d.Step, d.Run, d.What, d.Value, t.good.done, t.cfg.LR*t.lrScale))
		r, p := t.cfg.Runs, t.net.Layout().Size()
		t.params = tensors.FromFlatDataAndDimensions(append([]float32(nil), t.good.params...), r, p)
		t.s1 = tensors.FromFlatDataAndDimensions(append([]float32(nil), t.good.s1...), r, p)
		t.s2 = tensors.FromFlatDataAndDimensions(append([]float32(nil), t.good.s2...), r, p)
		t.done = t.good.done
		return nil
	}
	r := t.cfg.Runs
	label := fmt.Sprintf("zoo %s ×%d", t.cfg.Arch, r)
	bar := progress.To(opt.Progress, int(t.total), label)
	bar.Set(int(t.done))
	defer bar.Done()
	perms := make([][]int, r)
	permEpoch := -1
	stopAt := len(t.saved) - 1 + opt.StopAfter
	lastLoss := float32(math.NaN())
	for k := len(t.saved); k < len(t.steps); k++ {
		for t.done < t.steps[k] {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrStopped, err)
			}
			l, err := t.trainStep(t.batchIndices(t.done, perms, &permEpoch))
			if err != nil {
				return nil, err
			}
			// Every step's losses ([R] floats) are checked, so a divergence names its step.
			if testHookLoss != nil {
				testHookLoss(t.done, l)
			}
			if i := traj.FirstNonFinite(l); i >= 0 {
				if err := diverged(t.divergedAt(i, "training loss", l[i])); err != nil {
					return t.zoo(), err
				}
				bar.Set(int(t.done))
				continue
			}
			if t.done%20 == 0 || t.done == t.steps[k] {
				lastLoss = mean32(l)
				bar.SetInfo(fmt.Sprintf("loss %.3f", lastLoss))
			}
			bar.Set(int(t.done))
		}
		if err := t.checkpoint(); err != nil {
			if err = diverged(err); err != nil {
				return t.zoo(), err
			}
			k-- // redo this checkpoint's steps with the cut learning rate
			continue
		}
		t.keepGood()
		bar.SetInfo(fmt.Sprintf("loss %.3f, test acc %.3f (checkpoint %d/%d)", lastLoss, mean32(t.testAcc[k]), k, len(t.steps)-1))
		if opt.State != "" {
			if err := t.saveState(opt.State, time.Since(start)); err != nil {
				return nil, err
			}
		}
		if opt.StopAfter > 0 && k >= stopAt && k < len(t.steps)-1 {
			return nil, ErrStopped
		}
	}
	t.elapsed += time.Since(start)
	return t.zoo(), nil
}

// trainStep takes training step t.done+1 of all runs on the [R,B] example indices idx, donating
// the old state's buffers to the new one, and returns the runs' minibatch losses.
func (t *trainer) trainStep(idx []int32) ([]float32, error) {
	a, b := t.scalars(t.done + 1)
	dp, err1 := DonateTensorBuffer(t.params, t.be, 0)
	d1, err2 := DonateTensorBuffer(t.s1, t.be, 0)
	d2, err3 := DonateTensorBuffer(t.s2, t.be, 0)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("zoo: %w", err)
	}
	out, err := t.step.Exec(t.train.X, t.train.Y, idxTensor(idx, t.cfg.Runs, t.cfg.BatchSize), t.norm.Scale, t.norm.Shift, dp, d1, d2, a, b)
	if err != nil {
		return nil, fmt.Errorf("zoo: training step %d failed: %w", t.done, err)
	}
	t.params, t.s1, t.s2 = out[0], out[1], out[2]
	t.done++
	l := tensors.MustCopyFlatData[float32](out[3]) // also waits for the step on asynchronous backends
	return l, out[3].FinalizeAll()
}

// scalars returns the optimizer's two per-step scalars for step number s (1-based).
func (t *trainer) scalars(s int64) (float32, float32) {
	lr := t.cfg.LR * t.lrScale
	if t.cfg.Optimizer == "adam" {
		c1 := 1 - math.Pow(adamB1, float64(s))
		c2 := math.Sqrt(1 - math.Pow(adamB2, float64(s)))
		return float32(lr * c2 / c1), float32(adamEps * c2)
	}
	return float32(lr), 0
}

// testHookLoss lets tests poison the losses of a step (a divergence at a chosen point).
var testHookLoss func(step int64, loss []float32)

// keepGood copies the training state at the checkpoint just taken.
func (t *trainer) keepGood() {
	t.good = goodState{
		params: tensors.MustCopyFlatData[float32](t.params),
		s1:     tensors.MustCopyFlatData[float32](t.s1),
		s2:     tensors.MustCopyFlatData[float32](t.s2),
		done:   t.done,
	}
}

func (t *trainer) divergedAt(run int, what string, v float32) *DivergedError {
	return &DivergedError{Run: run, Step: t.done, What: what, Value: v, LastGood: t.good.done, LR: t.cfg.LR * t.lrScale}
}

// segmentOf names flat index p by its Layout segment, e.g. "fc1.weight[7]".
func segmentOf(l arch.Layout, p int) string {
	for _, s := range l.Segments {
		if p >= s.Offset && p < s.Offset+s.Size() {
			return fmt.Sprintf("%s[%d]", s.Name, p-s.Offset)
		}
	}
	return fmt.Sprint(p)
}

func (t *trainer) zoo() *traj.Zoo {
	r, p, k1 := t.cfg.Runs, t.net.Layout().Size(), len(t.saved)
	z := &traj.Zoo{Runs: r, Checkpoints: k1, Params: p, Steps: append([]int64(nil), t.steps[:k1]...)}
	z.Weights = make([]float32, r*k1*p)
	for k, w := range t.saved {
		for i := 0; i < r; i++ {
			copy(z.Weights[(i*k1+k)*p:(i*k1+k+1)*p], w[i*p:(i+1)*p])
		}
	}
	perRun := func(m [][]float32) []float32 {
		out := make([]float32, r*k1)
		for k, v := range m {
			for i := 0; i < r; i++ {
				out[i*k1+k] = v[i]
			}
		}
		return out
	}
	z.Metrics = map[string][]float32{
		traj.MetricTrainLoss: perRun(t.trainLoss),
		traj.MetricTestLoss:  perRun(t.testLoss),
		traj.MetricTestAcc:   perRun(t.testAcc),
	}
	cfgJSON, _ := json.Marshal(t.cfg)
	z.Meta = traj.Meta{
		Kind:          traj.KindZoo,
		NmflowVersion: nmflow.Version,
		GoMLXVersion:  nmflow.GoMLXVersion,
		Backend:       t.be.Description(),
		Arch:          t.cfg.Arch,
		Layout:        t.net.Layout(),
		Init:          t.cfg.Init,
		Dataset: traj.DatasetMeta{
			Name: t.ds.Name, Train: t.trainN, Test: t.testN, Standardize: t.cfg.Standardize,
			Mean: t.norm.Mean, Std: t.norm.Std, Source: t.ds.Source,
		},
		Optimizer: traj.OptimMeta{
			Name: t.cfg.Optimizer, LR: t.cfg.LR, Momentum: t.cfg.Momentum, WeightDecay: t.cfg.WeightDecay,
			BatchSize: t.cfg.BatchSize, Epochs: t.cfg.Epochs, StepsPerEp: t.stepsPerEp,
		},
		Seed:     t.cfg.Seed,
		RunSeeds: t.runSeeds,
		Extra: map[string]string{
			"zoo_config":      string(cfgJSON),
			"backend_config":  backend.Current().Config,
			"train_subset":    fmt.Sprintf("%d examples, seeded subset (seed %d) of the train split", t.trainN, t.cfg.Seed),
			"train_loss_on":   fmt.Sprintf("first %d examples of the training subset", t.evalTrain.Examples),
			"test_metrics_on": fmt.Sprintf("first %d examples of the test split", t.testN),
			"wall_seconds":    fmt.Sprintf("%.1f", t.elapsed.Seconds()),
		},
	}
	if t.resumedFrom > 0 {
		z.Meta.Extra["resumed_at_step"] = fmt.Sprint(t.resumedFrom)
	}
	if len(t.cuts) > 0 {
		z.Meta.Extra["lr_cuts"] = strings.Join(t.cuts, "; ")
		z.Meta.Extra["final_lr"] = fmt.Sprint(t.cfg.LR * t.lrScale)
	}
	return z
}

func idxTensor(idx []int32, r, b int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(idx, r, b)
}

func mean32(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return float32(s / float64(len(v)))
}

// Exists reports whether a file exists (for CLI messages about resuming).
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
