package vae

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func TestMain(m *testing.M) {
	os.Setenv("NMFLOW_PROGRESS", "0")
	backend.Notice = io.Discard
	os.Exit(m.Run())
}

var testBackend = testutil.Backend // the process-wide backend

// tinyZoo is a zoo of a 4-3-2 MLP (P = 23): runs start from PyTorch's init law and move
// linearly, over K+1 checkpoints, to their init plus a shared shift plus a little noise.
func tinyZoo(runs, ckpts int, seed uint64) *traj.Zoo {
	net := arch.MustNew(arch.MLP([]int{4}, 2, 3))
	l := net.Layout()
	p := l.Size()
	z := &traj.Zoo{
		Meta: traj.Meta{Kind: traj.KindZoo, Arch: net.Spec(), Layout: l, Init: arch.InitPyTorch, Seed: seed,
			Dataset: traj.DatasetMeta{Name: "synthetic"}},
		Runs: runs, Checkpoints: ckpts, Params: p,
		Weights: make([]float32, runs*ckpts*p), Steps: make([]int64, ckpts),
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	shift := make([]float32, p)
	for i := range shift {
		shift[i] = float32(rng.NormFloat64())
	}
	inits, _ := arch.InitBatch(l, arch.InitPyTorch, arch.RunSeeds(seed, runs))
	for r := 0; r < runs; r++ {
		init := inits[r*p : (r+1)*p]
		for k := 0; k < ckpts; k++ {
			f := float32(k) / float32(ckpts-1)
			for i := range init {
				z.At(r, k)[i] = init[i] + f*(shift[i]+0.1*float32(rng.NormFloat64()))
			}
		}
	}
	for k := range z.Steps {
		z.Steps[k] = int64(10 * k)
	}
	return z
}

var tinyCfg = Config{LatentDim: 16, Width: 64, Steps: 150, BatchSize: 16, LR: 1e-2, Seed: 5}

func fitTiny(t *testing.T, z *traj.Zoo, cfg Config) *Model {
	t.Helper()
	m, err := Fit(context.Background(), z, cfg, Options{Backend: testBackend(t), Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTripReachesThreshold(t *testing.T) {
	z := tinyZoo(6, 3, 1)
	n := z.Runs * z.Checkpoints
	// An untrained VAE (one step at a tiny learning rate) is far from the threshold.
	raw := tinyCfg
	raw.Steps, raw.LR = 1, 1e-9
	untrained := fitTiny(t, z, raw)
	m := fitTiny(t, z, tinyCfg)
	const threshold = 0.02 // normalized MSE per parameter; the zoo's normalized variance is ≈ 1
	for name, v := range map[string]*Model{"untrained": untrained, "trained": m} {
		rec, err := v.Reconstruct(z.Weights, n)
		if err != nil {
			t.Fatal(err)
		}
		mse := v.normMSE(z.Weights, rec)
		t.Logf("%s: normalized reconstruction MSE %.4f (threshold %.2f)", name, mse, threshold)
		if (mse < threshold) != (name == "trained") {
			t.Errorf("%s VAE: normalized MSE %.4f, threshold %.2f", name, mse, threshold)
		}
	}
	if first, last := m.ReconMSE[0], m.ReconMSE[len(m.ReconMSE)-1]; !(last < first/10) {
		t.Errorf("training reconstruction error went from %.4f to %.4f, want a tenfold drop", first, last)
	}
}

func TestSaveLoadSameSeed(t *testing.T) {
	z := tinyZoo(6, 3, 1)
	n := z.Runs * z.Checkpoints
	cfg := tinyCfg
	cfg.Steps = 30
	a, b := fitTiny(t, z, cfg), fitTiny(t, z, cfg)
	za, err := a.Encode(z.Weights, n)
	if err != nil {
		t.Fatal(err)
	}
	zb, _ := b.Encode(z.Weights, n)
	if !slices.Equal(za, zb) {
		t.Errorf("same seed, different latents")
	}
	cfg.Seed++
	c := fitTiny(t, z, cfg)
	if zc, _ := c.Encode(z.Weights, n); slices.Equal(za, zc) {
		t.Errorf("another seed gave the same latents")
	}

	dir := filepath.Join(t.TempDir(), "vae")
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	l, err := Load(dir, testBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	zl, err := l.Encode(z.Weights, n)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Decode(za, n)
	dl, _ := l.Decode(za, n)
	if !slices.Equal(za, zl) || !slices.Equal(da, dl) {
		t.Errorf("loaded VAE encodes or decodes differently")
	}
	if l.Config != a.Config || l.Steps != cfg.Steps || len(l.History) != cfg.Steps || l.NmflowVersion == "" {
		t.Errorf("loaded model: config %+v steps %d history %d version %q", l.Config, l.Steps, len(l.History), l.NmflowVersion)
	}
	// Another number of rows (not a multiple of the compiled batch) gives the same rows.
	one, _ := l.Encode(z.Weights[:z.Params], 1)
	if !slices.Equal(one, zl[:cfg.LatentDim]) {
		t.Errorf("encoding one row differs from the same row in a batch")
	}
}

func TestBadInput(t *testing.T) {
	z := tinyZoo(4, 2, 1)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{LatentDim: -1}, "latent dimension must be ≥ 1"},
		{Config{Beta: -1}, "β must be"},
		{Config{Norm: "bogus"}, "unknown normalization"},
	} {
		_, err := Fit(context.Background(), z, c.cfg, Options{Progress: io.Discard})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
	cfg := tinyCfg
	cfg.Steps = 2
	m := fitTiny(t, z, cfg)
	dir := filepath.Join(t.TempDir(), "vae")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	l, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A zoo of other nets (4-5-2 MLP) is refused with what to do.
	other := tinyZoo(4, 2, 1)
	other.Meta.Arch = arch.MLP([]int{4}, 2, 5)
	other.Meta.Layout = arch.MustNew(other.Meta.Arch).Layout()
	other.Params = other.Meta.Layout.Size()
	other.Weights = make([]float32, other.Runs*other.Checkpoints*other.Params)
	if _, err := l.LatentZoo(other); err == nil || !strings.Contains(err.Error(), "train a VAE on this zoo") {
		t.Errorf("mismatched zoo: %v", err)
	}
	if _, err := l.Encode(make([]float32, 5), 1); err == nil || !strings.Contains(err.Error(), "P=23") {
		t.Errorf("wrong row size: %v", err)
	}
	// A weights file from another configuration is refused on load.
	big := cfg
	big.Width = 8
	if err := fitTiny(t, z, big).Save(filepath.Join(t.TempDir(), "x")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, modelFile))
	os.WriteFile(filepath.Join(dir, modelFile), []byte(strings.Replace(string(b), `"width":64`, `"width":8`, 1)), 0o644)
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "lacks /vae/enc0/weights") {
		t.Errorf("config/weights mismatch: %v", err)
	}
	if _, err := Load(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "holds no VAE") {
		t.Errorf("empty folder: %v", err)
	}
}

// A latent flow samples decoded nets of the base layout, saves and loads with its VAE.
func TestLatentFlow(t *testing.T) {
	z := tinyZoo(6, 3, 1)
	v := fitTiny(t, z, Config{LatentDim: 4, Width: 16, Steps: 20, BatchSize: 8, Seed: 1})
	dir := filepath.Join(t.TempDir(), "latent")
	fcfg := flow.Config{Net: flow.NetConfig{Width: 16, Depth: 1, TimeDim: 8}, Steps: 10, BatchSize: 8}
	if _, err := FitLatent(context.Background(), v, z, flow.Config{Source: flow.SourceKaiming}, flow.Options{}); err == nil ||
		!strings.Contains(err.Error(), "starts from N(0,I)") {
		t.Errorf("kaiming source for latents: %v", err)
	}
	lf, err := FitLatent(context.Background(), v, z, fcfg, flow.Options{Dir: dir, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if lf.Flow.Config.Source != flow.SourceGaussian || lf.Flow.Config.Norm != flow.NormParam || lf.Flow.Base.Layout.Size() != 4 || !IsLatent(dir) {
		t.Errorf("latent flow: source %s norm %s P=%d latent %v", lf.Flow.Config.Source, lf.Flow.Config.Norm, lf.Flow.Base.Layout.Size(), IsLatent(dir))
	}
	// The folder now belongs to this VAE: another one (other settings) is refused, the same is not.
	other := fitTiny(t, z, Config{LatentDim: 4, Width: 8, Steps: 2, BatchSize: 8, Seed: 1})
	if _, err := FitLatent(context.Background(), other, z, fcfg, flow.Options{Dir: dir, Progress: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "fitted on another VAE") {
		t.Errorf("another VAE into the same folder: %v", err)
	}
	if _, err := FitLatent(context.Background(), v, z, fcfg, flow.Options{Dir: dir, Progress: io.Discard}); err != nil {
		t.Errorf("the same fit again: %v", err)
	}
	loaded, err := LoadLatent(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	opt := flow.SampleOptions{Solve: solve.Options{Method: "euler", Steps: 5}, Seed: 3}
	s, err := loaded.Sample(5, opt)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := lf.Sample(5, opt)
	if s.P != z.Params || len(s.Weights) != 5*z.Params || len(s.Inits) != 5*z.Params || !slices.Equal(s.Weights, s2.Weights) {
		t.Errorf("samples: P=%d, %d weights, %d inits; same as before loading: %v", s.P, len(s.Weights), len(s.Inits), slices.Equal(s.Weights, s2.Weights))
	}
	for _, w := range s.Weights {
		if math.IsNaN(float64(w)) {
			t.Fatal("NaN in decoded samples")
		}
	}
	g := loaded.Generated(s, "euler", 3, dir)
	if g.P != z.Params || g.Meta.Layout.Size() != z.Params || g.Meta.Arch.String() != z.Meta.Arch.String() || g.Meta.Extra["latent"] != "vae" {
		t.Errorf("generated container: P=%d layout %d arch %s extra %v", g.P, g.Meta.Layout.Size(), g.Meta.Arch, g.Meta.Extra)
	}
	if err := traj.WriteGenerated(filepath.Join(dir, "gen.safetensors"), g); err != nil {
		t.Errorf("writing the decoded samples: %v", err)
	}
}
