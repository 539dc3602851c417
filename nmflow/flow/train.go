package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/optim"
	"github.com/nmflow/nmflow/nmflow/progress"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Config is what a meta-model is and how it is trained; it is stored with the model.
type Config struct {
	Method string `json:"method"` // MethodCFM (default), MethodMMFM or MethodJKO
	Source string `json:"source"` // SourceKaiming (default) or SourceGaussian
	// Coupling pairs source draws with trained nets: CouplingIndependent (default) generalizes
	// from fresh inits; CouplingTrajectory pairs each run's own init with its own path, which only
	// retraces the zoo's runs (R examples are too few to learn how a new init moves); CouplingOT.
	Coupling string `json:"coupling"`
	// Align is AlignWeights (default: the zoo's hidden units are permuted into one order before
	// fitting, package align; a zoo already aligned is used as it is) or AlignNone.
	Align string  `json:"align,omitempty"`
	Sigma float64 `json:"sigma"` // noise of the path, x_t = path(t) + σ·ε (MMFM adaptive: the peak M)
	Norm  string  `json:"norm"`  // NormLayer (default), NormParam, NormNone
	// MMFM: the interpolant through each run's anchors (the source draw at t = 0, Intermediates
	// checkpoints, the Target checkpoint at t = 1); see mmfm.go.
	MMFM MMFMConfig `json:"mmfm,omitzero"`
	// Intermediates (MMFM and JKO) is the number k of intermediate checkpoints used as anchors,
	// evenly spread between the init and the target checkpoint: 0 takes all of them,
	// NoIntermediates none. JKO then takes k+1 steps.
	Intermediates int `json:"intermediates,omitempty"`
	// JKO: the potential's step size and time dependence; see jko.go.
	JKO JKOConfig `json:"jko,omitzero"`
	// Predict is what the network outputs: PredictVelocity (v directly, the textbook CFM loss) or
	// PredictTarget (CFM's default: a correction D − x_t to D = x_t + (1 − t)·u_t, the point the
	// path's tangent reaches at t = 1 — x1 itself on CFM's straight path — with velocity
	// (D − x_t)/(1 − t)). The second removes the source sample exactly, so the network only has to
	// denoise towards trained weights. MMFM defaults to PredictVelocity, JKO takes it only.
	Predict string `json:"predict"`
	// TimeSkew > 1 draws training times as t = u^TimeSkew (u uniform), putting more weight on early
	// times, where the network must learn which trained network a noisy input is heading to.
	TimeSkew float64   `json:"time_skew,omitempty"`
	Net      NetConfig `json:"net"`
	// Target is the zoo checkpoint used as x1 (default -1: the last). Source inits are checkpoint 0.
	Target      int     `json:"target"`
	Steps       int     `json:"steps"`        // optimizer steps (default 2000)
	BatchSize   int     `json:"batch_size"`   // default 64
	LR          float64 `json:"lr"`           // peak learning rate (default 3e-3)
	WarmUp      int     `json:"warmup"`       // linear warm-up steps (default Steps/20)
	MinLR       float64 `json:"min_lr"`       // cosine floor as a fraction of LR (default 0.01)
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay (default 0.01)
	Clip        float64 `json:"clip"`         // global gradient-norm clip (default 1; <0 disables)
	EMA         float64 `json:"ema"`          // EMA decay of the weights used for sampling (default 0.99)
	Seed        uint64  `json:"seed"`
	// Cond makes the model conditional on a task's support set (FitConditional; see CondConfig).
	// nil: unconditional, as before (the field is left out of model.json).
	Cond *CondConfig `json:"cond,omitempty"`
}

// defaultSchedule is a fit's learning rate, cosine floor and weight decay unless set; the warm-up
// defaults to Steps/20.
var defaultSchedule = optim.Schedule{LR: 3e-3, MinLR: 0.01, WeightDecay: 0.01}

// Defaults fills unset fields and validates.
func (c Config) Defaults() (Config, error) {
	if c.Method == "" {
		c.Method = MethodCFM
	}
	if c.Method == MethodMMFM || c.Method == MethodJKO {
		c.MMFM = c.MMFM.withDefaults()
	}
	if c.Method == MethodJKO {
		c.JKO = c.JKO.withDefaults()
	}
	if c.Source == "" {
		c.Source = SourceKaiming
	}
	if c.Coupling == "" {
		c.Coupling = CouplingIndependent
	}
	if c.Align == "" {
		c.Align = AlignWeights
	}
	if c.Norm == "" {
		c.Norm = NormLayer
	}
	if c.Predict == "" {
		// CFM: endpoint prediction. MMFM: the path's own velocity — at the same accuracy its nets
		// sit with the zoo's (energy −0.20 against 11.9 with endpoint prediction, whose tangent
		// extrapolation overshoots; docs/metamodel.md). JKO: velocity is its only choice.
		c.Predict = PredictTarget
		if c.Method != MethodCFM {
			c.Predict = PredictVelocity
		}
	}
	if c.TimeSkew == 0 {
		c.TimeSkew = 1
		if c.Predict == PredictTarget {
			c.TimeSkew = DefaultTimeSkew
		}
	}
	c.Net = c.Net.withDefaults()
	if c.Target == 0 {
		c.Target = -1
	}
	if c.Steps == 0 {
		c.Steps = 2000 // 1,000 gave 88% of the zoo on notebook 02's zoo, 2,000 93%
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	sch := optim.Schedule{LR: c.LR, WarmUp: c.WarmUp, MinLR: c.MinLR, WeightDecay: c.WeightDecay}.Fill(defaultSchedule, c.Steps)
	c.LR, c.WarmUp, c.MinLR, c.WeightDecay = sch.LR, sch.WarmUp, sch.MinLR, sch.WeightDecay
	if c.Clip == 0 {
		c.Clip = 1
	}
	if c.EMA == 0 {
		c.EMA = 0.99
	}
	switch {
	case c.Method != MethodCFM && c.Method != MethodMMFM && c.Method != MethodJKO:
		return c, fmt.Errorf("flow: unknown method %q (want %s, %s or %s)", c.Method, MethodCFM, MethodMMFM, MethodJKO)
	case c.Method == MethodJKO && (c.Predict != PredictVelocity || c.Coupling == CouplingOT || c.Sigma != 0 || c.TimeSkew != 1):
		return c, fmt.Errorf("flow: %s fits a potential on consecutive checkpoints: it takes no --predict target, ot coupling, sigma or time skew", MethodJKO)
	case c.Intermediates < NoIntermediates:
		return c, fmt.Errorf("flow: intermediates must be ≥ 0 (0: all checkpoints) or %d (none), got %d", NoIntermediates, c.Intermediates)
	case c.Align != AlignWeights && c.Align != AlignNone:
		return c, fmt.Errorf("flow: unknown alignment %q (want %s or %s)", c.Align, AlignWeights, AlignNone)
	case c.Method == MethodMMFM && c.Coupling == CouplingOT:
		return c, fmt.Errorf("flow: %s supports the %s and %s couplings, not %s", MethodMMFM, CouplingTrajectory, CouplingIndependent, CouplingOT)
	case c.Source != SourceKaiming && c.Source != SourceGaussian:
		return c, fmt.Errorf("flow: unknown source %q (want %s or %s)", c.Source, SourceKaiming, SourceGaussian)
	case c.Coupling != CouplingTrajectory && c.Coupling != CouplingIndependent && c.Coupling != CouplingOT:
		return c, fmt.Errorf("flow: unknown coupling %q (want %s, %s or %s)", c.Coupling, CouplingTrajectory, CouplingIndependent, CouplingOT)
	case c.Coupling == CouplingTrajectory && c.Source != SourceKaiming:
		return c, fmt.Errorf("flow: the trajectory coupling pairs each run's own init with its final weights, so it needs the %s source", SourceKaiming)
	case c.Predict != PredictVelocity && c.Predict != PredictTarget:
		return c, fmt.Errorf("flow: unknown prediction %q (want %s or %s)", c.Predict, PredictVelocity, PredictTarget)
	case !(c.TimeSkew >= 1) || math.IsInf(c.TimeSkew, 0):
		return c, fmt.Errorf("flow: time skew must be ≥ 1 (1: uniform times), got %v", c.TimeSkew)
	case c.Sigma < 0 || math.IsNaN(c.Sigma):
		return c, fmt.Errorf("flow: sigma must be ≥ 0, got %v", c.Sigma)
	case c.Steps < 1 || c.BatchSize < 1 || c.WarmUp < 0 || c.WarmUp > c.Steps:
		return c, fmt.Errorf("flow: need steps ≥ 1, batch ≥ 1, 0 ≤ warmup ≤ steps (got %d, %d, %d)", c.Steps, c.BatchSize, c.WarmUp)
	case !(c.LR > 0) || c.MinLR < 0 || c.MinLR > 1 || c.WeightDecay < 0 || c.EMA < 0 || c.EMA >= 1:
		return c, fmt.Errorf("flow: need lr > 0, 0 ≤ min_lr ≤ 1, weight_decay ≥ 0, 0 ≤ ema < 1")
	}
	if c.Cond != nil {
		cc := *c.Cond
		if err := cc.defaults(&c.Net, c.Method); err != nil {
			return c, err
		}
		c.Cond = &cc
	}
	if err := c.Net.validate(); err != nil {
		return c, err
	}
	if c.Method == MethodMMFM || c.Method == MethodJKO {
		if err := c.MMFM.validate(); err != nil {
			return c, err
		}
	}
	if c.Method == MethodJKO {
		return c, c.JKO.validate()
	}
	return c, nil
}

// Values of Config.Align.
const (
	AlignWeights = "weights" // permutation alignment by weight matching (package align)
	AlignNone    = "none"
)

// NeedsAlign says whether a fit (or a VAE) with alignment mode mode must align z first: not when it is
// aligned already, has one run, or records no architecture (a bare layout has no known units).
func NeedsAlign(mode string, z *traj.Zoo) bool {
	return mode == AlignWeights && z.Meta.Aligned == nil && z.Runs > 1 && z.Meta.Arch.Kind != ""
}

// DefaultTimeSkew is the time skew that goes with endpoint prediction: most training times land
// early, where the network must tell which trained net a still-noisy point is heading to.
const DefaultTimeSkew = 5

// Methods of Config.Method.
const (
	MethodCFM  = "cfm"  // conditional flow matching on the straight path init → final (§2)
	MethodMMFM = "mmfm" // multi-marginal flow matching through intermediate checkpoints (§3)
	MethodJKO  = "jko"  // JKOnet*-style potential, one explicit step per checkpoint interval (§4)
)

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

// DivergedError reports a NaN or Inf loss or gradient norm. The last checkpoint in
// Options.Dir (if any) is from before it and is kept: see Options.LRCut.
type DivergedError struct {
	Step int // the step (0-based) whose loss or gradient norm was not finite
	optim.Divergence
}

func (e *DivergedError) Error() string { return e.Message(fitTrainer, e.Step) }

var fitTrainer = optim.Trainer{Pkg: "flow", Unit: "step", Run: "fit", Knobs: "the learning rate or the gradient clip"}

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
	// wideVars are the velocity net's input and output weights (CFM, MMFM), updated by host.
	wideVars [2]*model.Variable
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

// stepGraph: inputs x_t, target [B,P] (see batch), t [B], lr, emaDecay (scalars) → loss,
// gradient norm. CFM and MMFM: the mean squared error of the velocity (PredictVelocity) or of the
// endpoint estimate x_t + net (PredictTarget). JKO: see jkoLoss.
func (t *trainer) stepGraph(scope *model.Scope, in []*Node) []*Node {
	if t.compiles != nil {
		*t.compiles++
	}
	xt, target, tt, lr, emaDecay := in[0], in[1], in[2], in[3], in[4]
	g := xt.Graph()
	vel := scope.In("vel")
	var loss *Node
	var vars []*model.Variable
	var grads []*Node
	if t.cfg.Method == MethodJKO {
		loss = jkoLoss(vel, t.cfg, xt, target, tt)
		vars = trainable(vel, g)
		grads = Gradient(loss, varNodes(vars, g)...)
	} else {
		var cond *Node
		if t.cond != nil {
			cond = t.trainCond(vel, in[5], in[6])
		}
		v, w := velocity(vel, t.cfg.Net, xt, tt, cond, true)
		if t.cfg.Predict == PredictTarget {
			v = Add(xt, v)
		}
		loss = ReduceAllMean(Square(Sub(v, target)))
		// Autodiff takes every variable but the two wide weights, whose gradients come from the
		// gradients of their layers' outputs (see wide). The graph returns those two gradients and
		// the clip scale: the host applies their AdamW and EMA updates (see hostOptimizer).
		vars = trainable(vel, g, w.inW, w.outW)
		n := len(vars)
		grads = Gradient(loss, append(varNodes(vars, g), w.inOut, w.out)...)
		dInW, dOutW := w.wideGradients(grads[n], grads[n+1])
		t.wideVars = [2]*model.Variable{w.inW, w.outW}
		gnorm, scale := t.clipScale(append(grads[:n:n], dInW, dOutW))
		t.update(scope, vars, grads[:n], scale, lr, emaDecay)
		return []*Node{loss, gnorm, scale, dInW, dOutW}
	}
	gnorm, scale := t.clipScale(grads)
	t.update(scope, vars, grads, scale, lr, emaDecay)
	return []*Node{loss, gnorm}
}

// trainable lists the trainable variables of scope used by g, but for the excluded ones, sorted by
// path: a store loaded from a checkpoint lists variables in another order than a fresh one, and
// the gradient-norm sum (float32) must be identical after a resume.
func trainable(scope *model.Scope, g *Graph, exclude ...*model.Variable) []*model.Variable {
	var vars []*model.Variable
	for vv := range scope.IterVariables() {
		if vv.Trainable && vv.InUseByGraph(g) && !slices.Contains(exclude, vv) {
			vars = append(vars, vv)
		}
	}
	sort.Slice(vars, func(a, b int) bool { return vars[a].Path() < vars[b].Path() })
	return vars
}

func varNodes(vars []*model.Variable, g *Graph) []*Node {
	nodes := make([]*Node, len(vars))
	for i, v := range vars {
		nodes[i] = v.NodeValue(g)
	}
	return nodes
}

// clipScale returns the global norm of grads and the scale min(1, Clip/‖g‖) that clips it.
func (t *trainer) clipScale(grads []*Node) (gnorm, scale *Node) {
	g := grads[0].Graph()
	var sq *Node
	for _, gr := range grads {
		s := sumSquares(gr)
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	gnorm = Sqrt(sq)
	scale = ScalarOne(g, dtypes.Float32)
	if t.cfg.Clip > 0 {
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, t.cfg.Clip), Add(gnorm, Scalar(g, dtypes.Float32, 1e-6))))
	}
	return gnorm, scale
}

// sumSquares is ‖x‖². Small tensors take one flat dot product, which the Go backend runs as a
// vectorized matmul (faster than a Square pass plus a generic reduction). Large ones take Square,
// a sum along the last axis and a sum of those: the matmul kernel pads a 1×N operand to its
// register tiles, which cost 42 ns per element at N = 8·10⁶ (343 ms against 32 ms this way, and
// most of a fit step at P ≈ 10⁵), and the two-level sum keeps float32 accurate (one sequential
// sum of those 8·10⁶ squares was 1.2% off).
func sumSquares(x *Node) *Node {
	n := x.Shape().Size()
	if n < 1<<16 {
		flat := Reshape(x, 1, n)
		return Reshape(DotGeneral(flat, []int{1}, nil, flat, []int{1}, nil))
	}
	sq := Square(x)
	if x.Rank() >= 2 {
		sq = ReduceSum(sq, -1)
	}
	return ReduceAllSum(sq)
}

// update applies one AdamW step, with the gradients scaled by scale, to vars and updates their EMA.
func (t *trainer) update(scope *model.Scope, vars []*model.Variable, grads []*Node, scale, lr, emaDecay *Node) {
	g := lr.Graph()
	// AdamW (PyTorch semantics, β = 0.9, 0.999, ε = 1e-8) with the bias corrections as scalars.
	stepVar := scope.Store().Scope("/adamw").WithInitializer(initializer.Zero).
		VariableWithShape("step", shapes.Make(dtypes.Float32)).SetTrainable(false)
	step := AddScalar(stepVar.NodeValue(g), 1)
	stepVar.SetNodeValue(step)
	gs := optimizer.GetGlobalStepVar(scope.Store())
	gs.SetNodeValue(AddScalar(gs.NodeValue(g), 1))
	c1 := OneMinus(Pow(Scalar(g, dtypes.Float32, 0.9), step))
	sc2 := Sqrt(OneMinus(Pow(Scalar(g, dtypes.Float32, 0.999), step)))
	alpha := Div(Mul(lr, sc2), c1)
	epsHat := MulScalar(sc2, 1e-8)
	decay := OneMinus(MulScalar(lr, t.cfg.WeightDecay))
	// The clip scale is folded into the moment coefficients (scalars) rather than applied to every
	// gradient: each pass over the 10⁶-parameter input/output layers costs about a millisecond here.
	c1g, c2g := MulScalar(scale, 0.1), MulScalar(Square(scale), 0.001)
	emaRate := OneMinus(emaDecay)
	for i, vv := range vars {
		gr := grads[i]
		ms := scope.Store().Scope("/adamw" + vv.Scope()).WithInitializer(initializer.Zero)
		m1v := ms.VariableWithShape(vv.Name()+"_m1", vv.Shape()).SetTrainable(false)
		m2v := ms.VariableWithShape(vv.Name()+"_m2", vv.Shape()).SetTrainable(false)
		m1 := Add(MulScalar(m1v.NodeValue(g), 0.9), Mul(gr, c1g))
		m2 := Add(MulScalar(m2v.NodeValue(g), 0.999), Mul(Square(gr), c2g))
		m1v.SetNodeValue(m1)
		m2v.SetNodeValue(m2)
		nv := Sub(Mul(vv.NodeValue(g), decay), Mul(Div(m1, Add(Sqrt(m2), epsHat)), alpha))
		vv.SetNodeValue(nv)
		// EMA of the weights, read by the sampler (see emaPath): e += (1−d)·(w − e).
		ev := scope.Store().Scope(emaScope+vv.Scope()).WithInitializer(initializer.BroadcastTensorToShape(tensors.FromScalar(float32(0)))).
			VariableWithShape(vv.Name(), vv.Shape()).SetTrainable(false)
		e := ev.NodeValue(g)
		ev.SetNodeValue(Add(e, Mul(Sub(nv, e), emaRate)))
	}
}

const emaScope = "/ema"

// What the velocity network predicts (Config.Predict).
const (
	PredictVelocity = "velocity"
	PredictTarget   = "target"
)

// minRemaining bounds 1 − t when turning an endpoint prediction into a velocity.
const minRemaining = 0.01

// fieldFromOutput turns the network output into the velocity field at time t ([B] or scalar).
func fieldFromOutput(predict string, out, t *Node) *Node {
	if predict != PredictTarget {
		return out
	}
	rem := Max(OneMinus(t), Scalar(t.Graph(), t.DType(), minRemaining))
	if rem.Rank() > 0 {
		rem = InsertAxes(rem, -1)
	}
	return Div(out, rem)
}

// lrAt is the learning rate of step s (0-based): linear warm-up, then cosine down to MinLR·LR.
func (c Config) lrAt(s int) float64 { return CosineLR(s, c.Steps, c.WarmUp, c.LR, c.MinLR) }

// CosineLR is the learning rate of step s (0-based) of a run of the given steps: a linear warm-up
// over warmUp steps to lr, then a cosine down to minFrac·lr at the last step.
func CosineLR(s, steps, warmUp int, lr, minFrac float64) float64 {
	if s < warmUp {
		return lr * float64(s+1) / float64(warmUp)
	}
	frac := float64(s-warmUp) / math.Max(1, float64(steps-warmUp))
	lo := lr * minFrac
	return lo + (lr-lo)*0.5*(1+math.Cos(math.Pi*frac))
}

// emaAt is the EMA decay at step s (0-based), warmed up so the average starts at the first weights.
func (c Config) emaAt(s int) float64 {
	return math.Min(c.EMA, float64(s)/float64(s+10)) // 0 at the first step: the average starts at w
}

// scratch is the host memory one prefetching goroutine reuses for every batch.
type scratch struct {
	x0, x1, tt, eps []float32
	anchors         [][]float32
	rerooted        [][]float32 // re-rooted intermediate anchors of the current row (see reroot)
	runs            []int       // the run of each example
}

func (t *trainer) newScratch() *scratch {
	b, p := t.cfg.BatchSize, t.p
	return &scratch{x0: make([]float32, b*p), x1: make([]float32, b*p), tt: make([]float32, b), eps: make([]float32, b*p),
		anchors: make([][]float32, len(t.mid)+2), rerooted: make([][]float32, len(t.mid)), runs: make([]int, b)}
}

// batch fills x_t and the regression target ([B,P]) and sc.tt for step s, deterministically from
// (seed, s): runs, times, source draws and noise.
func (t *trainer) batch(s int, sc *scratch, xt, target []float32) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(s)+1))
	b, p := t.cfg.BatchSize, t.p
	x0, x1, tt, eps := sc.x0, sc.x1, sc.tt, sc.eps
	runs := sc.runs
	for i := 0; i < b; i++ {
		r := rng.IntN(t.runs)
		runs[i] = r
		copy(x1[i*p:(i+1)*p], t.x1s[r*p:(r+1)*p])
		if t.cfg.Coupling == CouplingTrajectory {
			copy(x0[i*p:(i+1)*p], t.x0s[r*p:(r+1)*p])
		}
		u := rng.Float64()
		if t.cfg.TimeSkew > 1 {
			u = math.Pow(u, t.cfg.TimeSkew)
		}
		tt[i] = float32(u)
	}
	if t.cfg.Coupling != CouplingTrajectory {
		if err := t.src.Sample(rng, x0); err != nil {
			return err
		}
	}
	if t.cfg.Coupling == CouplingOT {
		if err := otPair(x0, x1, b, p); err != nil {
			return err
		}
	}
	if t.cfg.Sigma > 0 {
		for i := range eps {
			eps[i] = float32(rng.NormFloat64())
		}
	}
	if t.cfg.Method == MethodCFM {
		linearPath(t.cfg.Predict, t.cfg.Sigma, x0, x1, tt, eps, xt, target)
		return nil
	}
	for i, r := range runs {
		row := func(v []float32) []float32 { return v[i*p : (i+1)*p] }
		t.reroot(sc, r, row(x0), row(x1))
		if t.cfg.Method == MethodJKO {
			// One consecutive pair (x_j, x_{j+1}) per row, picked by the row's uniform draw: ∇V
			// is fitted at x_j, where the explicit sampler evaluates it (METHODS.md §4).
			pairs := len(sc.anchors) - 1
			j := min(int(float64(tt[i])*float64(pairs)), pairs-1)
			copy(row(xt), sc.anchors[j])
			copy(row(target), sc.anchors[j+1])
			tt[i] = float32(t.m.AnchorTimes[j+1])
			continue
		}
		if err := t.path.fill(sc.anchors, float64(tt[i]), row(eps), row(xt), row(target)); err != nil {
			return err
		}
		if t.cfg.Predict == PredictTarget {
			// D = x_t + (1 − t)·u_t: the sampler's velocity (D − x_t)/(1 − t) is u_t again.
			rem := 1 - tt[i]
			xr, ur := row(xt), row(target)
			for j := range ur {
				ur[j] = xr[j] + rem*ur[j]
			}
		}
	}
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
		args := []any{in.xt, in.target, in.t, float32(lr), float32(cfg.emaAt(s))}
		for _, c := range in.cond {
			args = append(args, c)
		}
		out, err := t.step.Exec(args...)
		if err != nil {
			return fmt.Errorf("flow: training step %d failed: %w", s, err)
		}
		loss := tensors.MustCopyFlatData[float32](out[0])[0]
		gn := tensors.MustCopyFlatData[float32](out[1])[0]
		if len(out) > 2 {
			if err := t.hostStep(s, lr, out[2:]); err != nil {
				return err
			}
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
	if err := t.host.sync(); err != nil {
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

// nonFinite returns the divergence of step s if v (what) is NaN or ±Inf, else nil.
func nonFinite(s int, lr float64, what string, v float32) *DivergedError {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return &DivergedError{Step: s, Divergence: optim.Divergence{What: what, Value: float64(v), LR: lr}}
	}
	return nil
}

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
	if err := t.host.sync(); err != nil {
		return err
	}
	if err := t.m.saveTraining(dir, ckpt); err != nil {
		return err
	}
	t.saved = t.m.Steps
	return nil
}

// diverged handles the divergence d. With Options.Dir and LRCut it goes back to the checkpoint on
// disk (the start if there is none) with the learning rate cut, and returns the checkpoint handler
// of the reloaded store; otherwise it returns d, completed.
func (t *trainer) diverged(d *DivergedError, opt Options) (*checkpoint.Handler, error) {
	d.LastGood, d.Dir = t.saved, opt.Dir
	if opt.Dir == "" {
		return nil, d
	}
	if opt.LRCut == 0 {
		if !exists(filepath.Join(opt.Dir, modelFile)) {
			// Nothing saved yet: a model.json at step 0 lets the same fit rerun (with an LRCut)
			// in this folder, whose ckpt/ now exists.
			start := *t.m
			start.Steps, start.History, start.GradNorm = 0, nil, nil
			if err := start.writeJSON(opt.Dir); err != nil {
				return nil, errors.Join(d, err)
			}
		}
		return nil, d
	}
	maxCuts := opt.MaxLRCuts
	if maxCuts <= 0 {
		maxCuts = 3
	}
	if len(t.m.LRCuts) >= maxCuts {
		return nil, fmt.Errorf("%w (gave up after %d learning-rate cuts)", d, len(t.m.LRCuts))
	}
	store, _, err := loadCheckpoint(opt.Dir, t.newStore)
	if err != nil {
		return nil, fmt.Errorf("flow: going back to the last checkpoint after %v: %w", d, err)
	}
	back := int(optimizer.GetGlobalStep(store))
	if back > len(t.m.History) {
		return nil, fmt.Errorf("flow: %s: checkpoint at step %d but history has %d steps", opt.Dir, back, len(t.m.History))
	}
	t.m.LRCuts = append(t.m.LRCuts, LRCut{Step: back, Scale: t.m.lrScaleAt(d.Step) * opt.LRCut, Diverged: d.Step,
		What: fmt.Sprintf("%s is %v", d.What, d.Value)})
	t.m.Steps, t.m.History, t.m.GradNorm = back, t.m.History[:back], t.m.GradNorm[:min(back, len(t.m.GradNorm))]
	t.store, t.saved, t.host = store, back, nil
	if err := t.compile(); err != nil {
		return nil, err
	}
	ckpt, err := t.checkpointer(opt.Dir)
	if err != nil {
		return nil, err
	}
	// Record the cut now, with the steps of the checkpoint: a fit stopped before its next save
	// resumes with it.
	return ckpt, t.m.writeJSON(opt.Dir)
}

// stepInput is the host-side input of one training step: x_t, the regression target and t.
type stepInput struct {
	xt, target, t *tensors.Tensor
	cond          []*tensors.Tensor // conditional fits: support sets, selection (condBatch)
	err           error
}

// prefetch prepares the inputs of steps from, from+1, … in a goroutine, one step ahead of the
// compiled step, so that drawing sources and building paths overlaps with the backend's work.
// Each batch depends only on (seed, step), so the result is the same as without prefetching.
func (t *trainer) prefetch(from int, stop <-chan struct{}) <-chan stepInput {
	ch := make(chan stepInput, 1)
	go func() {
		defer close(ch)
		b, p := t.cfg.BatchSize, t.p
		sc := t.newScratch()
		for s := from; s < t.cfg.Steps; s++ {
			in := stepInput{xt: tensors.FromShape(shapes.Make(dtypes.Float32, b, p)), target: tensors.FromShape(shapes.Make(dtypes.Float32, b, p))}
			tensors.MutableFlatData(in.xt, func(xv []float32) {
				tensors.MutableFlatData(in.target, func(tv []float32) { in.err = t.batch(s, sc, xv, tv) })
			})
			in.t = tensors.FromFlatDataAndDimensions(append([]float32(nil), sc.tt...), b)
			if in.err == nil && t.cond != nil {
				in.cond, in.err = t.condBatch(s, sc.runs)
			}
			select {
			case ch <- in:
			case <-stop:
				return
			}
			if in.err != nil {
				return
			}
		}
	}()
	return ch
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
