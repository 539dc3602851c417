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

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/progress"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Config is what a meta-model is and how it is trained; it is stored with the model.
type Config struct {
	Method   string  `json:"method"`   // MethodCFM (default), MethodMMFM or MethodJKO
	Source   string  `json:"source"`   // SourceKaiming (default) or SourceGaussian
	Coupling string  `json:"coupling"` // CouplingTrajectory (default with Kaiming), CouplingIndependent, CouplingOT
	Sigma    float64 `json:"sigma"`    // noise of the path, x_t = path(t) + σ·ε (MMFM adaptive: the peak M)
	Norm     string  `json:"norm"`     // NormLayer (default), NormParam, NormNone
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
	// PredictTarget (a correction D − x_t to the endpoint estimate D ≈ E[x1 | x_t], loss ‖D − x1‖²,
	// velocity (D − x_t)/(1 − t)). The second removes the source sample exactly, so the network
	// only has to denoise towards trained weights.
	Predict string `json:"predict"`
	// TimeSkew > 1 draws training times as t = u^TimeSkew (u uniform), putting more weight on early
	// times, where the network must learn which trained network a noisy input is heading to.
	TimeSkew float64   `json:"time_skew,omitempty"`
	Net      NetConfig `json:"net"`
	// Target is the zoo checkpoint used as x1 (default -1: the last). Source inits are checkpoint 0.
	Target      int     `json:"target"`
	Steps       int     `json:"steps"`        // optimizer steps (default 1000)
	BatchSize   int     `json:"batch_size"`   // default 64
	LR          float64 `json:"lr"`           // peak learning rate (default 1e-3)
	WarmUp      int     `json:"warmup"`       // linear warm-up steps (default Steps/20)
	MinLR       float64 `json:"min_lr"`       // cosine floor as a fraction of LR (default 0.01)
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay (default 0.01)
	Clip        float64 `json:"clip"`         // global gradient-norm clip (default 1; <0 disables)
	EMA         float64 `json:"ema"`          // EMA decay of the weights used for sampling (default 0.999)
	Seed        uint64  `json:"seed"`
}

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
		if c.Source == SourceKaiming {
			c.Coupling = CouplingTrajectory
		}
	}
	if c.Norm == "" {
		c.Norm = NormLayer
	}
	if c.Predict == "" {
		c.Predict = PredictVelocity
	}
	if c.TimeSkew == 0 {
		c.TimeSkew = 1
	}
	c.Net = c.Net.withDefaults()
	if c.Target == 0 {
		c.Target = -1
	}
	if c.Steps == 0 {
		c.Steps = 1000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.WarmUp == 0 {
		c.WarmUp = c.Steps / 20
	}
	if c.MinLR == 0 {
		c.MinLR = 0.01
	}
	if c.WeightDecay == 0 {
		c.WeightDecay = 0.01
	}
	if c.Clip == 0 {
		c.Clip = 1
	}
	if c.EMA == 0 {
		c.EMA = 0.999
	}
	switch {
	case c.Method != MethodCFM && c.Method != MethodMMFM && c.Method != MethodJKO:
		return c, fmt.Errorf("flow: unknown method %q (want %s, %s or %s)", c.Method, MethodCFM, MethodMMFM, MethodJKO)
	case c.Method == MethodJKO && (c.Predict != PredictVelocity || c.Coupling == CouplingOT || c.Sigma != 0 || c.TimeSkew != 1):
		return c, fmt.Errorf("flow: %s fits a potential on consecutive checkpoints: it takes no --predict target, ot coupling, sigma or time skew", MethodJKO)
	case c.Intermediates < NoIntermediates:
		return c, fmt.Errorf("flow: intermediates must be ≥ 0 (0: all checkpoints) or %d (none), got %d", NoIntermediates, c.Intermediates)
	case c.Method == MethodMMFM && c.Predict != PredictVelocity:
		return c, fmt.Errorf("flow: %s regresses the spline's derivative, so it needs --predict %s (endpoint prediction holds only on the straight path)", MethodMMFM, PredictVelocity)
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

// Methods of Config.Method.
const (
	MethodCFM  = "cfm"  // conditional flow matching on the straight path init → final (§2)
	MethodMMFM = "mmfm" // multi-marginal flow matching through intermediate checkpoints (§3)
	MethodJKO  = "jko"  // JKOnet*-style potential, one explicit step per checkpoint interval (§4)
)

// Options control a fit without changing its result.
type Options struct {
	Backend compute.Backend // nil: backend.Default()
	// Dir, when set, receives GoMLX checkpoints (Dir/ckpt) every CheckpointEvery steps and the model
	// at the end; an existing checkpoint there is resumed (its config must match).
	Dir             string
	CheckpointEvery int       // default 200
	Progress        io.Writer // nil: a progress bar on stderr or in the notebook; io.Discard: none
	// StopAfter > 0 stops with ErrStopped after that many steps of this call (tests, slicing).
	StopAfter int
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
}

// Fit trains a CFM meta-model on the zoo's trajectories.
func Fit(ctx context.Context, z *traj.Zoo, cfg Config, opt Options) (*Model, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	if err := z.Check(); err != nil {
		return nil, err
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
	t := &trainer{cfg: cfg, be: be, runs: z.Runs, p: z.Params}
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

	t.store = model.NewStore()
	if err := t.store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	if opt.Dir != "" {
		if err := t.m.resume(opt.Dir, t.store); err != nil {
			return nil, err
		}
	}
	t.step, err = model.NewExec(be, t.store, t.stepGraph)
	if err != nil {
		return nil, err
	}
	t.step.SetMaxCache(1)
	if err := t.run(ctx, opt); err != nil {
		return nil, err
	}
	return t.m, nil
}

// stepGraph: inputs x_t, target [B,P] (see batch), t [B], lr, emaDecay (scalars) → loss,
// gradient norm. CFM and MMFM: the mean squared error of the velocity (PredictVelocity) or of the
// endpoint estimate x_t + net (PredictTarget). JKO: see jkoLoss.
func (t *trainer) stepGraph(scope *model.Scope, in []*Node) []*Node {
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
		v, w := velocity(vel, t.cfg.Net, xt, tt, nil)
		if t.cfg.Predict == PredictTarget {
			v = Add(xt, v)
		}
		loss = ReduceAllMean(Square(Sub(v, target)))
		// Autodiff takes every variable but the two wide weights, whose gradients come from the
		// gradients of their layers' outputs (see wide).
		vars = trainable(vel, g, w.inW, w.outW)
		n := len(vars)
		grads = Gradient(loss, append(varNodes(vars, g), w.inOut, w.out)...)
		dInW, dOutW := w.wideGradients(grads[n], grads[n+1])
		vars = append(vars, w.inW, w.outW)
		grads = append(grads[:n], dInW, dOutW)
	}
	return []*Node{loss, t.update(scope, vars, grads, lr, emaDecay)}
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

// update applies one AdamW step with global-norm clipping to vars and updates their EMA; it
// returns the gradient norm before clipping.
func (t *trainer) update(scope *model.Scope, vars []*model.Variable, grads []*Node, lr, emaDecay *Node) *Node {
	g := lr.Graph()
	// Global-norm clipping: one scale for all gradients. Each ‖g‖² is a flat dot product, which
	// the backend runs as a vectorized matmul instead of a Square pass plus a generic reduction.
	var sq *Node
	for _, gr := range grads {
		flat := Reshape(gr, 1, gr.Shape().Size())
		s := Reshape(DotGeneral(flat, []int{1}, nil, flat, []int{1}, nil))
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	gnorm := Sqrt(sq)
	scale := ScalarOne(g, dtypes.Float32)
	if t.cfg.Clip > 0 {
		scale = Min(scale, Div(Scalar(g, dtypes.Float32, t.cfg.Clip), Add(gnorm, Scalar(g, dtypes.Float32, 1e-6))))
	}
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
	return gnorm
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
func (c Config) lrAt(s int) float64 {
	if s < c.WarmUp {
		return c.LR * float64(s+1) / float64(c.WarmUp)
	}
	frac := float64(s-c.WarmUp) / math.Max(1, float64(c.Steps-c.WarmUp))
	lo := c.LR * c.MinLR
	return lo + (c.LR-lo)*0.5*(1+math.Cos(math.Pi*frac))
}

// emaAt is the EMA decay at step s (0-based), warmed up so the average starts at the first weights.
func (c Config) emaAt(s int) float64 {
	return math.Min(c.EMA, float64(s)/float64(s+10)) // 0 at the first step: the average starts at w
}

// scratch is the host memory one prefetching goroutine reuses for every batch.
type scratch struct {
	x0, x1, tt, eps []float32
	anchors         [][]float32
}

func (t *trainer) newScratch() *scratch {
	b, p := t.cfg.BatchSize, t.p
	return &scratch{x0: make([]float32, b*p), x1: make([]float32, b*p), tt: make([]float32, b), eps: make([]float32, b*p),
		anchors: make([][]float32, len(t.mid)+2)}
}

// batch fills x_t and the regression target ([B,P]) and sc.tt for step s, deterministically from
// (seed, s): runs, times, source draws and noise.
func (t *trainer) batch(s int, sc *scratch, xt, target []float32) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(s)+1))
	b, p := t.cfg.BatchSize, t.p
	x0, x1, tt, eps := sc.x0, sc.x1, sc.tt, sc.eps
	runs := make([]int, b)
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
		sc.anchors[0], sc.anchors[len(sc.anchors)-1] = row(x0), row(x1)
		for j, m := range t.mid {
			sc.anchors[j+1] = m[r*p : (r+1)*p]
		}
		if t.cfg.Method == MethodJKO {
			// One consecutive pair (x_j, x_{j+1}) per row, picked by the row's uniform draw.
			pairs := len(sc.anchors) - 1
			j := min(int(float64(tt[i])*float64(pairs)), pairs-1)
			copy(row(xt), sc.anchors[j+1])
			copy(row(target), sc.anchors[j])
			tt[i] = float32(t.m.AnchorTimes[j+1])
			continue
		}
		if err := t.path.fill(sc.anchors, float64(tt[i]), row(eps), row(xt), row(target)); err != nil {
			return err
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
		if ckpt, err = checkpoint.Build(t.store).Dir(filepath.Join(opt.Dir, "ckpt")).Keep(2).Done(); err != nil {
			return fmt.Errorf("flow: checkpoint folder %s: %w", opt.Dir, err)
		}
	}
	label := fmt.Sprintf("fit %s %s/%s", cfg.Method, cfg.Source, cfg.Coupling)
	var bar *progress.Bar
	if opt.Progress != nil {
		bar = progress.NewWriter(opt.Progress, cfg.Steps, label)
	} else {
		bar = progress.New(cfg.Steps, label)
	}
	defer bar.Done()
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	batches := t.prefetch(t.m.Steps, stop)
	done := 0
	for s := t.m.Steps; s < cfg.Steps; s++ {
		if err := ctx.Err(); err != nil {
			// Keep what this call did: save before stopping (a checkpoint is cheap next to a lost interval).
			if ckpt != nil && done > 0 {
				t.m.WallSeconds += time.Since(start).Seconds()
				if serr := t.m.saveTraining(opt.Dir, ckpt); serr != nil {
					return serr
				}
			}
			return fmt.Errorf("%w: %v", ErrStopped, err)
		}
		in := <-batches
		if in.err != nil {
			return in.err
		}
		out, err := t.step.Exec(in.xt, in.target, in.t, float32(cfg.lrAt(s)), float32(cfg.emaAt(s)))
		if err != nil {
			return fmt.Errorf("flow: training step %d failed: %w", s, err)
		}
		loss := tensors.MustCopyFlatData[float32](out[0])[0]
		gn := tensors.MustCopyFlatData[float32](out[1])[0]
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return fmt.Errorf("flow: loss became %v at step %d; lower the learning rate (now %g) or the gradient clip (%g)", loss, s, cfg.LR, cfg.Clip)
		}
		t.m.History = append(t.m.History, loss)
		t.m.GradNorm = append(t.m.GradNorm, gn)
		t.m.Steps = s + 1
		done++
		bar.Set(t.m.Steps)
		if t.m.Steps%10 == 0 || t.m.Steps == cfg.Steps {
			bar.SetInfo(fmt.Sprintf("loss %.4f", smoothLoss(t.m.History)))
		}
		last := t.m.Steps == cfg.Steps
		if ckpt != nil && (t.m.Steps%every == 0 || last || (opt.StopAfter > 0 && done >= opt.StopAfter)) {
			t.m.WallSeconds += time.Since(start).Seconds()
			start = time.Now()
			if err := t.m.saveTraining(opt.Dir, ckpt); err != nil {
				return err
			}
		}
		if opt.StopAfter > 0 && done >= opt.StopAfter && !last {
			return ErrStopped
		}
	}
	t.m.WallSeconds += time.Since(start).Seconds()
	if err := t.m.adoptEMA(t.store); err != nil {
		return err
	}
	if opt.Dir != "" {
		return t.m.Save(opt.Dir)
	}
	return nil
}

// stepInput is the host-side input of one training step: x_t, the regression target and t.
type stepInput struct {
	xt, target, t *tensors.Tensor
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
