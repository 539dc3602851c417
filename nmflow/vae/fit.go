package vae

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/progress"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Options control a fit without changing its result.
type Options struct {
	Backend  compute.Backend // nil: backend.Default()
	Progress io.Writer       // nil: a progress bar on stderr or in the notebook; io.Discard: none
}

// Fit trains a VAE on every checkpoint of the zoo (all runs, init to final), in normalized space.
// Each minibatch and its reparameterization noise are a function of (Config.Seed, step), and the
// training step is compiled once, so the same configuration gives the same weights.
func Fit(ctx context.Context, z *traj.Zoo, cfg Config, opt Options) (*Model, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	if err := z.Check(); err != nil {
		return nil, err
	}
	if z.Meta.Layout.Size() != z.Params {
		return nil, fmt.Errorf("vae: the zoo has no layout for its %d parameters; it must come from 'nmflow zoo' or traj.ReadZoo", z.Params)
	}
	if z, err = alignZoo(z, cfg); err != nil {
		return nil, err
	}
	be := opt.Backend
	if be == nil {
		if be, _, err = backend.Default(); err != nil {
			return nil, err
		}
	}
	p, n := z.Params, z.Runs*z.Checkpoints
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = z.Weights[i*p : (i+1)*p]
	}
	norm, err := flow.FitNormalizer(cfg.Norm, z.Meta.Layout, rows)
	if err != nil {
		return nil, err
	}
	xs := append([]float32(nil), z.Weights...)
	norm.Forward(xs)

	m := &Model{Config: cfg, Base: baseOf(z), Norm: norm, be: be}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	enc, dec := cfg.layers(p)
	opti := optimizer.Adam().Betas(0.9, 0.999).Epsilon(1e-8).WeightDecay(max(cfg.WeightDecay, 0)).Done()
	withGrads, ok := opti.(interface {
		UpdateGraphWithGradients(*model.Scope, []*Node, dtypes.DType)
	})
	if !ok {
		return nil, fmt.Errorf("vae: the GoMLX Adam optimizer no longer takes precomputed gradients")
	}
	// One graph: loss, gradients and the AdamW update, with the learning rate fed each step.
	step, err := model.NewExec(be, store, func(scope *model.Scope, in []*Node) []*Node {
		x, eps, lr := in[0], in[1], in[2]
		loss, recon, kl := lossGraph(scope, cfg, enc, dec, x, eps)
		optimizer.LearningRateVar(scope, dtypes.Float32, cfg.LR).SetNodeValue(lr)
		withGrads.UpdateGraphWithGradients(scope, scope.BuildTrainableVariablesGradientsGraph(loss), dtypes.Float32)
		return []*Node{loss, recon, kl}
	})
	if err != nil {
		return nil, err
	}
	defer step.Finalize()
	step.SetMaxCache(1)

	label := fmt.Sprintf("vae d_z=%d", cfg.LatentDim)
	bar := progress.To(opt.Progress, cfg.Steps, label)
	defer bar.Done()
	b, dz := cfg.BatchSize, cfg.LatentDim
	x, eps := make([]float32, b*p), make([]float32, b*dz)
	start := time.Now()
	for s := 0; s < cfg.Steps; s++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("vae: fit stopped at step %d of %d (a VAE is saved only once trained; run again to train it from the start): %w", s, cfg.Steps, err)
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(s)+1))
		for i := 0; i < b; i++ {
			r := rng.IntN(n)
			copy(x[i*p:(i+1)*p], xs[r*p:(r+1)*p])
		}
		for i := range eps {
			eps[i] = float32(rng.NormFloat64())
		}
		out, err := step.Exec(tensors.FromFlatDataAndDimensions(x, b, p), tensors.FromFlatDataAndDimensions(eps, b, dz), float32(cfg.lrAt(s)))
		if err != nil {
			return nil, fmt.Errorf("vae: training step %d failed: %w", s, err)
		}
		loss := tensors.MustCopyFlatData[float32](out[0])[0]
		recon := tensors.MustCopyFlatData[float32](out[1])[0]
		kl := tensors.MustCopyFlatData[float32](out[2])[0]
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return nil, fmt.Errorf("vae: the loss became %v at step %d (learning rate %g); lower the learning rate (--vae-lr) or β", loss, s, cfg.lrAt(s))
		}
		m.History = append(m.History, loss)
		m.ReconMSE = append(m.ReconMSE, recon/float32(p))
		m.KL = append(m.KL, kl)
		bar.Set(s + 1)
		if (s+1)%10 == 0 || s+1 == cfg.Steps {
			bar.SetInfo(fmt.Sprintf("recon mse %.4f kl %.1f", m.ReconMSE[s], kl))
		}
	}
	m.Steps = cfg.Steps
	m.WallSeconds = time.Since(start).Seconds()
	if err := m.adopt(store, enc, dec); err != nil {
		return nil, err
	}
	return m, nil
}

// baseOf describes the base nets of z, as flow records them in its models.
func baseOf(z *traj.Zoo) flow.BaseInfo {
	return flow.BaseInfo{Arch: z.Meta.Arch, Layout: z.Meta.Layout, Init: z.Meta.Init, Dataset: z.Meta.Dataset,
		ZooSeed: z.Meta.Seed, Runs: z.Runs, Steps: z.Steps}
}
