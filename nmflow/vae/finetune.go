package vae

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/nmflow/nmflow/nmflow/adjoint"
)

// DecoderGraph returns the decoder as a differentiable graph function from raw latents z
// [N,d_z] (the space Encode maps to) to raw base-net weights [N,P]: the decoder MLP with the
// trained weights as graph constants, then the inverse of the VAE's weight normalization. It is
// what Decode computes, as a graph, so that a reward's gradient can flow through it.
func (m *Model) DecoderGraph() (adjoint.Decoder, error) {
	if m.store == nil {
		return nil, fmt.Errorf("vae: the model has no weights (fit it with vae.Fit or load it with vae.Load)")
	}
	_, dec := m.Config.layers(m.P())
	type dense struct{ w, b *tensors.Tensor }
	ds := make([]dense, len(dec))
	for i, l := range dec {
		for j, name := range []string{"weights", "biases"} {
			path := model.JoinPath("/vae", l.Name, name)
			v := m.store.GetVariable(path)
			if v == nil {
				return nil, fmt.Errorf("vae: the model has no variable %s", path)
			}
			val, err := v.Value()
			if err != nil {
				return nil, fmt.Errorf("vae: reading %s: %w", path, err)
			}
			clone, err := val.LocalClone()
			if err != nil {
				return nil, fmt.Errorf("vae: copying %s: %w", path, err)
			}
			if j == 0 {
				ds[i].w = clone
			} else {
				ds[i].b = clone
			}
		}
	}
	denorm := adjoint.Denormalize(m.Norm.Mean, m.Norm.Std)
	return func(z *Node) *Node {
		g := z.Graph()
		return denorm(decodeWith(len(ds), z, func(i int, h *Node) *Node {
			return nn.Dense(h, ConstTensor(g, ds[i].w), ConstTensor(g, ds[i].b), compute.DenseLayoutOutputsInput)
		}))
	}, nil
}

// Decoder returns the map from the latent flow's space to raw base-net weights, the decoder
// adjoint.FineTune needs for a latent meta-model (adjoint.Options.Decoder): the flow's own
// inverse normalization of the latent coordinates (its samples live in its normalized space, as
// those of any flow.Model), then DecoderGraph.
func (lf *LatentFlow) Decoder() (adjoint.Decoder, error) {
	dec, err := lf.VAE.DecoderGraph()
	if err != nil {
		return nil, err
	}
	if lf.Flow == nil || lf.Flow.Norm == nil {
		return nil, fmt.Errorf("vae: the latent flow has no normalizer (fit it with vae.FitLatent or load it with vae.LoadLatent)")
	}
	if n := len(lf.Flow.Norm.Mean); n != lf.VAE.Config.LatentDim {
		return nil, fmt.Errorf("vae: the flow generates %d-dimensional vectors, the VAE decodes d_z=%d", n, lf.VAE.Config.LatentDim)
	}
	latents := adjoint.Denormalize(lf.Flow.Norm.Mean, lf.Flow.Norm.Std)
	return func(z *Node) *Node { return dec(latents(z)) }, nil
}

// FineTune steers the latent flow by adjoint matching (adjoint.FineTune) with a reward on the
// decoded base-net weights: r(D(z)), its gradient taken through the decoder (Decoder). The VAE
// is frozen; only the flow changes. With opt.Dir, the VAE is saved in opt.Dir/vae (a folder
// holding another VAE, or a weight-space meta-model, is refused), so the output folder is a
// latent meta-model that LoadLatent and 'nmflow sample' read and decode. opt.Decoder must be
// unset. It returns the run's record and the fine-tuned latent meta-model.
func (lf *LatentFlow) FineTune(ctx context.Context, reward adjoint.Reward, cfg adjoint.Config, opt adjoint.Options) (*adjoint.Result, *LatentFlow, error) {
	if lf == nil || lf.VAE == nil || lf.Flow == nil {
		return nil, nil, fmt.Errorf("vae: FineTune needs a latent flow with its VAE (vae.FitLatent or vae.LoadLatent)")
	}
	if opt.Decoder != nil {
		return nil, nil, fmt.Errorf("vae: FineTune sets the decoder itself (the VAE's); leave adjoint.Options.Decoder unset")
	}
	if _, err := cfg.Defaults(); err != nil {
		return nil, nil, err
	}
	dec, err := lf.Decoder()
	if err != nil {
		return nil, nil, err
	}
	opt.Decoder = dec
	if opt.Dir != "" {
		if err := checkFolder(opt.Dir, lf.VAE); err != nil {
			return nil, nil, err
		}
		if vdir := filepath.Join(opt.Dir, Dir); !Exists(vdir) {
			if err := lf.VAE.Save(vdir); err != nil {
				return nil, nil, err
			}
		}
	}
	res, err := adjoint.FineTune(ctx, lf.Flow, reward, cfg, opt)
	if err != nil {
		return res, nil, err
	}
	return res, &LatentFlow{VAE: lf.VAE, Flow: res.Model}, nil
}
