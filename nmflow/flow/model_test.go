package flow

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// smallConfig is a tiny, fast fit: a handful of steps with checkpoints every 10.
func smallConfig() Config {
	return Config{Net: NetConfig{Width: 16, Depth: 1, TimeDim: 8}, Steps: 30, BatchSize: 8, LR: 3e-3, Seed: 7}
}

func fitQuiet(t *testing.T, z *traj.Zoo, cfg Config, dir string, stopAfter int) (*Model, error) {
	t.Helper()
	return Fit(context.Background(), z, cfg, Options{Backend: testBackend(t), Dir: dir, CheckpointEvery: 10, Progress: io.Discard, StopAfter: stopAfter})
}

// uninterruptedFit is smallConfig fitted on a drift zoo into root/full, the reference the resume
// tests compare with.
func uninterruptedFit(t *testing.T) (z *traj.Zoo, cfg Config, root string, full *Model) {
	t.Helper()
	z, cfg, root = driftZoo(tinyLayout(), 16, 3, 1), smallConfig(), t.TempDir()
	full, err := fitQuiet(t, z, cfg, filepath.Join(root, "full"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return z, cfg, root, full
}

func sampleOf(t *testing.T, m *Model, method string) *Samples {
	t.Helper()
	s, err := m.Sample(5, SampleOptions{Solve: solve.Options{Method: method, Steps: 6, KeepPath: true}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sameSamples(t *testing.T, what string, a, b *Samples) {
	t.Helper()
	if !equalFloats(a.Weights, b.Weights) || !equalFloats(a.Inits, b.Inits) {
		t.Errorf("%s: samples differ", what)
	}
}

// 30 steps, 3 checkpoints and the final save reuse one compiled training step (the Exec's
// SetMaxCache(1) would also fail a second shape), and so does a resumed fit.
func TestFitCompilesOnce(t *testing.T) {
	z := driftZoo(tinyLayout(), 16, 3, 1)
	dir := t.TempDir()
	for _, stop := range []int{12, 0} {
		n := 0
		_, err := Fit(context.Background(), z, smallConfig(), Options{Backend: testBackend(t), Dir: dir, CheckpointEvery: 10,
			Progress: io.Discard, StopAfter: stop, Compiles: &n})
		if stop > 0 && !errors.Is(err, ErrStopped) || stop == 0 && err != nil {
			t.Fatalf("StopAfter %d: %v", stop, err)
		}
		if n != 1 {
			t.Errorf("StopAfter %d: the training step was built %d times, want 1", stop, n)
		}
	}
}

// TestSaveLoadResume: a fit is reproducible from its seed; a saved model reloads and samples
// bit-identically; a fit interrupted by StopAfter (at and between checkpoints, twice) resumes to
// the same history and weights as one uninterrupted fit.
func TestSaveLoadResume(t *testing.T) {
	z, cfg, root, full := uninterruptedFit(t)
	if full.Steps != cfg.Steps || len(full.History) != cfg.Steps || len(full.GradNorm) != cfg.Steps {
		t.Fatalf("fit: %d steps, %d losses, %d grad norms; want %d", full.Steps, len(full.History), len(full.GradNorm), cfg.Steps)
	}
	for i, l := range full.History {
		if !(l > 0) || math.IsInf(float64(l), 0) {
			t.Fatalf("loss %d is %v", i, l)
		}
	}
	ref := sampleOf(t, full, "rk4")
	if len(ref.Path) != 7 || len(ref.Times) != 7 || ref.Times[0] != 0 || ref.Times[6] != 1 {
		t.Fatalf("path: %d snapshots at %v, want 7 from 0 to 1", len(ref.Path), ref.Times)
	}
	if !equalFloats(ref.Path[0], ref.Inits) || !equalFloats(ref.Path[6], ref.Weights) {
		t.Error("path ends are not the inits and the weights")
	}
	sameSamples(t, "same model, same seed", ref, sampleOf(t, full, "rk4"))

	// Same seed, no directory: the same fit, bit for bit.
	again, err := fitQuiet(t, z, cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !equalFloats(again.History, full.History) || !equalFloats(again.GradNorm, full.GradNorm) {
		t.Error("two fits with one seed have different histories")
	}
	sameSamples(t, "refit with the same seed", ref, sampleOf(t, again, "rk4"))
	other := cfg
	other.Seed++
	if o, err := fitQuiet(t, z, other, "", 0); err != nil {
		t.Fatal(err)
	} else if equalFloats(o.History, full.History) {
		t.Error("seeds 7 and 8 gave the same history")
	}

	// Reload from disk.
	loaded, err := Load(filepath.Join(root, "full"), testBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Steps != full.Steps || !equalFloats(loaded.History, full.History) || loaded.TargetCheckpoint != 2 {
		t.Errorf("loaded model: %d steps, target %d", loaded.Steps, loaded.TargetCheckpoint)
	}
	if loaded.Format != ModelFormat || loaded.Version != ModelVersion || loaded.Base.Runs != 16 || loaded.Base.Layout.Size() != z.Params {
		t.Errorf("loaded metadata: %+v", loaded.Base)
	}
	sameSamples(t, "loaded model", ref, sampleOf(t, loaded, "rk4"))
	sameSamples(t, "loaded model, euler", sampleOf(t, full, "euler"), sampleOf(t, loaded, "euler"))

	// Interrupted twice (between checkpoints at 12, then on one at 20), then finished.
	dir := filepath.Join(root, "sliced")
	for _, stop := range []int{12, 8} {
		if _, err := fitQuiet(t, z, cfg, dir, stop); !errors.Is(err, ErrStopped) {
			t.Fatalf("StopAfter %d: err = %v, want ErrStopped", stop, err)
		}
	}
	if _, err := Load(dir, testBackend(t)); err == nil || !strings.Contains(err.Error(), "unfinished") {
		t.Errorf("loading an unfinished fit: err = %v", err)
	}
	resumed, err := fitQuiet(t, z, cfg, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(resumed.History) != len(full.History) {
		t.Fatalf("resumed fit: %d losses, uninterrupted %d", len(resumed.History), len(full.History))
	}
	for i := range full.History { // first: the same training, to float32 rounding
		if !close32(resumed.History[i], full.History[i], 1e-4) || !close32(resumed.GradNorm[i], full.GradNorm[i], 1e-4) {
			t.Fatalf("resumed fit diverges at step %d: loss %v vs %v, grad norm %v vs %v", i, resumed.History[i], full.History[i], resumed.GradNorm[i], full.GradNorm[i])
		}
	}
	// Then bit for bit. A resumed store lists its variables in the checkpoint's order, so any sum
	// over variables (the global gradient norm) must not depend on the store's order.
	for i := range full.History {
		if resumed.History[i] != full.History[i] || resumed.GradNorm[i] != full.GradNorm[i] {
			t.Errorf("resumed fit is not bit-identical to the uninterrupted one: first difference at step %d "+
				"(loss %v vs %v, grad norm %v vs %v)", i, resumed.History[i], full.History[i], resumed.GradNorm[i], full.GradNorm[i])
			break
		}
	}
	sameSamples(t, "resumed fit", ref, sampleOf(t, resumed, "rk4"))
	if l, err := Load(dir, nil); err != nil {
		t.Fatal(err)
	} else {
		sameSamples(t, "resumed fit, reloaded", ref, sampleOf(t, l, "rk4"))
	}
	// Fitting into a finished directory trains nothing and returns the same model.
	if done, err := fitQuiet(t, z, cfg, dir, 0); err != nil {
		t.Fatal(err)
	} else {
		sameSamples(t, "refit of a finished directory", ref, sampleOf(t, done, "rk4"))
	}

	// Resuming with another configuration or zoo is refused.
	changed := cfg
	changed.LR *= 2
	if _, err := fitQuiet(t, z, changed, dir, 0); err == nil || !strings.Contains(err.Error(), "different configuration") {
		t.Errorf("resume with another lr: err = %v", err)
	}
	z2 := driftZoo(tinyLayout(), 16, 3, 1)
	z2.Meta.Seed = 43
	if _, err := fitQuiet(t, z2, cfg, dir, 0); err == nil || !strings.Contains(err.Error(), "another zoo") {
		t.Errorf("resume on another zoo: err = %v", err)
	}

	// Generated wraps samples with provenance.
	g := loaded.Generated(ref, "rk4", 3, "models/x")
	if g.N != 5 || g.P != z.Params || g.Meta.Kind != traj.KindGenerated || g.Meta.Extra["solver"] != "rk4" ||
		g.Meta.Extra["model_dir"] != "models/x" || g.Meta.Layout.Size() != z.Params || g.Meta.Init != arch.InitPyTorch {
		t.Errorf("generated metadata: %+v", g.Meta)
	}
}

// TestLoadErrors: missing, foreign and damaged model directories are refused with a reason.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, testBackend(t)); err == nil {
		t.Error("empty directory loaded")
	}
	os.WriteFile(filepath.Join(dir, modelFile), []byte(`{"format":"something else","version":1}`), 0o644)
	if _, err := Load(dir, testBackend(t)); err == nil || !strings.Contains(err.Error(), "not an nmflow meta-model") {
		t.Errorf("foreign format: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, modelFile), []byte(`{"format":`), 0o644)
	if _, err := Load(dir, testBackend(t)); err == nil {
		t.Error("truncated model.json loaded")
	}
	// A ckpt/ folder with files but without model.json is not silently overwritten by a new fit
	// (an empty one is what a fit killed before its first save leaves: TestFitKilledBeforeFirstSave).
	os.Remove(filepath.Join(dir, modelFile))
	os.Mkdir(filepath.Join(dir, "ckpt"), 0o755)
	os.WriteFile(filepath.Join(dir, "ckpt", "checkpoint"), []byte("x"), 0o644)
	if _, err := fitQuiet(t, driftZoo(tinyLayout(), 4, 2, 1), smallConfig(), dir, 0); err == nil || !strings.Contains(err.Error(), "no "+modelFile) {
		t.Errorf("fit into a stray ckpt/: err = %v", err)
	}
	// Save needs the checkpoint a fit with a directory writes.
	m := &Model{}
	if err := m.Save(t.TempDir()); err == nil {
		t.Error("Save without ckpt/ succeeded")
	}
	if _, err := m.Sample(1, SampleOptions{}); err == nil {
		t.Error("Sample on a model without weights succeeded")
	}
}

// TestTrajectoryFitLearnsTheShift is an end-to-end check of the Kaiming source with the
// trajectory coupling and layer normalization: when every run's final weights are its init plus
// one fixed shift, the target u is constant, the loss falls to nearly 0, and each generated net
// is its own source draw (a fresh Kaiming init) plus that shift.
func TestTrajectoryFitLearnsTheShift(t *testing.T) {
	l := tinyLayout()
	z := newZoo(l, 32, 2)
	p := l.Size()
	shift := make([]float32, p)
	for j := range shift {
		shift[j] = float32(math.Sin(float64(j))) * 0.5
	}
	for r := 0; r < z.Runs; r++ {
		w, err := arch.Init(l, arch.InitPyTorch, uint64(r+100))
		if err != nil {
			t.Fatal(err)
		}
		copy(z.At(r, 0), w)
		for j := range w {
			z.At(r, 1)[j] = w[j] + shift[j]
		}
	}
	m, err := fitQuiet(t, z, Config{Coupling: CouplingTrajectory, Predict: PredictVelocity, Net: NetConfig{Width: 32, Depth: 1, TimeDim: 8},
		Steps: 150, BatchSize: 16, LR: 5e-3, Seed: 1}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	first, last := smoothLoss(m.History[:10]), smoothLoss(m.History)
	t.Logf("loss: first 10 steps %.4f, last 50 %.5f", first, last)
	if last > 0.02*first {
		t.Errorf("loss fell only from %.4f to %.4f", first, last)
	}
	s, err := m.Sample(64, SampleOptions{Seed: 2, Solve: solve.Options{Method: "euler", Steps: 10}})
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := 0; i < s.N; i++ {
		for j := 0; j < p; j++ {
			worst = math.Max(worst, math.Abs(float64(s.Weights[i*p+j]-s.Inits[i*p+j]-shift[j])))
		}
	}
	t.Logf("worst |generated − init − shift| = %.4f", worst)
	if worst > 0.05 {
		t.Errorf("generated nets are their inits plus the shift only to within %.3f", worst)
	}
	// Inits are fresh draws from the init law, not the zoo's.
	for i := 0; i < s.N; i++ {
		if runOfRow(z.Checkpoint(0), s.Inits[i*p:(i+1)*p], p) >= 0 {
			t.Fatal("a source draw is a zoo init")
		}
	}
}

// TestFitStopsOnCancel: a cancelled context stops the fit with ErrStopped.
func TestFitStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Fit(ctx, driftZoo(tinyLayout(), 4, 2, 1), smallConfig(), Options{Backend: testBackend(t), Progress: io.Discard})
	if !errors.Is(err, ErrStopped) {
		t.Errorf("err = %v, want ErrStopped", err)
	}
}

// TestSampleFrom: SampleOptions.From starts the ODE at given raw-space points: a sample's own
// inits reproduce it (up to the normalizer's rounding), other points give other nets, and a
// wrong size is refused.
func TestSampleFrom(t *testing.T) {
	z := driftZoo(tinyLayout(), 16, 3, 1)
	m, err := fitQuiet(t, z, smallConfig(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	so := solve.Options{Method: "rk4", Steps: 6}
	s, err := m.Sample(5, SampleOptions{Solve: so, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.Sample(5, SampleOptions{Solve: so, From: s.Inits})
	if err != nil {
		t.Fatal(err)
	}
	if worst := maxAbsDiff(s.Weights, again.Weights); worst > 1e-4 {
		t.Errorf("starting from a sample's own inits moved its weights by up to %g", worst)
	}
	own := z.Checkpoint(0)[:5*z.Params]
	fromZoo, err := m.Sample(5, SampleOptions{Solve: so, From: own})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range fromZoo.Inits {
		if math.Abs(float64(v-own[i])) > 1e-5 {
			t.Fatalf("Inits[%d] = %v, want the given start %v", i, v, own[i])
		}
	}
	if equalFloats(fromZoo.Weights, s.Weights) {
		t.Error("other starting points gave the same nets")
	}
	if _, err := m.Sample(4, SampleOptions{Solve: so, From: own}); err == nil || !strings.Contains(err.Error(), "From holds") {
		t.Errorf("4 nets from 5 starting points: err %v, want a size error", err)
	}
}

// A fit killed before its first save leaves an empty ckpt/ and no model.json: running it again
// starts over and gives the uninterrupted fit's history; a ckpt/ holding files without a
// model.json is someone else's folder and is refused, its files kept.
func TestFitKilledBeforeFirstSave(t *testing.T) {
	z, cfg, root, full := uninterruptedFit(t)
	killed := filepath.Join(root, "killed")
	if err := os.MkdirAll(filepath.Join(killed, "ckpt", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := fitQuiet(t, z, cfg, killed, 0)
	if err != nil {
		t.Fatalf("a fit whose folder holds an empty ckpt/ was refused: %v", err)
	}
	if !equalFloats(again.History, full.History) {
		t.Error("the fit started over in an empty ckpt/ differs from the uninterrupted one")
	}
	other := filepath.Join(root, "other")
	stray := filepath.Join(other, "ckpt", "checkpoint")
	if err := os.MkdirAll(filepath.Dir(stray), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fitQuiet(t, z, cfg, other, 0); err == nil || !strings.Contains(err.Error(), "has a ckpt/ folder but no model.json") {
		t.Errorf("a ckpt/ with files and no model.json: err = %v, want the refusal", err)
	}
	if b, err := os.ReadFile(stray); err != nil || string(b) != "x" {
		t.Errorf("the refused folder's file was touched: %q, %v", b, err)
	}
}
