package detect

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/solve"
)

// Meta-detectron near f (MetaConfig.StartTime > 0): the CDC candidates are the meta-model's ODE
// samples started SDEdit-style from f noised to t0 (flow.SampleOptions.StartTime), so they begin
// as nets that agree with f on P, not as fresh draws of the zoo's law. The reward steers them by
// selection: of MetaConfig.Batch candidates, the Ensemble with the lowest ℓ_cdc on the trial's
// P minibatch and Q are the CDCs (best of N, the λ → ∞ limit of resampling by exp(λ·r)).

// nearScorer evaluates ℓ_cdc, f-agreement on the P minibatch and the ensemble statistics of
// candidate nets for every trial of one |Q| (one compiled graph per size).
type nearScorer struct {
	r  *cdcReward
	ex *Exec
}

func (e *engine) nearScorer(t *trial, lambda float64) *nearScorer {
	r := e.cdcReward(t, lambda)
	ex := MustNewExec(e.be, func(in []*Node) []*Node {
		reward, agree, metrics := r.graph(in[0], in[1:])
		return append([]*Node{reward, agree}, metrics...)
	}).SetMaxCache(2)
	return &nearScorer{r: r, ex: ex}
}

// score returns −ℓ_cdc and the agreement with f on P per net, and the trial's counts and
// entropies for the ensemble of f and the first Ensemble nets of theta [N,P].
func (s *nearScorer) score(t *trial, theta []float32, n int, in []*tensors.Tensor) (reward, agree []float32, counts []int, ent []float64, err error) {
	args := []any{tensors.FromFlatDataAndDimensions(theta, n, len(theta)/n)}
	for _, x := range in {
		args = append(args, x)
	}
	out, err := s.ex.Exec(args...)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() {
		for _, o := range out {
			o.MustFinalizeAll()
		}
	}()
	reward, agree = tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	k := s.r.e.cfg.Ensemble
	counts = []int{t.size}
	for j := range k {
		counts = append(counts, int(math.Round(float64(tensors.MustCopyFlatData[float32](out[2+j])[0]))))
	}
	for j := range t.size {
		ent = append(ent, float64(tensors.MustCopyFlatData[float32](out[2+k+j])[0]))
	}
	return reward, agree, counts, ent, nil
}

// nearTrial generates MetaConfig.Batch candidates near f and keeps the Ensemble with the lowest
// ℓ_cdc. Its history has two iterations: 0, the first Ensemble candidates as generated; 1, the
// selected ones (the trial's CDCs). It returns the CDCs' mean agreement with f on P.
func (e *engine) nearTrial(ctx context.Context, meta *flow.Model, t *trial, mc MetaConfig, sc *nearScorer) (metaHistory, float64, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return metaHistory{}, 0, err
	}
	nb, p, k := mc.Batch, len(e.base.Params), e.cfg.Ensemble
	smp, err := meta.Sample(nb, flow.SampleOptions{Solve: solve.Options{Method: "euler", Steps: mc.Steps}, Seed: t.seed, Near: e.near, StartTime: mc.StartTime})
	if err != nil {
		return metaHistory{}, 0, fmt.Errorf("detect: sampling CDC candidates near f: %w", err)
	}
	r := e.cdcReward(t, sc.r.lambda)
	in, err := r.Inputs(rand.New(rand.NewPCG(t.seed, 0x6e656172))) // "near"
	if err != nil {
		return metaHistory{}, 0, err
	}
	var h metaHistory
	theta := smp.Weights
	for it := range 2 {
		reward, agree, counts, ent, err := sc.score(t, theta, nb, in)
		if err != nil {
			return metaHistory{}, 0, err
		}
		var loss, agr float64
		for j := range k {
			loss -= float64(reward[j]) / float64(k)
			agr += float64(agree[j]) / float64(k)
		}
		h.loss, h.counts, h.ent = append(h.loss, float32(loss)), append(h.counts, counts), append(h.ent, ent)
		if it == 1 {
			t.count, t.ent, t.members = counts, ent, k+1
			h.seconds = time.Since(start).Seconds()
			return h, agr, nil
		}
		// Best of N: reorder the candidates by reward, highest first (stable, so ties keep the
		// sampler's order and a run is reproducible).
		order := make([]int, nb)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case reward[a] > reward[b]:
				return -1
			case reward[a] < reward[b]:
				return 1
			}
			return 0
		})
		sorted := make([]float32, 0, len(theta))
		for _, i := range order {
			sorted = append(sorted, theta[i*p:(i+1)*p]...)
		}
		theta = sorted
	}
	panic("unreachable")
}

// alignedF returns f with its hidden units permuted into the order of the meta-model's nets: the
// same function, in the coordinates the meta-model was fitted in. A fit aligns its zoo (flow's
// default), and an f trained apart from that zoo has its units in an order of its own; noised in
// it, f was pulled towards zoo nets whose units mean other things (CIFAR-10 MLP 3072-128-10, f
// outside a 16-run zoo: candidates agreed with f on 0.58 of P even at t0 = 0.95). The reference
// is the mean of 32 of the meta-model's own nets. Unaligned meta-models get f as it is.
func alignedF(meta *flow.Model, base *Base, seed uint64) ([]float32, bool, error) {
	mcfg, err := meta.Config.Defaults()
	if err != nil {
		return nil, false, err
	}
	if mcfg.Align != flow.AlignWeights || meta.Base.Arch.Kind == "" {
		return base.Params, false, nil
	}
	const n = 32
	smp, err := meta.Sample(n, flow.SampleOptions{Solve: solve.Options{Method: "euler", Steps: 20}, Seed: seed ^ 0x726566}) // "ref"
	if err != nil {
		return nil, false, fmt.Errorf("detect: sampling the meta-model's nets to align f with: %w", err)
	}
	p := len(base.Params)
	ref := make([]float32, p)
	for i := range n {
		for k, v := range smp.Weights[i*p : (i+1)*p] {
			ref[k] += v / n
		}
	}
	spec := base.Net.Spec()
	perm, err := align.Match(spec, ref, base.Params, seed)
	if err != nil {
		return nil, false, fmt.Errorf("detect: aligning f with the meta-model's nets: %w", err)
	}
	out, err := align.Apply(spec, perm, base.Params)
	return out, err == nil, err
}

// agreementGraph is, per net, the fraction of the P minibatch where the net's class is f's.
func agreementGraph(lP, yP *Node) *Node {
	same := ConvertDType(Equal(ArgMax(lP, -1, yP.DType()), yP), dtypes.Float32)
	return ReduceMean(same, 1)
}

// chooseStart resolves StartAuto: for each start time of StartGrid in turn, Batch candidates
// (seeded by the run's seed) and their mean agreement with f on up to 1,000 P-train examples;
// the first that reaches MinAgreement is chosen, else the last.
func (e *engine) chooseStart(meta *flow.Model, mc MetaConfig, seed uint64) (float64, []StartAgreement, error) {
	k := min(1000, e.train.N)
	idx := make([]int32, mc.Batch*k)
	for i := range idx {
		idx[i] = int32(i % k)
	}
	var out []StartAgreement
	for _, t0 := range StartGrid {
		smp, err := meta.Sample(mc.Batch, flow.SampleOptions{Solve: solve.Options{Method: "euler", Steps: mc.Steps}, Seed: seed ^ 0x63616c6962, Near: e.near, StartTime: t0}) // "calib"
		if err != nil {
			return 0, nil, fmt.Errorf("detect: sampling candidates near f: %w", err)
		}
		res, err := e.logits.Exec(e.train.X, tensors.FromFlatDataAndDimensions(idx, mc.Batch, k), e.base.Norm.Scale, e.base.Norm.Shift,
			tensors.FromFlatDataAndDimensions(smp.Weights, mc.Batch, len(e.base.Params)))
		if err != nil {
			return 0, nil, err
		}
		yhat := argmaxRows(tensors.MustCopyFlatData[float32](res[0]), e.c)
		res[0].MustFinalizeAll()
		same := 0
		for i, y := range yhat {
			if y == e.trainYhat[i%k] {
				same++
			}
		}
		out = append(out, StartAgreement{StartTime: t0, Agreement: float64(same) / float64(len(yhat))})
		if out[len(out)-1].Agreement >= mc.MinAgreement {
			break
		}
	}
	return out[len(out)-1].StartTime, out, nil
}
