package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/ckptcheck"
	"github.com/nmflow/nmflow/nmflow/task"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/vae"
)

// latentOpts are fit's --latent flags: with --latent vae, a weight VAE is trained first (into
// OUT/vae) and the flow is fitted on its latents; 'nmflow sample' then decodes what it generates.
type latentOpts struct {
	kind                     *string
	dim, steps, width, depth *int
	batch, testSize          *int
	beta, lr                 *float64
	vcfg                     vae.Config
}

func addLatentFlags(fs *flag.FlagSet) *latentOpts {
	return &latentOpts{
		kind:     fs.String("latent", "", "fit the flow in a latent space: vae (a weight VAE is trained first, saved in OUT/vae; the flow starts from N(0,I))"),
		dim:      fs.Int("latent-dim", 32, "--latent vae: latent dimension d_z"),
		beta:     fs.Float64("vae-beta", 1e-4, "--latent vae: KL weight β of the VAE loss ‖x − D(z)‖² + β·KL"),
		steps:    fs.Int("vae-steps", 2000, "--latent vae: VAE optimizer steps"),
		width:    fs.Int("vae-width", 256, "--latent vae: hidden width of the VAE's encoder and decoder"),
		depth:    fs.Int("vae-depth", 1, "--latent vae: hidden layers of the encoder and of the decoder"),
		batch:    fs.Int("vae-batch", 64, "--latent vae: VAE minibatch size"),
		lr:       fs.Float64("vae-lr", 1e-3, "--latent vae: VAE peak learning rate (AdamW, warm-up then cosine)"),
		testSize: fs.Int("vae-test-size", 0, "--latent vae: test examples used to compare decoded nets with the originals (0: the zoo's test set)"),
	}
}

// configure checks the latent flags after parsing and, with --latent vae, gives the flow its
// latent defaults (Gaussian source, per-coordinate normalization) unless --source or --norm say
// otherwise.
func (lo *latentOpts) configure(fs *flag.FlagSet, cfg *flow.Config, seed uint64) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch *lo.kind {
	case "":
		for _, name := range []string{"latent-dim", "vae-beta", "vae-steps", "vae-width", "vae-depth", "vae-batch", "vae-lr", "vae-test-size"} {
			if set[name] {
				return fmt.Errorf("--%s applies to a latent flow: add --latent vae", name)
			}
		}
		return nil
	case "vae":
	default:
		return fmt.Errorf("unknown --latent %q (want vae, or leave it out to fit the flow on the weights)", *lo.kind)
	}
	switch {
	case *lo.dim < 1:
		return fmt.Errorf("--latent-dim must be ≥ 1 (e.g. 32), got %d", *lo.dim)
	case *lo.steps < 1 || *lo.batch < 1 || *lo.width < 1 || *lo.depth < 1:
		return fmt.Errorf("--vae-steps, --vae-batch, --vae-width and --vae-depth must be ≥ 1")
	case !(*lo.beta > 0):
		return fmt.Errorf("--vae-beta must be > 0 (e.g. 1e-4), got %g", *lo.beta)
	case !(*lo.lr > 0):
		return fmt.Errorf("--vae-lr must be > 0, got %g", *lo.lr)
	case *lo.testSize < 0:
		return fmt.Errorf("--vae-test-size must be ≥ 0 (0: the zoo's test set), got %d", *lo.testSize)
	}
	vcfg, err := vae.Config{LatentDim: *lo.dim, Width: *lo.width, Depth: *lo.depth, Beta: *lo.beta, Steps: *lo.steps,
		BatchSize: *lo.batch, LR: *lo.lr, Seed: seed, Align: cfg.Align}.Defaults() // --align goes to the VAE
	if err != nil {
		return err
	}
	lo.vcfg = vcfg
	if !set["source"] {
		cfg.Source = ""
	}
	if !set["norm"] {
		cfg.Norm = ""
	}
	c, err := vae.LatentFlowConfig(*cfg)
	if err != nil {
		return err
	}
	*cfg = c
	return nil
}

// prepare trains the VAE on z and saves it in out/vae with its reconstruction accuracy, or
// reloads the one already there (a resumed or repeated fit) after checking it is the same. With
// tasks (--condition), z holds all their runs and each task's nets are tested on the task.
func (lo *latentOpts) prepare(ctx context.Context, z *traj.Zoo, tasks []flow.CondTask, out string, stderr io.Writer) (*vae.Model, error) {
	dir := filepath.Join(out, vae.Dir)
	if prev, _ := flow.ReadModelJSON(out); prev != nil && !vae.Exists(dir) {
		return nil, fmt.Errorf("%s holds a meta-model fitted on the weights, not on VAE latents; use another --out folder", out)
	}
	if vae.Exists(dir) {
		v, err := vae.Load(dir, nil)
		if err != nil {
			return nil, err
		}
		a, _ := json.Marshal(v.Config)
		b, _ := json.Marshal(lo.vcfg)
		if string(a) != string(b) {
			return nil, fmt.Errorf("%s holds a VAE trained with other settings:\n  there: %s\n  now:   %s\nuse the same settings, or another --out folder", dir, a, b)
		}
		if err := v.CheckZoo(z); err != nil {
			return nil, err
		}
		if v.Base.ZooSeed != z.Meta.Seed || v.Base.Runs != z.Runs {
			return nil, fmt.Errorf("%s holds a VAE trained on another zoo (seed %d, %d runs); use another --out folder", dir, v.Base.ZooSeed, v.Base.Runs)
		}
		fmt.Fprintf(stderr, "nmflow fit: reusing the VAE in %s (d_z=%d, %d steps)\n", dir, v.Config.LatentDim, v.Steps)
		return v, nil
	}
	c := lo.vcfg
	fmt.Fprintf(stderr, "nmflow fit: VAE on all %d checkpoints of %d runs (P=%d → d_z=%d), %d×%d MLPs, β=%g, %d steps\n",
		z.Checkpoints, z.Runs, z.Params, c.LatentDim, c.Width, c.Depth, c.Beta, c.Steps)
	v, err := vae.Fit(ctx, z, c, vae.Options{Progress: stderr})
	if err != nil {
		return nil, err
	}
	if tasks == nil {
		r, err := v.Evaluate(nil, z, -1, *lo.testSize)
		if err != nil {
			return nil, fmt.Errorf("measuring the VAE's reconstruction accuracy: %w", err)
		}
		fmt.Fprintf(stderr, "nmflow fit: VAE reconstruction of the final nets: accuracy %.4f decoded vs %.4f original (mean of %d), normalized MSE %.4g\n",
			r.Decoded.Mean, r.Original.Mean, r.N, r.MSE)
		return v, v.Save(dir)
	}
	v.TaskReconstruction = map[string]*vae.Reconstruction{}
	for _, tk := range tasks {
		ds, err := task.Load(tk.Name, data.Options{Log: stderr})
		if err != nil {
			return nil, err
		}
		r, err := v.EvaluateOn(nil, tk.Zoo, ds, -1, *lo.testSize)
		if err != nil {
			return nil, fmt.Errorf("measuring the VAE's reconstruction accuracy on task %s: %w", tk.Name, err)
		}
		v.TaskReconstruction[tk.Name] = r
		fmt.Fprintf(stderr, "nmflow fit: VAE reconstruction of the final nets of %s: accuracy %.4f decoded vs %.4f original (mean of %d), normalized MSE %.4g\n",
			tk.Name, r.Decoded.Mean, r.Original.Mean, r.N, r.MSE)
	}
	return v, v.Save(dir)
}

// summary is the "latent" entry of fit's JSON summary.
func latentSummary(v *vae.Model) map[string]any {
	s := map[string]any{"kind": "vae", "dir": vae.Dir, "latent_dim": v.Config.LatentDim, "beta": v.Config.Beta,
		"vae_steps": v.Steps, "vae_wall_seconds": v.WallSeconds, "vae_final_recon_mse": jsonFloat(tailMean(v.ReconMSE, 50))}
	entry := func(r *vae.Reconstruction) map[string]any {
		return map[string]any{"checkpoint": r.Checkpoint, "n": r.N, "mse": r.MSE, "mse_all_checkpoints": r.MSEAll,
			"original_accuracy": r.Original, "decoded_accuracy": r.Decoded}
	}
	if r := v.Reconstruction; r != nil {
		s["reconstruction"] = entry(r)
	}
	if len(v.TaskReconstruction) > 0 {
		per := map[string]any{}
		for name, r := range v.TaskReconstruction {
			per[name] = entry(r)
		}
		s["task_reconstruction"] = per
	}
	return s
}

// printLatent is fit's human-readable line about the VAE.
func printLatent(w io.Writer, out string, v *vae.Model) {
	fmt.Fprintf(w, "latent: VAE P=%d → d_z=%d in %s (%d steps, %.1f s)", v.P(), v.Config.LatentDim, filepath.Join(out, vae.Dir), v.Steps, v.WallSeconds)
	if r := v.Reconstruction; r != nil {
		fmt.Fprintf(w, "; reconstructed final nets: test accuracy %.4f vs %.4f original", r.Decoded.Mean, r.Original.Mean)
	}
	fmt.Fprintln(w)
	for _, name := range slices.Sorted(maps.Keys(v.TaskReconstruction)) {
		r := v.TaskReconstruction[name]
		fmt.Fprintf(w, "latent: %s reconstructed final nets: test accuracy %.4f vs %.4f original\n", name, r.Decoded.Mean, r.Original.Mean)
	}
}

// generator is what sample needs of a meta-model: flow.Model, or vae.LatentFlow that decodes.
type generator interface {
	Sample(n int, opt flow.SampleOptions) (*flow.Samples, error)
	Generated(s *flow.Samples, method string, seed uint64, modelDir string) *traj.Generated
}

// loadGenerator loads the meta-model in dir, a latent one (with a vae/ subfolder) included; it
// returns the flow and the base nets generated.
func loadGenerator(dir string) (generator, *flow.Model, flow.BaseInfo, error) {
	if err := ckptcheck.Tree(dir); err != nil { // GoMLX would allocate what a damaged file claims
		return nil, nil, flow.BaseInfo{}, err
	}
	if vae.IsLatent(dir) {
		lf, err := vae.LoadLatent(dir, nil)
		if err != nil {
			return nil, nil, flow.BaseInfo{}, err
		}
		if err := lf.VAE.Base.Arch.CheckLayout(lf.VAE.Base.Layout); err != nil {
			return nil, nil, flow.BaseInfo{}, fmt.Errorf("%s has contradictory metadata: %v", dir, err)
		}
		return lf, lf.Flow, lf.VAE.Base, nil
	}
	m, err := flow.Load(dir, nil)
	if err != nil {
		return nil, nil, flow.BaseInfo{}, err
	}
	if err := m.Base.Arch.CheckLayout(m.Base.Layout); err != nil {
		return nil, nil, flow.BaseInfo{}, fmt.Errorf("%s has contradictory metadata in model.json: %v", dir, err)
	}
	return m, m, m.Base, nil
}
