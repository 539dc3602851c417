package adjoint

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/nmflow/nmflow/nmflow/eval"
)

// engine runs adjoint-matching iterations on a store holding the fine-tuned field's weights
// under /vel (trainable) and the base field's under /base/vel (frozen). Each of its four graphs
// is compiled once: one SDE step, one adjoint step, the reward and its gradient, the loss and
// its Adam update.
type engine struct {
	cfg       Config
	be        compute.Backend
	field     FieldFn
	train     TrainFieldFn
	scale     func(t *Node) *Node // ∂v/∂(network output); nil: 1
	mean, std []float32           // source moments (normalized space), [D]
	draw      func(rng *rand.Rand, dst []float32) error
	reward    Reward
	d         int
	store     *model.Store
	sde, adj  *model.Exec
	loss      *model.Exec
	rew       *Exec
	phase     float64 // > 0: a fixed grid phase instead of a random one (SampleSDE)
	lambda    float64 // the λ applied to the raw reward (Config.Lambda, over the spread if standardized)
}

func newEngine(be compute.Backend, cfg Config, store *model.Store, field FieldFn, train TrainFieldFn, scale func(*Node) *Node,
	mean, std []float32, draw func(*rand.Rand, []float32) error, reward Reward, decode Decoder) (*engine, error) {
	e := &engine{cfg: cfg, be: be, field: field, train: train, scale: scale, mean: mean, std: std, draw: draw, reward: reward, d: len(mean), store: store, lambda: cfg.Lambda}
	var err error
	if e.sde, err = model.NewExec(be, store, sdeStepGraph(field, mean, std)); err != nil {
		return nil, err
	}
	if e.adj, err = model.NewExec(be, store, adjointStepGraph(field)); err != nil {
		return nil, err
	}
	if e.loss, err = model.NewExec(be, store, e.lossGraph); err != nil {
		return nil, err
	}
	if e.rew, err = NewExec(be, rewardGraph(reward, decode)); err != nil {
		return nil, err
	}
	// One shape each: a second compilation would be a bug, so make it fail loudly.
	e.sde.SetMaxCache(1)
	e.adj.SetMaxCache(1)
	e.loss.SetMaxCache(1)
	e.rew.SetMaxCache(1)
	return e, nil
}

// lossGraph: X_k rows [n,D], t_k [n], ã_k [n,D] (n = Batch·Times, sample-major), clip level, lr,
// per-row KL weights [n] → clipped loss, per-sample losses [Batch], gradient norm, KL proxy.
//
// Per row: ‖u + σ·ã‖²/D with the control u = (b_ft − b_base)/σ = 2(v_ft − v_base)/σ, times
// (σ/(2s))² for WeightOutput (s = ∂v/∂output), which makes it ‖Δout − Δout*‖²/D. A sample's
// loss is the mean over its rows; one above the clip level c is scaled by c/loss (a constant in
// the gradient). The KL proxy is the Girsanov path KL ½∫‖u‖²dt, estimated from the drawn times.
func (e *engine) lossGraph(scope *model.Scope, in []*Node) []*Node {
	x, t, adj, level, lr, klWeight := in[0], in[1], in[2], in[3], in[4], in[5]
	g := x.Graph()
	m, times := e.cfg.Batch, e.cfg.Times
	vft, grads := e.train(scope, x, t)
	vb := StopGradient(e.field(scope.In(baseScope), x, t))
	sigma := Mul(InsertAxes(sigmaScale(t), -1), InsertAxes(Const(g, e.std), 0))
	u := Div(MulScalar(Sub(vft, vb), 2), sigma)
	res := Add(u, Mul(sigma, adj))
	if e.cfg.Weight == WeightOutput {
		s := OnesLike(t)
		if e.scale != nil {
			s = e.scale(t)
		}
		res = Mul(res, Div(sigma, MulScalar(InsertAxes(s, -1), 2)))
	}
	per := ReduceMean(Reshape(ReduceMean(Square(res), -1), m, times), -1)
	w := StopGradient(Min(ScalarOne(g, dtypes.Float32), Div(level, per)))
	loss := ReduceAllMean(Mul(w, per))
	kl := MulScalar(ReduceAllSum(Mul(ReduceSum(Square(u), -1), klWeight)), 0.5/float64(m))
	vars, gs := grads(loss)
	gnorm := adamUpdate(scope.Store(), vars, gs, lr, e.cfg.Clip)
	return []*Node{loss, per, gnorm, kl}
}

// stats of one iteration.
type stats struct {
	reward, loss, gnorm, kl float64
	metrics                 []float64
	perSample               []float64
}

// simulate draws n trajectories of the fine-tuned SDE for iteration it and returns every state
// X_0..X_K (the caller finalizes them), the iteration's grid, and its random stream, positioned
// after the draws.
func (e *engine) simulate(it int, n int) ([]*tensors.Tensor, []float64, *rand.Rand, error) {
	return e.simulateWith(rand.New(rand.NewPCG(e.cfg.Seed, uint64(it)+1)), n)
}

// spreadStream numbers the random streams of the spread measurement, apart from the iterations'.
const spreadStream = 1 << 62

// spread returns the mean and standard deviation of the reward over SpreadSamples trajectories
// of the SDE, drawn in batches of Batch on streams of their own (Config.Standardize). It runs
// before the first iteration, when the fine-tuned field is still the base's.
func (e *engine) spread() (mean, std float64, err error) {
	var rs []float64
	for c := 0; len(rs) < SpreadSamples; c++ {
		xs, _, rng, err := e.simulateWith(rand.New(rand.NewPCG(e.cfg.Seed, spreadStream+uint64(c))), e.cfg.Batch)
		if err != nil {
			return 0, 0, err
		}
		rin, err := e.reward.Inputs(rng)
		if err != nil {
			finalizeAll(xs)
			return 0, 0, err
		}
		out, err := e.rew.Exec(append([]any{xs[e.cfg.Steps], float32(0)}, tensorsAsAny(rin)...)...)
		finalizeAll(xs)
		if err != nil {
			return 0, 0, fmt.Errorf("adjoint: reward: %w", err)
		}
		for _, v := range tensors.MustCopyFlatData[float32](out[0]) {
			rs = append(rs, float64(v))
		}
		finalizeAll(out)
	}
	s := eval.Summarize(rs)
	if s.NonFinite > 0 || !(s.Std > 0) {
		return 0, 0, fmt.Errorf("adjoint: cannot standardize the reward: over %d samples of the base model it has %d non-finite values and spread %g; fine-tune without Config.Standardize (--standardize=false) and choose λ for the reward's own scale", len(rs), s.NonFinite, s.Std)
	}
	return s.Mean, s.Std, nil
}

func (e *engine) simulateWith(rng *rand.Rand, n int) ([]*tensors.Tensor, []float64, *rand.Rand, error) {
	delta := 0.1 + 0.8*rng.Float64()
	if e.phase > 0 {
		delta = e.phase
	}
	ts := grid(e.cfg.Steps, delta)
	x0 := make([]float32, n*e.d)
	if err := e.draw(rng, x0); err != nil {
		return nil, nil, nil, err
	}
	noise, err := RNGStateFromSeed(int64(rng.Uint64() >> 1))
	if err != nil {
		return nil, nil, nil, err
	}
	k := e.cfg.Steps
	xs := make([]*tensors.Tensor, k+1)
	xs[0] = tensors.FromFlatDataAndDimensions(x0, n, e.d)
	for j := range k {
		a, b, s := stepCoeffs(ts[j], ts[j+1])
		out, err := e.sde.Exec(xs[j], float32(ts[j]), float32(a), float32(b), float32(s), noise)
		if err != nil {
			finalizeAll(xs)
			return nil, nil, nil, fmt.Errorf("adjoint: SDE step %d: %w", j, err)
		}
		noise.FinalizeAll()
		xs[j+1], noise = out[0], out[1]
	}
	noise.FinalizeAll()
	return xs, ts, rng, nil
}

// iterate runs iteration it: simulate with the fine-tuned model, reward and its gradient at X_1,
// lean adjoint backwards with the base model, then one Adam step on the loss at Times random
// grid times per trajectory. level is the per-sample loss clip level (+Inf: none).
func (e *engine) iterate(it int, level float64) (*stats, error) {
	m, d, K, T := e.cfg.Batch, e.d, e.cfg.Steps, e.cfg.Times
	xs, ts, rng, err := e.simulate(it, m)
	if err != nil {
		return nil, err
	}
	defer finalizeAll(xs)
	rin, err := e.reward.Inputs(rng)
	if err != nil {
		return nil, err
	}
	// Loss times: T distinct grid indices in 1..K−1 per trajectory (σ is infinite at t = 0 and
	// 0 at t = 1); rowsAt[k] lists the rows (sample-major) that read X_k and ã_k. A row stands
	// for (K−1)/T grid points, each for a cell of the grid, in the KL proxy's time integral.
	rowsAt := make([][][2]int, K)
	first := K
	tt, kw := make([]float32, m*T), make([]float32, m*T)
	for i := range m {
		perm := rng.Perm(K - 1)
		for j := range T {
			k := perm[j] + 1
			rowsAt[k] = append(rowsAt[k], [2]int{i, i*T + j})
			tt[i*T+j] = float32(ts[k])
			kw[i*T+j] = float32((ts[k+1] - ts[k-1]) / 2 * float64(K-1) / float64(T))
			first = min(first, k)
		}
	}
	args := append([]any{xs[K], float32(e.lambda)}, tensorsAsAny(rin)...)
	out, err := e.rew.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("adjoint: reward: %w", err)
	}
	st := &stats{}
	st.reward = meanOf(tensors.MustCopyFlatData[float32](out[0]))
	for _, mt := range out[2:] {
		st.metrics = append(st.metrics, meanOf(tensors.MustCopyFlatData[float32](mt)))
		mt.FinalizeAll()
	}
	out[0].FinalizeAll()
	adj := out[1]
	xr, ar := make([]float32, m*T*d), make([]float32, m*T*d)
	gather := func(src *tensors.Tensor, dst []float32, rows [][2]int) {
		tensors.MustConstFlatData[float32](src, func(flat []float32) {
			for _, r := range rows {
				copy(dst[r[1]*d:(r[1]+1)*d], flat[r[0]*d:(r[0]+1)*d])
			}
		})
	}
	for k := K - 1; k >= first; k-- {
		a, b, _ := stepCoeffs(ts[k], ts[k+1])
		out, err := e.adj.Exec(adj, xs[k], float32(ts[k]), float32(a), float32(b))
		adj.FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("adjoint: adjoint step %d: %w", k, err)
		}
		adj = out[0]
		gather(xs[k], xr, rowsAt[k])
		gather(adj, ar, rowsAt[k])
	}
	adj.FinalizeAll()
	lv := float32(level)
	if !(level > 0) {
		lv = float32(math.Inf(1))
	}
	out, err = e.loss.Exec(tensors.FromFlatDataAndDimensions(xr, m*T, d), tensors.FromFlatDataAndDimensions(tt, m*T),
		tensors.FromFlatDataAndDimensions(ar, m*T, d), lv, float32(e.cfg.LR), tensors.FromFlatDataAndDimensions(kw, m*T))
	if err != nil {
		return nil, fmt.Errorf("adjoint: loss step: %w", err)
	}
	st.loss = float64(tensors.MustCopyFlatData[float32](out[0])[0])
	for _, v := range tensors.MustCopyFlatData[float32](out[1]) {
		st.perSample = append(st.perSample, float64(v))
	}
	st.gnorm = float64(tensors.MustCopyFlatData[float32](out[2])[0])
	st.kl = float64(tensors.MustCopyFlatData[float32](out[3])[0])
	finalizeAll(out)
	return st, nil
}

// nextLevel updates the per-sample loss clip level: an EMA of the q-quantile of the losses
// (the first quantile starts it).
func nextLevel(level float64, per []float64, q, decay float64) float64 {
	if q < 0 {
		return 0
	}
	p := eval.Percentile(per, 100*q)
	if math.IsNaN(p) {
		return level
	}
	if level == 0 {
		return p
	}
	return decay*level + (1-decay)*p
}

func meanOf(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			t.FinalizeAll()
		}
	}
}

func tensorsAsAny(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}
