package vae

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// The VAE folder: vae.json (this Model) and weights.safetensors (one F32 tensor per variable).
const (
	ModelFormat  = "nmflow.vae"
	ModelVersion = 1
	modelFile    = "vae.json"
	weightsFile  = "weights.safetensors"
)

// execBatch is the batch of the compiled encoder and decoder: inputs are cut into groups of this
// many rows, the last one padded, so each graph is compiled once whatever the number of rows.
const execBatch = 64

// Model is a trained weight VAE: configuration, the base nets it encodes, the normalizer, the
// training history and the encoder/decoder weights.
type Model struct {
	nmflow.Provenance // format, versions, backend, creation time

	Config  Config           `json:"config"`
	Base    flow.BaseInfo    `json:"base"`
	Norm    *flow.Normalizer `json:"normalizer"`
	Steps   int              `json:"steps_done"`
	History []float32        `json:"loss_history"`
	// ReconMSE is the training batches' reconstruction error per parameter (normalized space).
	ReconMSE    []float32 `json:"recon_mse_history"`
	KL          []float32 `json:"kl_history"`
	WallSeconds float64   `json:"wall_seconds"`
	// Reconstruction, when measured (Model.Reconstruction) before Save, is kept with the model.
	Reconstruction *Reconstruction `json:"reconstruction,omitempty"`
	// TaskReconstruction, for a VAE shared by several tasks' zoos, is each task's reconstruction
	// (EvaluateOn the task's dataset), by task name.
	TaskReconstruction map[string]*Reconstruction `json:"task_reconstruction,omitempty"`

	be       compute.Backend
	store    *model.Store
	enc, dec *model.Exec
}

// adopt keeps the trained encoder/decoder variables of train in an inference store.
func (m *Model) adopt(train *model.Store, enc, dec []layer) error {
	s := model.NewStore()
	for _, l := range append(append([]layer(nil), enc...), dec...) {
		for _, name := range []string{"weights", "biases"} {
			path := model.JoinPath("/vae", l.Name, name)
			v := train.GetVariable(path)
			if v == nil {
				return fmt.Errorf("vae: the trained store has no variable %s", path)
			}
			val, err := v.Value()
			if err != nil {
				return fmt.Errorf("vae: reading %s: %w", path, err)
			}
			clone, err := val.LocalClone()
			if err != nil {
				return fmt.Errorf("vae: copying %s: %w", path, err)
			}
			if _, err := s.CreateVariable(path, clone); err != nil {
				return fmt.Errorf("vae: %w", err)
			}
		}
	}
	m.store, m.enc, m.dec = s, nil, nil
	return nil
}

// P is the number of base-net parameters the VAE encodes.
func (m *Model) P() int { return m.Base.Layout.Size() }

// Encode maps n raw weight vectors (flat [n,P]) to their posterior means (flat [n,d_z]), the
// deterministic code the latent flow is fitted on.
func (m *Model) Encode(weights []float32, n int) ([]float32, error) {
	mu, _, err := m.Posterior(weights, n)
	return mu, err
}

// Posterior returns the posterior's means and log-variances (flat [n,d_z] each) of n raw weight
// vectors (flat [n,P]).
func (m *Model) Posterior(weights []float32, n int) (mu, logvar []float32, err error) {
	p, dz := m.P(), m.Config.LatentDim
	if n < 1 || len(weights) != n*p {
		return nil, nil, fmt.Errorf("vae: Encode got %d values for %d vectors; want n ≥ 1 vectors of P=%d (the %s nets the VAE was trained on)", len(weights), n, p, m.Base.Arch)
	}
	if m.enc == nil {
		enc, _ := m.Config.layers(p)
		if m.enc, err = m.newExec(func(scope *model.Scope, x *Node) (*Node, *Node) { return encode(scope.In("vae"), enc, x) }); err != nil {
			return nil, nil, err
		}
	}
	x := append([]float32(nil), weights...)
	m.Norm.Forward(x)
	outs, err := runBatched(m.enc, x, n, p, dz, dz)
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// Decode maps n latent vectors (flat [n,d_z]) to raw weight vectors (flat [n,P]).
func (m *Model) Decode(latents []float32, n int) ([]float32, error) {
	p, dz := m.P(), m.Config.LatentDim
	if n < 1 || len(latents) != n*dz {
		return nil, fmt.Errorf("vae: Decode got %d values for %d latents; want n ≥ 1 vectors of d_z=%d", len(latents), n, dz)
	}
	if m.dec == nil {
		_, dec := m.Config.layers(p)
		var err error
		if m.dec, err = m.newExec(func(scope *model.Scope, z *Node) *Node { return decode(scope.In("vae"), dec, z) }); err != nil {
			return nil, err
		}
	}
	outs, err := runBatched(m.dec, latents, n, dz, p)
	if err != nil {
		return nil, err
	}
	m.Norm.Inverse(outs[0])
	return outs[0], nil
}

// Reconstruct encodes n raw weight vectors and decodes their posterior means.
func (m *Model) Reconstruct(weights []float32, n int) ([]float32, error) {
	z, err := m.Encode(weights, n)
	if err != nil {
		return nil, err
	}
	return m.Decode(z, n)
}

func (m *Model) newExec(fn any) (*model.Exec, error) {
	if m.store == nil {
		return nil, fmt.Errorf("vae: the model has no weights (fit it with vae.Fit or load it with vae.Load)")
	}
	var e *model.Exec
	var err error
	switch f := fn.(type) {
	case func(*model.Scope, *Node) (*Node, *Node):
		e, err = model.NewExec(m.be, m.store, f)
	case func(*model.Scope, *Node) *Node:
		e, err = model.NewExec(m.be, m.store, f)
	}
	if err != nil {
		return nil, err
	}
	return e.SetMaxCache(1), nil
}

// runBatched runs e on the n rows (width in) of x, execBatch rows at a time, and returns each
// output's n rows (widths outs).
func runBatched(e *model.Exec, x []float32, n, in int, outs ...int) ([][]float32, error) {
	res := make([][]float32, len(outs))
	for i, w := range outs {
		res[i] = make([]float32, n*w)
	}
	buf := make([]float32, execBatch*in)
	for start := 0; start < n; start += execBatch {
		k := min(execBatch, n-start)
		copy(buf, x[start*in:(start+k)*in])
		clear(buf[k*in:])
		got, err := e.Exec(tensors.FromFlatDataAndDimensions(buf, execBatch, in))
		if err != nil {
			return nil, fmt.Errorf("vae: rows %d..%d: %w", start, start+k-1, err)
		}
		for i, w := range outs {
			copy(res[i][start*w:(start+k)*w], tensors.MustCopyFlatData[float32](got[i])[:k*w])
			got[i].MustFinalizeAll()
		}
	}
	return res, nil
}

// LatentLayout is the layout of a latent zoo: one segment "z" of d_z values.
func LatentLayout(dz int) arch.Layout {
	return arch.NewLayout(arch.Segment{Name: "z", Shape: []int{dz}, FanIn: dz, Kind: arch.Weight})
}

// CheckZoo says whether z holds the base nets this VAE was trained for (same layout).
func (m *Model) CheckZoo(z *traj.Zoo) error {
	if err := z.Check(); err != nil {
		return err
	}
	if !sameLayout(m.Base.Layout, z.Meta.Layout) {
		return fmt.Errorf("vae: the VAE encodes %s nets (P=%d), but the zoo holds %s nets (P=%d); train a VAE on this zoo (nmflow fit --latent vae with another --out folder)",
			m.Base.Arch, m.P(), z.Meta.Arch, z.Params)
	}
	return nil
}

func sameLayout(a, b arch.Layout) bool {
	return slices.EqualFunc(a.Segments, b.Segments, func(x, y arch.Segment) bool {
		return x.Name == y.Name && x.Offset == y.Offset && slices.Equal(x.Shape, y.Shape)
	})
}

// LatentZoo encodes every checkpoint of z into a zoo of the same runs and checkpoints whose
// vectors are the d_z posterior means (layout LatentLayout); flow.Fit then fits a meta-model on it.
// Metadata, steps and metrics are z's; Meta.Extra["latent"] = "vae".
func (m *Model) LatentZoo(z *traj.Zoo) (*traj.Zoo, error) {
	if err := m.CheckZoo(z); err != nil {
		return nil, err
	}
	z, err := alignZoo(z, m.Config)
	if err != nil {
		return nil, err
	}
	codes, err := m.Encode(z.Weights, z.Runs*z.Checkpoints)
	if err != nil {
		return nil, err
	}
	meta := z.Meta
	meta.Layout = LatentLayout(m.Config.LatentDim)
	meta.Init = ""
	meta.Extra = map[string]string{}
	for k, v := range z.Meta.Extra {
		meta.Extra[k] = v
	}
	meta.Extra["latent"] = "vae"
	meta.Extra["latent_dim"] = fmt.Sprint(m.Config.LatentDim)
	meta.Extra["base_params"] = fmt.Sprint(z.Params)
	return &traj.Zoo{Meta: meta, Runs: z.Runs, Checkpoints: z.Checkpoints, Params: m.Config.LatentDim, Weights: codes,
		Steps: z.Steps, Metrics: z.Metrics}, nil
}

// AlignZoo returns z as this VAE sees it: permuted into one order the way its training zoo was
// (Config.Align; the same zoo and seed give the same permutations), or z itself when the VAE does
// not align or z is aligned already. Encode, Posterior and Reconstruct take nets in that space.
func (m *Model) AlignZoo(z *traj.Zoo) (*traj.Zoo, error) { return alignZoo(z, m.Config) }

// alignZoo permutes z into one order when cfg asks for it and z is not aligned yet; the same zoo
// and seed give the same permutations, so Fit and LatentZoo see the same nets.
func alignZoo(z *traj.Zoo, cfg Config) (*traj.Zoo, error) {
	if !flow.NeedsAlign(cfg.Align, z) {
		return z, nil
	}
	az, _, err := align.Zoo(z, align.Options{Seed: cfg.Seed})
	return az, err
}

// Save writes dir/weights.safetensors, then dir/vae.json (each atomically: temp file + rename);
// vae.json last, so a folder with one always has the weights it describes.
func (m *Model) Save(dir string) error {
	if m.store == nil {
		return fmt.Errorf("vae: the model has no weights to save")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vae: %w", err)
	}
	ts := map[string]traj.Tensor{}
	for v := range m.store.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("vae: reading %s: %w", v.Path(), err)
		}
		ts[v.Path()] = traj.F32Tensor(val.Shape().Dimensions, tensors.MustCopyFlatData[float32](val))
	}
	meta := map[string]string{"format": ModelFormat, "nmflow_version": nmflow.Version}
	if err := traj.WriteSafetensors(filepath.Join(dir, weightsFile), ts, nil, meta); err != nil {
		return err
	}
	m.Stamp(ModelFormat, ModelVersion, m.be)
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return traj.WriteAtomic(filepath.Join(dir, modelFile), func(w io.Writer) error { _, err := w.Write(b); return err })
}

// Exists reports whether dir holds a saved VAE (its vae.json).
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, modelFile))
	return err == nil
}

// Load reads a VAE folder written by Save. Every variable the configuration needs must be there
// with its shape: a folder from another configuration or a damaged file is an error.
func Load(dir string, be compute.Backend) (*Model, error) {
	b, err := os.ReadFile(filepath.Join(dir, modelFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("vae: %s holds no VAE (no %s); train one with vae.Fit or 'nmflow fit --latent vae'", dir, modelFile)
	}
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("vae: %s is not a valid VAE file: %w", filepath.Join(dir, modelFile), err)
	}
	if m.Format != ModelFormat || m.Version < 1 || m.Version > ModelVersion {
		return nil, fmt.Errorf("vae: %s is not an nmflow VAE (format %q version %d)", dir, m.Format, m.Version)
	}
	if m.Config, err = m.Config.Defaults(); err != nil {
		return nil, fmt.Errorf("vae: %s: %w", dir, err)
	}
	if err := m.Base.Layout.Validate(); err != nil {
		return nil, err
	}
	p := m.P()
	if m.Norm == nil {
		return nil, fmt.Errorf("vae: %s has no normalizer", dir)
	}
	if err := m.Norm.Validate(p); err != nil {
		return nil, err
	}
	ts, _, err := traj.ReadSafetensors(filepath.Join(dir, weightsFile))
	if err != nil {
		return nil, err
	}
	enc, dec := m.Config.layers(p)
	s := model.NewStore()
	for _, l := range append(enc, dec...) {
		for _, v := range []struct {
			name  string
			shape []int
		}{{"weights", []int{l.Out, l.In}}, {"biases", []int{l.Out}}} {
			path := model.JoinPath("/vae", l.Name, v.name)
			t, ok := ts[path]
			if !ok || !slices.Equal(t.Shape, v.shape) {
				return nil, fmt.Errorf("vae: %s lacks %s %v for its configuration (d_z=%d, width %d, depth %d, P=%d); the folder is damaged or from another version",
					filepath.Join(dir, weightsFile), path, v.shape, m.Config.LatentDim, m.Config.Width, m.Config.Depth, p)
			}
			vals, err := t.Float32s()
			if err != nil {
				return nil, fmt.Errorf("vae: %s: %w", path, err)
			}
			if i := traj.FirstNonFinite(vals); i >= 0 {
				return nil, fmt.Errorf("vae: %s: %s has a non-finite value at %d", dir, path, i)
			}
			if _, err := s.CreateVariable(path, tensors.FromFlatDataAndDimensions(vals, v.shape...)); err != nil {
				return nil, fmt.Errorf("vae: %w", err)
			}
		}
	}
	if be == nil {
		if be, _, err = backend.Default(); err != nil {
			return nil, err
		}
	}
	m.be, m.store = be, s
	return &m, nil
}
