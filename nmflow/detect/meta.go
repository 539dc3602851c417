package detect

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/adjoint"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/progress"
)

// MetaConfig sets how meta-detectron fine-tunes the meta-model for each trial (adjoint matching,
// nmflow/adjoint). The zero value of every field means its documented default.
type MetaConfig struct {
	// Lambda is the tilt of p*(θ) ∝ p_base(θ)·exp(Lambda·(−ℓ_cdc(θ))) (default 10). ℓ_cdc is in
	// nats per example, and generated nets differ by a fraction of a nat in it.
	Lambda float64 `json:"lambda"`
	// Updates is the number of fine-tuning updates per trial (default 6). The run makes Updates+1
	// iterations: iteration i simulates the model after i updates, and the CDCs of the last one
	// are the trial's (the last update itself is never sampled).
	Updates int `json:"updates"`
	// Batch is the number of SDE trajectories (generated nets) per iteration (default 8); the
	// first Config.Ensemble of them are the trial's CDCs. Near f (StartTime > 0) it is the number
	// of candidates (default 16).
	Batch int `json:"batch"`
	// Steps, Times and LR are adjoint.Config's: SDE steps (default 6), loss times per
	// trajectory (default 4) and Adam's learning rate (default 1e-3). Few of everything keeps a
	// trial at about a second on two CPU cores for MNIST MLPs (docs/detect.md).
	Steps int     `json:"steps"`
	Times int     `json:"times"`
	LR    float64 `json:"lr"`
	// StartTime t0 ∈ (0, 1) generates the CDCs near f instead of fine-tuning (near.go): Batch
	// candidates sampled by the meta-model's ODE (Euler, Steps on the full [0, 1] grid) from f
	// noised to t0, SDEdit-style, of which the Ensemble with the lowest ℓ_cdc are the CDCs.
	// Updates, Times, LR and Lambda then do not apply. 0: adjoint fine-tuning from the source;
	// StartAuto: t0 chosen per f from P-train agreement (MinAgreement).
	StartTime float64 `json:"start_time,omitempty"`
	// MinAgreement is the agreement with f on P that StartAuto asks of the candidates (default 0.9).
	MinAgreement float64 `json:"min_agreement,omitempty"`
}

// StartAuto, as MetaConfig.StartTime, chooses the start time per f before any trial: the
// earliest of StartGrid at which the candidates agree with f on at least MinAgreement of P-train
// (P only, never Q), else the grid's last. It is the CLI's default: a fixed t0 that keeps
// MNIST's CDCs at 92% agreement when f is in the meta-model's zoo kept 78% for an f outside
// it (docs/detect.md).
const StartAuto = -1

// StartGrid are the start times StartAuto tries, in order.
var StartGrid = []float64{0.3, 0.5, 0.7, 0.8, 0.9, 0.95}

// Defaults fills unset fields and validates the rest against the detection config.
func (m MetaConfig) Defaults(cfg Config) (MetaConfig, error) {
	if m.Lambda == 0 {
		m.Lambda = 10
	}
	if m.Steps < 0 || m.Batch < 0 || m.Times < 0 {
		return m, fmt.Errorf("detect: meta-detectron's steps, batch and times must be ≥ 0 (0: default), got %d, %d, %d", m.Steps, m.Batch, m.Times)
	}
	if m.Updates == 0 {
		m.Updates = 6
	}
	if m.Batch == 0 {
		m.Batch = 8
		if m.StartTime != 0 { // candidates to select from
			m.Batch = 16
		}
	}
	if m.Steps == 0 {
		m.Steps = 6
	}
	if m.Times == 0 {
		m.Times = min(4, m.Steps-1)
	}
	if m.LR == 0 {
		m.LR = 1e-3
	}
	switch {
	case m.Updates < 0:
		return m, fmt.Errorf("detect: meta-detectron needs updates ≥ 0 (0 means the default 6), got %d", m.Updates)
	case m.Batch < cfg.Ensemble:
		return m, fmt.Errorf("detect: meta-detectron generates its %d CDCs from a batch of %d trajectories; raise the batch to at least the ensemble size or lower the ensemble", cfg.Ensemble, m.Batch)
	}
	if !(m.StartTime >= 0 && m.StartTime < 1) && m.StartTime != StartAuto {
		return m, fmt.Errorf("detect: meta-detectron's start time must be in [0, 1) or StartAuto (0: fine-tune from the source; e.g. 0.8 starts the CDCs near f), got %v", m.StartTime)
	}
	if m.MinAgreement == 0 {
		m.MinAgreement = 0.9
	}
	if !(m.MinAgreement > 0 && m.MinAgreement <= 1) {
		return m, fmt.Errorf("detect: meta-detectron's minimum agreement with f must be in (0, 1], got %v", m.MinAgreement)
	}
	_, err := m.tune(0)
	return m, err
}

// tune is the adjoint configuration of one trial.
func (m MetaConfig) tune(seed uint64) (adjoint.Config, error) {
	return adjoint.Config{Lambda: m.Lambda, Steps: m.Steps, Times: m.Times, Batch: m.Batch, Iters: m.Updates + 1, LR: m.LR, Seed: seed}.Defaults()
}

// MetaInfo is what a meta-detectron Result records about its meta-model and fine-tuning.
type MetaInfo struct {
	Model  string     `json:"model"`  // the meta-model: method, source, coupling, fit steps, zoo runs
	Exact  bool       `json:"exact"`  // adjoint.Exact: the memoryless schedule is exact for it
	Config MetaConfig `json:"config"` // as run: StartAuto resolved to the chosen start time
	// Calibration (StartAuto) is the candidates' agreement with f on P-train at each start time
	// tried, up to the one chosen.
	Calibration []StartAgreement `json:"calibration,omitempty"`
	// AlignedF: near f, f's hidden units were first permuted into the meta-model's order (the
	// same function; see alignedF).
	AlignedF bool `json:"aligned_f,omitempty"`
}

// StartAgreement is the mean agreement with f on P-train of candidates started at StartTime.
type StartAgreement struct {
	StartTime float64 `json:"start_time"`
	Agreement float64 `json:"agreement"`
}

// MetaFlowConfig is the meta-model configuration meta-detectron fits by default: flow matching
// from a standard Gaussian with independent coupling, the case where adjoint matching is exact
// (docs/adjoint.md), endpoint prediction, time skew 5, a residual MLP of the given width.
func MetaFlowConfig(steps, width int, seed uint64) flow.Config {
	return flow.Config{Method: flow.MethodCFM, Source: flow.SourceGaussian, Coupling: flow.CouplingIndependent,
		Predict: flow.PredictTarget, TimeSkew: 5, Norm: flow.NormLayer, Net: flow.NetConfig{Width: width, Depth: 1},
		Steps: steps, BatchSize: 64, LR: 3e-3, EMA: 0.99, Seed: seed}
}

// CheckMeta reports whether meta generates nets that f's pipeline can evaluate: the same
// parameter layout, and inputs preprocessed the same way.
func CheckMeta(base *Base, meta *flow.Model) error {
	if meta == nil || meta.Weights() == nil {
		return fmt.Errorf("detect: meta-detectron needs a fitted meta-model (flow.Fit, or flow.Load of an `nmflow fit` folder)")
	}
	want, got := base.Net.Layout(), meta.Base.Layout
	same := len(want.Segments) == len(got.Segments)
	for i := 0; same && i < len(want.Segments); i++ {
		same = want.Segments[i].Name == got.Segments[i].Name && slices.Equal(want.Segments[i].Shape, got.Segments[i].Shape)
	}
	if !same {
		return fmt.Errorf("detect: the meta-model generates %s nets (P = %d), but f is %s (P = %d); fit the meta-model on a zoo of f's architecture",
			meta.Base.Arch, got.Size(), base.Net.Spec(), want.Size())
	}
	ds := meta.Base.Dataset
	if ds.Standardize != base.Norm.On {
		return fmt.Errorf("detect: the meta-model's zoo was trained with input standardization %v, f with %v; fit the meta-model on a zoo trained like f", ds.Standardize, base.Norm.On)
	}
	if ds.Standardize {
		match := len(ds.Mean) == len(base.Norm.Mean) && len(ds.Std) == len(base.Norm.Std)
		for i := 0; match && i < len(ds.Mean); i++ {
			match = math.Abs(float64(ds.Mean[i]-base.Norm.Mean[i])) < 1e-4 && math.Abs(float64(ds.Std[i]-base.Norm.Std[i])) < 1e-4
		}
		if !match {
			return fmt.Errorf("detect: the meta-model's zoo standardized inputs with mean %v std %v, f with mean %v std %v; fit the meta-model on a zoo of f's training data",
				ds.Mean, ds.Std, base.Norm.Mean, base.Norm.Std)
		}
	}
	return nil
}

// RunMeta runs meta-detectron over the same trials as Run (same Q draws for the same cfg.Seed):
// for each trial, meta is fine-tuned by adjoint matching with the reward −ℓ_cdc on P ∪ Q (f's
// labels, λ_cdc = cfg.Lambda or 1/(|Q|+1): a reward on one minibatch has no epoch over which to
// spread Detectron's per-point weighting), and the first cfg.Ensemble nets its fine-tuned SDE
// generates are the CDCs: Q is refined by each in turn and the ensemble of f and the CDCs gives
// the same disagreement and entropy statistics. cfg's Epochs, Steps, LR, Patience and Models (SGD
// training) do not apply. Every size also reports both tests at every fine-tuning iteration
// (SizeResult.Iterations). Trials run one after another, each with its own fine-tuning.
func RunMeta(ctx context.Context, base *Base, meta *flow.Model, bench Bench, sizes []int, trials int, cfg Config, mc MetaConfig, opt Options) (*Result, error) {
	start := time.Now()
	if err := CheckMeta(base, meta); err != nil {
		return nil, err
	}
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	if mc, err = mc.Defaults(cfg); err != nil {
		return nil, err
	}
	e, res, err := prepare("meta", base, bench, sizes, trials, cfg, opt)
	if err != nil {
		return nil, err
	}
	var calib []StartAgreement
	aligned := false
	if mc.StartTime != 0 {
		if e.near, aligned, err = alignedF(meta, base, cfg.Seed); err != nil {
			return nil, err
		}
	}
	if mc.StartTime == StartAuto {
		if mc.StartTime, calib, err = e.chooseStart(meta, mc, cfg.Seed); err != nil {
			return nil, err
		}
	}
	mcfg := meta.Config
	res.Meta = &MetaInfo{Calibration: calib, Model: fmt.Sprintf("%s source=%s coupling=%s predict=%s width=%d, %d steps on %d runs", mcfg.Method, mcfg.Source, mcfg.Coupling,
		mcfg.Predict, mcfg.Net.Width, meta.Steps, meta.Base.Runs), Exact: adjoint.Exact(meta), Config: mc, AlignedF: aligned}
	label := fmt.Sprintf("meta-detectron %s", bench.Name)
	total := 2 * trials * len(sizes)
	bar := progress.To(opt.Progress, total, label)
	defer bar.Done()
	for si, n := range sizes {
		t0 := time.Now()
		all := e.drawTrials(cfg.Seed, si, n, trials, bench.Null.N, bench.Alt.N)
		hists := make([]metaHistory, len(all))
		agree := make([]float64, len(all))
		var near *nearScorer
		if mc.StartTime > 0 {
			near = e.nearScorer(all[0], e.metaLambda(all[0]))
		}
		for i, t := range all {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			bar.SetInfo(fmt.Sprintf("|Q|=%d, trial %d of %d", n, i+1, len(all)))
			if near != nil {
				hists[i], agree[i], err = e.nearTrial(ctx, meta, t, mc, near)
			} else {
				hists[i], err = e.metaTrial(ctx, meta, t, mc)
			}
			if err != nil {
				return nil, err
			}
			bar.Add(1)
		}
		sr := summarize(all, n, trials, e.c, cfg.Alpha)
		sr.SecondsPerTrial = time.Since(t0).Seconds() / float64(len(all))
		for i := range all {
			tr := &sr.Null[i%trials]
			if i >= trials {
				tr = &sr.Alt[i-trials]
			}
			tr.CDCLoss, tr.Seconds, tr.PAgreement = hists[i].loss, hists[i].seconds, agree[i]
			if i < trials {
				sr.PAgreementNull += agree[i] / float64(trials)
			}
			for _, c := range hists[i].counts {
				tr.DisagreementHistory = append(tr.DisagreementHistory, float64(n-c[len(c)-1]))
			}
		}
		sr.Iterations = iterationCurve(all, hists, n, trials, e.c, cfg.Alpha)
		res.Sizes = append(res.Sizes, sr)
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// metaHistory is one trial's record per fine-tuning iteration.
type metaHistory struct {
	loss    []float32   // mean ℓ_cdc of the iteration's generated nets
	counts  [][]int     // |Q| after each CDC, starting with |Q|
	ent     [][]float64 // per Q point, the entropy of the mean softmax of f and the CDCs
	seconds float64
}

// metaTrial fine-tunes meta for one trial and sets the trial's counts and entropies from the
// CDCs of the last iteration.
func (e *engine) metaTrial(ctx context.Context, meta *flow.Model, t *trial, mc MetaConfig) (metaHistory, error) {
	start := time.Now()
	r := e.cdcReward(t, e.metaLambda(t))
	acfg, err := mc.tune(t.seed)
	if err != nil {
		return metaHistory{}, err
	}
	res, err := adjoint.FineTune(ctx, meta, r, acfg, adjoint.Options{Progress: io.Discard})
	if err != nil {
		return metaHistory{}, fmt.Errorf("detect: fine-tuning the meta-model for a trial: %w", err)
	}
	k, n := e.cfg.Ensemble, t.size
	var h metaHistory
	for it := range res.Iters {
		h.loss = append(h.loss, -res.RewardHistory[it])
		counts := []int{n}
		for j := range k {
			counts = append(counts, int(math.Round(float64(res.MetricHistory[j][it]))))
		}
		ent := make([]float64, n)
		for j := range ent {
			ent[j] = float64(res.MetricHistory[k+j][it])
		}
		h.counts, h.ent = append(h.counts, counts), append(h.ent, ent)
	}
	last := res.Iters - 1
	t.count, t.ent, t.members = h.counts[last], h.ent[last], k+1
	h.seconds = time.Since(start).Seconds()
	return h, nil
}

// metaLambda is ℓ_cdc's λ for a meta-detectron trial: Config.Lambda, or 1/(|Q|+1) (a reward on
// one minibatch has no epoch over which to spread Detectron's per-point weighting).
func (e *engine) metaLambda(t *trial) float64 {
	if e.cfg.Lambda != 0 {
		return e.cfg.Lambda
	}
	return 1 / float64(t.size+1)
}

// iterationCurve evaluates both tests on the CDCs of every fine-tuning iteration.
func iterationCurve(all []*trial, hists []metaHistory, n, trials, c int, alpha float64) []IterStat {
	var out []IterStat
	for it := range hists[0].loss {
		at := make([]*trial, len(all))
		var loss [2]float64
		for i, t := range all {
			at[i] = &trial{size: n, alt: t.alt, seed: t.seed, count: hists[i].counts[it], ent: hists[i].ent[it]}
			loss[i/trials] += float64(hists[i].loss[it]) / float64(trials)
		}
		sr := summarize(at, n, trials, c, alpha)
		out = append(out, IterStat{Iter: it, CDCLossNull: loss[0], CDCLossAlt: loss[1], Disagreement: sr.Disagreement, Entropy: sr.Entropy})
	}
	return out
}

// IterStat is meta-detectron's state after Iter fine-tuning updates: the mean ℓ_cdc of the
// generated nets over null and alternative trials, and both tests on that iteration's CDCs.
type IterStat struct {
	Iter         int     `json:"iter"`
	CDCLossNull  float64 `json:"cdc_loss_null"`
	CDCLossAlt   float64 `json:"cdc_loss_alt"`
	Disagreement Test    `json:"disagreement"`
	Entropy      Test    `json:"entropy"`
}

// cdcReward is r(θ) = −ℓ_cdc(θ) for one trial: a fresh P minibatch (f's labels) per iteration
// plus all of Q (f's labels), through CDCLoss. Its metrics are statistics of the ensemble of f
// and the first Ensemble generated nets, the same value for every net: |Q| kept after each CDC
// (Q refined in turn), then the entropy of the ensemble's mean softmax at each Q point.
type cdcReward struct {
	e      *engine
	t      *trial
	q      *tensors.Tensor // [|Q|] pool indices
	fProbs *tensors.Tensor // [|Q|, C] f's softmax on Q
	lambda float64
	batch  int
}

func (e *engine) cdcReward(t *trial, lambda float64) *cdcReward {
	probs := make([]float32, len(t.probs))
	for i, p := range t.probs {
		probs[i] = float32(p) // member 0 of a fresh trial is f alone
	}
	return &cdcReward{e: e, t: t, q: tensors.FromFlatDataAndDimensions(t.q, len(t.q)),
		fProbs: tensors.FromFlatDataAndDimensions(probs, len(t.q), e.c), lambda: lambda, batch: min(e.cfg.BatchSize, e.train.N)}
}

// Name is "cdc".
func (r *cdcReward) Name() string { return "cdc" }

// Metrics names kept_1..kept_K, then entropy_0..entropy_{|Q|−1}.
func (r *cdcReward) Metrics() []string {
	var out []string
	for k := range r.e.cfg.Ensemble {
		out = append(out, fmt.Sprintf("kept_%d", k+1))
	}
	for j := range r.t.size {
		out = append(out, fmt.Sprintf("entropy_%d", j))
	}
	return out
}

// Inputs draws the iteration's P minibatch (with replacement) from its random stream.
func (r *cdcReward) Inputs(rng *rand.Rand) ([]*tensors.Tensor, error) {
	idx := make([]int32, r.batch)
	for i := range idx {
		idx[i] = int32(rng.IntN(r.e.train.N))
	}
	e := r.e
	return []*tensors.Tensor{e.train.X, e.train.Y, tensors.FromFlatDataAndDimensions(idx, r.batch), e.pool.X, e.pool.Y, r.q,
		e.base.Norm.Scale, e.base.Norm.Shift, r.fProbs}, nil
}

// Graph returns −ℓ_cdc [N] of the N nets theta [N,P] and the ensemble statistics.
func (r *cdcReward) Graph(theta *Node, in []*Node) (*Node, []*Node) {
	reward, _, metrics := r.graph(theta, in)
	return reward, metrics
}

// graph is Graph plus each net's agreement with f on the P minibatch [N].
func (r *cdcReward) graph(theta *Node, in []*Node) (reward, agree *Node, metrics []*Node) {
	e := r.e
	trainX, trainY, idx, poolX, poolY, q, scale, shift, fProbs := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8]
	g := theta.Graph()
	m, nb, nq := theta.Shape().Dimensions[0], r.batch, r.t.size
	rows := func(x, i *Node) *Node {
		px := feed.Pixels(x, InsertAxes(i, -1), scale, shift, e.d, e.base.Norm.On)
		return Reshape(px, append([]int{i.Shape().Dimensions[0]}, e.shape...)...)
	}
	logits := e.base.Net.Forward(theta, Concatenate([]*Node{rows(trainX, idx), rows(poolX, q)}, 0)) // [N, B+Q, C]
	lP, lQ := SliceAxis(logits, 1, AxisRange(0, nb)), SliceAxis(logits, 1, AxisRange(nb, nb+nq))
	yP := BroadcastToDims(InsertAxes(Gather(trainY, InsertAxes(idx, -1)), 0), m, nb)
	yQ := BroadcastToDims(InsertAxes(Gather(poolY, InsertAxes(q, -1)), 0), m, nq)
	mask := Ones(g, shapes.Make(dtypes.Float32, m, nq))
	lambda := BroadcastToDims(Scalar(g, dtypes.Float32, r.lambda), m)
	reward = Neg(CDCLoss(lP, yP, lQ, yQ, mask, lambda))
	agree = agreementGraph(StopGradient(lP), yP)

	k := e.cfg.Ensemble
	cdcs := StopGradient(SliceAxis(lQ, 0, AxisRange(0, k))) // [K, Q, C]
	dis := ConvertDType(NotEqual(ArgMax(cdcs, -1, yQ.DType()), SliceAxis(yQ, 0, AxisRange(0, k))), dtypes.Float32)
	for j := 1; j <= k; j++ {
		rejected := ReduceAllSum(ReduceMax(SliceAxis(dis, 0, AxisRange(0, j)), 0))
		metrics = append(metrics, BroadcastToDims(Sub(Scalar(g, dtypes.Float32, float64(nq)), rejected), m))
	}
	mean := DivScalar(Add(fProbs, ReduceSum(Softmax(cdcs, -1), 0)), float64(k+1)) // [Q, C]
	ent := Neg(ReduceSum(Mul(mean, Log(Max(mean, Scalar(g, dtypes.Float32, 1e-30)))), -1))
	for j := range nq {
		metrics = append(metrics, BroadcastToDims(Reshape(SliceAxis(ent, 0, AxisElem(j))), m))
	}
	return reward, agree, metrics
}
