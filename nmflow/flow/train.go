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
	Method   string  `json:"method"`   // "cfm"
	Source   string  `json:"source"`   // SourceKaiming (default) or SourceGaussian
	Coupling string  `json:"coupling"` // CouplingTrajectory (default with Kaiming), CouplingIndependent, CouplingOT
	Sigma    float64 `json:"sigma"`    // constant noise of the path, x_t = (1−t)x0 + t·x1 + σε
	Norm     string  `json:"norm"`     // NormLayer (default), NormParam, NormNone
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
		c.Method = "cfm"
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
	case c.Method != "cfm":
		return c, fmt.Errorf("flow: unknown method %q (this version fits cfm)", c.Method)
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
	return c, c.Net.validate()
}

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
	x0s     []float32 // [R,P] normalized inits (trajectory coupling)
	x1s     []float32 // [R,P] normalized targets
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

// stepGraph: inputs x_t, target [B,P] (see linearPath), t [B], lr, emaDecay (scalars) → loss,
// gradient norm. The loss is the mean squared error of the velocity (PredictVelocity) or of the
// endpoint estimate x_t + net (PredictTarget).
func (t *trainer) stepGraph(scope *model.Scope, in []*Node) []*Node {
	xt, target, tt, lr, emaDecay := in[0], in[1], in[2], in[3], in[4]
	g := xt.Graph()
	vel := scope.In("vel")
	v := Velocity(vel, t.cfg.Net, xt, tt, nil)
	if t.cfg.Predict == PredictTarget {
		v = Add(xt, v)
	}
	loss := ReduceAllMean(Square(Sub(v, target)))

	var vars []*model.Variable
	var nodes []*Node
	for vv := range vel.IterVariables() {
		if vv.Trainable && vv.InUseByGraph(g) {
			vars = append(vars, vv)
			nodes = append(nodes, vv.NodeValue(g))
		}
	}
	// A store loaded from a checkpoint lists variables in another order than a fresh one; sort by
	// path so the gradient-norm sum (float32) is identical after a resume.
	order := make([]int, len(vars))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return vars[order[a]].Path() < vars[order[b]].Path() })
	sv, sn := make([]*model.Variable, len(vars)), make([]*Node, len(vars))
	for i, j := range order {
		sv[i], sn[i] = vars[j], nodes[j]
	}
	vars, nodes = sv, sn
	grads := Gradient(loss, nodes...)
	// Global-norm clipping: one scale for all gradients.
	var sq *Node
	for _, gr := range grads {
		s := ReduceAllSum(Square(gr))
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
	for i, vv := range vars {
		gr := Mul(grads[i], scale)
		ms := scope.Store().Scope("/adamw" + vv.Scope()).WithInitializer(initializer.Zero)
		m1v := ms.VariableWithShape(vv.Name()+"_m1", vv.Shape()).SetTrainable(false)
		m2v := ms.VariableWithShape(vv.Name()+"_m2", vv.Shape()).SetTrainable(false)
		m1 := Add(MulScalar(m1v.NodeValue(g), 0.9), MulScalar(gr, 0.1))
		m2 := Add(MulScalar(m2v.NodeValue(g), 0.999), MulScalar(Square(gr), 0.001))
		m1v.SetNodeValue(m1)
		m2v.SetNodeValue(m2)
		nv := Sub(Mul(vv.NodeValue(g), decay), Mul(Div(m1, Add(Sqrt(m2), epsHat)), alpha))
		vv.SetNodeValue(nv)
		// EMA of the weights, read by the sampler (see emaPath).
		ev := scope.Store().Scope(emaScope+vv.Scope()).WithInitializer(initializer.BroadcastTensorToShape(tensors.FromScalar(float32(0)))).
			VariableWithShape(vv.Name(), vv.Shape()).SetTrainable(false)
		ev.SetNodeValue(Add(Mul(ev.NodeValue(g), emaDecay), Mul(nv, OneMinus(emaDecay))))
	}
	return []*Node{loss, gnorm}
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

// batch fills x0, x1 ([B,P]), t [B] and eps for step s, deterministically from (seed, s).
func (t *trainer) batch(s int, x0, x1, tt, eps []float32) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(s)+1))
	b, p := t.cfg.BatchSize, t.p
	for i := 0; i < b; i++ {
		r := rng.IntN(t.runs)
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
	return nil
}

func (t *trainer) run(ctx context.Context, opt Options) error {
	cfg, b, p := t.cfg, t.cfg.BatchSize, t.p
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
	x0, x1 := make([]float32, b*p), make([]float32, b*p)
	tt, eps := make([]float32, b), make([]float32, b*p)
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
		if err := t.batch(s, x0, x1, tt, eps); err != nil {
			return err
		}
		xt, target := tensors.FromShape(shapes.Make(dtypes.Float32, b, p)), tensors.FromShape(shapes.Make(dtypes.Float32, b, p))
		tensors.MutableFlatData(xt, func(xv []float32) {
			tensors.MutableFlatData(target, func(tv []float32) { linearPath(cfg.Predict, cfg.Sigma, x0, x1, tt, eps, xv, tv) })
		})
		out, err := t.step.Exec(xt, target, tensors.FromFlatDataAndDimensions(tt, b), float32(cfg.lrAt(s)), float32(cfg.emaAt(s)))
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
