package vae

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Dir is the subfolder of a latent meta-model's folder that holds its VAE: a folder with
// model.json + ckpt/ (the flow over latents) and vae/ (the VAE) is a latent meta-model.
const Dir = "vae"

// LatentFlow is a meta-model fitted on a VAE's latents: Flow generates latents from N(0,I) in
// its normalized space, VAE decodes them to base-net weights.
type LatentFlow struct {
	VAE  *Model
	Flow *flow.Model
}

// FitLatent fits a flow meta-model on the latent zoo of a trained VAE (every checkpoint encoded,
// see Model.LatentZoo). The source defaults to flow.SourceGaussian (the zoo's init law lives in
// weight space, not in latent space: flow.SourceKaiming is an error) and the normalization to
// flow.NormParam (one scale per latent coordinate). With fopt.Dir the VAE is saved in
// fopt.Dir/vae before the flow is fitted there, so an interrupted fit resumes on the same latents.
// For a flow conditioned on tasks' support sets, see FitLatentCond.
func FitLatent(ctx context.Context, v *Model, z *traj.Zoo, cfg flow.Config, fopt flow.Options) (*LatentFlow, error) {
	cfg, err := LatentFlowConfig(cfg)
	if err != nil {
		return nil, err
	}
	lz, err := v.LatentZoo(z)
	if err != nil {
		return nil, err
	}
	return v.fitLatent(fopt, func(fopt flow.Options) (*flow.Model, error) { return flow.Fit(ctx, lz, cfg, fopt) })
}

// FitLatentCond is FitLatent for a conditional flow (METHODS.md §6, "NM-CFM w/ VAE for
// conditional generation"): every task's zoo is encoded by v into a latent zoo, and
// flow.FitConditional fits the support-set-conditioned flow (cfg.Cond, nil: the defaults) on them
// from N(0,I), the tasks' support pools unchanged. v should be trained on the checkpoints of all
// the tasks together (vae.Fit on flow.MergeTasks(tasks)). Tasks whose zoos differ in architecture,
// init law or checkpoints are refused. LatentFlow.Sample with flow.SampleOptions.Cond guides in
// latent space and decodes.
func FitLatentCond(ctx context.Context, v *Model, tasks []flow.CondTask, cfg flow.Config, fopt flow.Options) (*LatentFlow, error) {
	cfg, err := LatentFlowConfig(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := flow.MergeTasks(tasks); err != nil {
		return nil, err
	}
	latent := make([]flow.CondTask, len(tasks))
	for i, tk := range tasks {
		lz, err := v.LatentZoo(tk.Zoo)
		if err != nil {
			return nil, fmt.Errorf("task %q: %w", tk.Name, err)
		}
		latent[i] = flow.CondTask{Name: tk.Name, Zoo: lz, Pool: tk.Pool}
	}
	return v.fitLatent(fopt, func(fopt flow.Options) (*flow.Model, error) { return flow.FitConditional(ctx, latent, cfg, fopt) })
}

// fitLatent saves m in fopt.Dir/vae (after checking the folder is m's) and runs fit there.
func (m *Model) fitLatent(fopt flow.Options, fit func(flow.Options) (*flow.Model, error)) (*LatentFlow, error) {
	if fopt.Dir != "" {
		if err := checkFolder(fopt.Dir, m); err != nil {
			return nil, err
		}
		if err := m.Save(filepath.Join(fopt.Dir, Dir)); err != nil {
			return nil, err
		}
	}
	if fopt.Backend == nil {
		fopt.Backend = m.be
	}
	f, err := fit(fopt)
	if err != nil {
		return nil, err
	}
	return &LatentFlow{VAE: m, Flow: f}, nil
}

// checkFolder refuses a model folder whose flow was fitted on something else than v's latents:
// a flow on raw weights, or on another VAE's latents (flow.Fit would otherwise resume or keep a
// finished flow whose configuration matches, on stale latents). The same configuration trained
// on the same zoo gives the same VAE, so configuration and zoo identify it.
func checkFolder(dir string, v *Model) error {
	vdir := filepath.Join(dir, Dir)
	if !Exists(vdir) {
		if _, err := os.Stat(filepath.Join(dir, "model.json")); err == nil {
			return fmt.Errorf("vae: %s holds a meta-model fitted on the weights, not on VAE latents; use another folder", dir)
		}
		return nil
	}
	old, err := Load(vdir, v.be)
	if err != nil {
		return err
	}
	a, _ := json.Marshal(old.Config)
	b, _ := json.Marshal(v.Config)
	if string(a) != string(b) || old.Base.ZooSeed != v.Base.ZooSeed || old.Base.Runs != v.Base.Runs || !sameLayout(old.Base.Layout, v.Base.Layout) {
		return fmt.Errorf("vae: %s holds a latent flow fitted on another VAE (there: %s, zoo seed %d, %d runs; now: %s, zoo seed %d, %d runs); use another folder or remove it",
			dir, a, old.Base.ZooSeed, old.Base.Runs, b, v.Base.ZooSeed, v.Base.Runs)
	}
	return nil
}

// LatentFlowConfig sets the latent defaults of a flow configuration (Gaussian source, per-
// coordinate normalization) and rejects the Kaiming source, which has no meaning for latents.
func LatentFlowConfig(cfg flow.Config) (flow.Config, error) {
	switch cfg.Source {
	case "":
		cfg.Source = flow.SourceGaussian
	case flow.SourceKaiming:
		return cfg, fmt.Errorf("vae: a latent flow starts from N(0,I) (source %s); the %s source is the base nets' init law in weight space", flow.SourceGaussian, flow.SourceKaiming)
	}
	if cfg.Norm == "" {
		cfg.Norm = flow.NormParam
	}
	// Latent coordinates have no units to permute: the VAE aligned its zoo (vae.Config.Align).
	cfg.Align = flow.AlignNone
	return cfg.Defaults()
}

// IsLatent reports whether the meta-model folder dir holds a latent flow (a vae/ subfolder).
func IsLatent(dir string) bool { return Exists(filepath.Join(dir, Dir)) }

// LoadLatent reads a latent meta-model folder written by FitLatent with flow.Options.Dir.
func LoadLatent(dir string, be compute.Backend) (*LatentFlow, error) {
	f, err := flow.Load(dir, be)
	if err != nil {
		return nil, err
	}
	v, err := Load(filepath.Join(dir, Dir), be)
	if err != nil {
		return nil, err
	}
	if f.Base.Layout.Size() != v.Config.LatentDim || f.Base.ZooSeed != v.Base.ZooSeed || f.Base.Runs != v.Base.Runs {
		return nil, fmt.Errorf("vae: in %s the flow (%d dimensions, zoo seed %d, %d runs) was not fitted on this VAE's latents (d_z=%d, zoo seed %d, %d runs); refit with 'nmflow fit --latent vae' into a new folder",
			dir, f.Base.Layout.Size(), f.Base.ZooSeed, f.Base.Runs, v.Config.LatentDim, v.Base.ZooSeed, v.Base.Runs)
	}
	return &LatentFlow{VAE: v, Flow: f}, nil
}

// Sample draws n latents with the flow and decodes them: Weights, Inits (decoded source draws),
// Path snapshots and Marginals come back in raw weight space of the base nets.
func (lf *LatentFlow) Sample(n int, opt flow.SampleOptions) (*flow.Samples, error) {
	s, err := lf.Flow.Sample(n, opt)
	if err != nil {
		return nil, err
	}
	dec := func(zs []float32) ([]float32, error) {
		if zs == nil {
			return nil, nil
		}
		return lf.VAE.Decode(zs, n)
	}
	if s.Weights, err = dec(s.Weights); err != nil {
		return nil, err
	}
	if s.Inits, err = dec(s.Inits); err != nil {
		return nil, err
	}
	for _, set := range [][][]float32{s.Path, s.Marginals} {
		for i := range set {
			if set[i], err = dec(set[i]); err != nil {
				return nil, err
			}
		}
	}
	s.P = lf.VAE.P()
	return s, nil
}

// Generated wraps decoded samples in the trajectory container ([N,P] base-net weights) with the
// base nets' architecture and the flow's provenance, plus Extra["latent"] = "vae".
func (lf *LatentFlow) Generated(s *flow.Samples, method string, seed uint64, modelDir string) *traj.Generated {
	g := lf.Flow.Generated(s, method, seed, modelDir)
	b := lf.VAE.Base
	g.Meta.Arch, g.Meta.Layout, g.Meta.Init, g.Meta.Dataset = b.Arch, b.Layout, b.Init, b.Dataset
	g.P = lf.VAE.P()
	g.Meta.Extra["generator"] += " in a VAE latent space"
	g.Meta.Extra["latent"] = "vae"
	g.Meta.Extra["latent_dim"] = fmt.Sprint(lf.VAE.Config.LatentDim)
	return g
}
