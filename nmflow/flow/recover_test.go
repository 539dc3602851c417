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

	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// plainFit is the small fit of these tests, uninterrupted and without a folder.
func plainFit(t *testing.T) (*traj.Zoo, Config, *Model) {
	t.Helper()
	z, cfg := driftZoo(tinyLayout(), 16, 3, 1), smallConfig()
	full, err := fitQuiet(t, z, cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return z, cfg, full
}

// newestCheckpoint returns the path of dir's newest checkpoint, without its suffix.
func newestCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	names, err := listCheckpoints(filepath.Join(dir, "ckpt"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no checkpoint in %s (%v)", dir, err)
	}
	return filepath.Join(dir, "ckpt", names[len(names)-1])
}

// truncate cuts a file to half its size (0: empty), as a kill during GoMLX's save leaves it.
func truncate(t *testing.T, path string, empty bool) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	n := st.Size() / 2
	if empty {
		n = 0
	}
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

// sameFit checks that got is the uninterrupted fit want, bit for bit: history and samples.
func sameFit(t *testing.T, what string, got, want *Model) {
	t.Helper()
	if !equalFloats(got.History, want.History) || !equalFloats(got.GradNorm, want.GradNorm) {
		t.Fatalf("%s: history differs from the uninterrupted fit (%d vs %d steps)", what, len(got.History), len(want.History))
	}
	sameSamples(t, what, sampleOf(t, got, "euler"), sampleOf(t, want, "euler"))
}

// movedAside reports whether base's files are in ckpt/corrupt/ and no longer in ckpt/.
func movedAside(dir, base string) bool {
	name := filepath.Base(base)
	for _, sfx := range []string{checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix} {
		if !exists(filepath.Join(dir, "ckpt", corruptDir, name+sfx)) || exists(base+sfx) {
			return false
		}
	}
	return true
}

// TestCorruptCheckpointResumes: a newest checkpoint that fails to load (a truncated .bin, or the
// empty .json a kill during GoMLX's save leaves) is moved aside, and the fit resumes from the one
// before it to the same result, bit for bit, as an uninterrupted fit.
func TestCorruptCheckpointResumes(t *testing.T) {
	z, cfg, full := plainFit(t)
	for _, c := range []struct {
		name, suffix string
		empty        bool
	}{{"truncated bin", checkpoint.BinDataSuffix, false}, {"empty json", checkpoint.JsonNameSuffix, true}} {
		dir := filepath.Join(t.TempDir(), "model")
		if _, err := fitQuiet(t, z, cfg, dir, 12); !errors.Is(err, ErrStopped) { // checkpoints at 10 and 12
			t.Fatalf("%s: err = %v, want ErrStopped", c.name, err)
		}
		bad := newestCheckpoint(t, dir)
		truncate(t, bad+c.suffix, c.empty)
		resumed, err := fitQuiet(t, z, cfg, dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !movedAside(dir, bad) {
			t.Errorf("%s: %s was not moved into ckpt/%s", c.name, bad, corruptDir)
		}
		sameFit(t, c.name, resumed, full)
		loaded, err := Load(dir, testBackend(t))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sameSamples(t, c.name+", loaded", sampleOf(t, loaded, "euler"), sampleOf(t, full, "euler"))
	}
}

// TestNoLoadableCheckpoint: when the only checkpoint is damaged, resuming says what it moved
// aside; running the fit again then starts it over, to the same result.
func TestNoLoadableCheckpoint(t *testing.T) {
	z, cfg, full := plainFit(t)
	dir := filepath.Join(t.TempDir(), "model")
	if _, err := fitQuiet(t, z, cfg, dir, 5); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	bad := newestCheckpoint(t, dir)
	truncate(t, bad+checkpoint.JsonNameSuffix, true)
	_, err := fitQuiet(t, z, cfg, dir, 0)
	for _, want := range []string{"no loadable checkpoint", filepath.Join("ckpt", corruptDir), filepath.Base(bad), "EOF", "start it over"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	again, err := fitQuiet(t, z, cfg, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameFit(t, "started over", again, full)
}

// TestInterruptedSave: model.json is written before the checkpoint, so a kill during the last
// save leaves model.json finished and the checkpoint behind (the newest one missing, or damaged
// and moved aside). Load refuses such a folder; running the fit again finishes it.
func TestInterruptedSave(t *testing.T) {
	z, cfg, full := plainFit(t)
	for _, damaged := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "model")
		if _, err := fitQuiet(t, z, cfg, dir, 0); err != nil {
			t.Fatal(err)
		}
		last := newestCheckpoint(t, dir)
		if damaged {
			truncate(t, last+checkpoint.JsonNameSuffix, true)
		} else {
			os.Remove(last + checkpoint.JsonNameSuffix)
			os.Remove(last + checkpoint.BinDataSuffix)
		}
		_, err := Load(dir, testBackend(t))
		if err == nil || !strings.Contains(err.Error(), "interrupted while saving; run the same fit again to finish it") ||
			!strings.Contains(err.Error(), "step 30") || !strings.Contains(err.Error(), "step 20") {
			t.Fatalf("damaged %v: Load: err = %v", damaged, err)
		}
		if damaged && !movedAside(dir, last) {
			t.Errorf("Load did not move the damaged %s aside", last)
		}
		resumed, err := fitQuiet(t, z, cfg, dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameFit(t, "finished after an interrupted save", resumed, full)
		loaded, err := Load(dir, testBackend(t))
		if err != nil {
			t.Fatal(err)
		}
		sameSamples(t, "reloaded", sampleOf(t, loaded, "euler"), sampleOf(t, full, "euler"))
	}
}

// poisonStep makes the loss (or the gradient norm) of step at non-finite, every time or once.
func poisonStep(t *testing.T, at int, gradNorm, once bool) {
	t.Helper()
	fired := false
	testHookStep = func(step int, loss, gn *float32) {
		if step != at || (once && fired) {
			return
		}
		fired = true
		if gradNorm {
			*gn = float32(math.Inf(1))
		} else {
			*loss = float32(math.NaN())
		}
	}
	t.Cleanup(func() { testHookStep = nil })
}

func fitOpt(t *testing.T, z *traj.Zoo, cfg Config, opt Options) (*Model, error) {
	t.Helper()
	opt.Backend, opt.Progress = testBackend(t), io.Discard
	if opt.CheckpointEvery == 0 {
		opt.CheckpointEvery = 10
	}
	return Fit(context.Background(), z, cfg, opt)
}

// TestDivergenceError: a NaN loss or an Inf gradient norm stops the fit with an error naming the
// step and the learning rate, before anything of that step is saved; with a folder the error
// says which checkpoint is kept and how to continue.
func TestDivergenceError(t *testing.T) {
	z := driftZoo(tinyLayout(), 16, 3, 1)
	cfg := smallConfig()
	poisonStep(t, 15, false, false)
	_, err := fitOpt(t, z, cfg, Options{})
	var d *DivergedError
	def, _ := cfg.Defaults()
	if !errors.As(err, &d) || d.Step != 15 || d.What != "loss" || !math.IsNaN(float64(d.Value)) || d.LR != def.lrAt(15) {
		t.Fatalf("err = %v (%+v), want the loss diverged at step 15", err, d)
	}
	for _, want := range []string{"loss became NaN at step 15", "learning rate 0.00", "Options.Dir", "LRCut"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	poisonStep(t, 15, true, false)
	dir := filepath.Join(t.TempDir(), "model")
	_, err = fitOpt(t, z, cfg, Options{Dir: dir})
	if !errors.As(err, &d) || d.Step != 15 || d.What != "gradient norm" || d.LastGood != 10 {
		t.Fatalf("err = %v, want the gradient norm diverged at step 15, last checkpoint 10", err)
	}
	for _, want := range []string{"gradient norm became +Inf at step 15", "last checkpoint (step 10) is kept in " + dir, "--lr-cut"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var m Model
	if err := readJSON(filepath.Join(dir, modelFile), &m); err != nil || m.Steps != 10 || len(m.History) != 10 {
		t.Errorf("after the divergence %s holds %d steps (err %v), want 10", modelFile, m.Steps, err)
	}
	if _, err := fitOpt(t, z, cfg, Options{Dir: dir, LRCut: 1.5}); err == nil || !strings.Contains(err.Error(), "LRCut") {
		t.Errorf("LRCut 1.5 accepted: %v", err)
	}
	// Before the first checkpoint: the folder is left resumable, and the suggested rerun with an
	// LRCut restarts from step 0.
	poisonStep(t, 5, false, true)
	dir = filepath.Join(t.TempDir(), "early")
	if _, err := fitOpt(t, z, cfg, Options{Dir: dir}); !errors.As(err, &d) || d.Step != 5 || !strings.Contains(err.Error(), "no checkpoint was saved in "+dir) {
		t.Fatalf("err = %v, want the loss diverged at step 5 with no checkpoint", err)
	}
	poisonStep(t, 5, false, true)
	m2, err := fitOpt(t, z, cfg, Options{Dir: dir, LRCut: 0.5})
	if err != nil || len(m2.LRCuts) != 1 || m2.LRCuts[0].Step != 0 || m2.Steps != cfg.Steps {
		t.Errorf("rerun with LRCut: err %v, model %+v", err, m2)
	}
}

// TestRealDivergence: an absurd learning rate really diverges, and the error names the step.
func TestRealDivergence(t *testing.T) {
	cfg := smallConfig()
	cfg.LR = 1e30
	_, err := fitOpt(t, driftZoo(tinyLayout(), 16, 3, 1), cfg, Options{})
	var d *DivergedError
	if !errors.As(err, &d) || d.Step < 1 || !strings.Contains(err.Error(), "at step ") {
		t.Fatalf("err = %v, want a divergence after the first step", err)
	}
}

// TestLRCutContinues: with Options.LRCut a fit that diverges goes back to its last checkpoint,
// cuts the learning rate and finishes; the cut is recorded in model.json, and a fit stopped after
// the cut resumes to the same result, even from the checkpoint before the cut.
func TestLRCutContinues(t *testing.T) {
	z, cfg, full := plainFit(t)
	poisonStep(t, 15, false, true)
	dirA := filepath.Join(t.TempDir(), "a")
	compiles := 0
	cut, err := fitOpt(t, z, cfg, Options{Dir: dirA, LRCut: 0.5, Compiles: &compiles})
	if err != nil {
		t.Fatal(err)
	}
	if compiles != 2 { // the first step, and the restart at the checkpoint with the cut rate
		t.Errorf("a fit with one cut built its step %d times, want 2", compiles)
	}
	want := []LRCut{{Step: 10, Scale: 0.5, Diverged: 15, What: "loss is NaN"}}
	if len(cut.LRCuts) != 1 || cut.LRCuts[0] != want[0] {
		t.Fatalf("cuts %+v, want %+v", cut.LRCuts, want)
	}
	if cut.Steps != cfg.Steps || len(cut.History) != cfg.Steps || traj.FirstNonFinite(cut.History) >= 0 || traj.FirstNonFinite(cut.GradNorm) >= 0 {
		t.Fatalf("fit with a cut: %d steps, history %v", cut.Steps, cut.History)
	}
	// Step 10's loss is that of the checkpoint's weights; the cut learning rate shows from step 11.
	if !equalFloats(cut.History[:11], full.History[:11]) || cut.History[11] == full.History[11] {
		t.Error("the cut fit should equal the plain one up to step 10 and differ after (lower learning rate)")
	}
	loaded, err := Load(dirA, testBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.LRCuts) != 1 || loaded.LRCuts[0] != want[0] {
		t.Errorf("model.json records cuts %+v", loaded.LRCuts)
	}
	sameSamples(t, "cut fit, reloaded", sampleOf(t, loaded, "euler"), sampleOf(t, cut, "euler"))

	// Stopped after the cut (checkpoints at 10 and 20), then resumed with no LRCut and no
	// divergence: the recorded cut is reapplied. Then the same from the checkpoint before the cut.
	for _, fromBefore := range []bool{false, true} {
		poisonStep(t, 15, false, true)
		dir := filepath.Join(t.TempDir(), "b")
		if _, err := fitOpt(t, z, cfg, Options{Dir: dir, LRCut: 0.5, StopAfter: 25}); !errors.Is(err, ErrStopped) {
			t.Fatalf("err = %v, want ErrStopped", err)
		}
		testHookStep = nil
		if fromBefore {
			truncate(t, newestCheckpoint(t, dir)+checkpoint.BinDataSuffix, false)
		}
		resumed, err := fitOpt(t, z, cfg, Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		sameFit(t, "resumed after a cut", resumed, cut)
		if len(resumed.LRCuts) != 1 || resumed.LRCuts[0] != want[0] {
			t.Errorf("resumed cuts %+v", resumed.LRCuts)
		}
	}

	// Before any checkpoint: back to the start. Endless divergence: gives up after MaxLRCuts.
	poisonStep(t, 5, true, true)
	early, err := fitOpt(t, z, cfg, Options{Dir: filepath.Join(t.TempDir(), "c"), LRCut: 0.5})
	if err != nil || len(early.LRCuts) != 1 || early.LRCuts[0].Step != 0 || early.LRCuts[0].What != "gradient norm is +Inf" || len(early.History) != cfg.Steps {
		t.Errorf("cut before the first checkpoint: err %v, cuts %+v", err, early)
	}
	poisonStep(t, 15, false, false)
	_, err = fitOpt(t, z, cfg, Options{Dir: filepath.Join(t.TempDir(), "d"), LRCut: 0.5, MaxLRCuts: 2})
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 learning-rate cuts") {
		t.Errorf("endless divergence: %v", err)
	}
}
