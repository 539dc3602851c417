package flow

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nmflow/nmflow/nmflow/internal/crashtest"
)

const envKillChild = "NMFLOW_FLOW_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir, ok := crashtest.Child(envKillChild); ok {
		// Log-style progress writes one line per 10% of the 30 steps; the 5th comes at step 15,
		// after the checkpoint at step 10 was saved: the child blocks there and is killed.
		opt := Options{Dir: dir, CheckpointEvery: 10, Progress: crashtest.BlockAt(5, dir+".blocked", nil)}
		_, err := Fit(context.Background(), driftZoo(tinyLayout(), 16, 3, 1), smallConfig(), opt)
		crashtest.Exit("the fit", err)
	}
	os.Exit(m.Run())
}

// TestKilledFitResumes: a fit killed between checkpoints resumes from its directory to the same
// losses, gradient norms and samples, bit for bit, as an uninterrupted fit with the same seed.
func TestKilledFitResumes(t *testing.T) {
	z := driftZoo(tinyLayout(), 16, 3, 1)
	cfg := smallConfig()
	full, err := fitQuiet(t, z, cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	crashtest.Kill(t, envKillChild, dir, dir+".blocked", 60*time.Second)
	var m Model
	if err := readJSON(filepath.Join(dir, modelFile), &m); err != nil || m.Steps != 10 {
		t.Fatalf("after the kill %s says %d steps (err %v), want the checkpoint at 10", modelFile, m.Steps, err)
	}
	resumed, err := fitQuiet(t, z, cfg, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !equalFloats(resumed.History, full.History) || !equalFloats(resumed.GradNorm, full.GradNorm) {
		t.Fatalf("the resumed fit's history differs from the uninterrupted one")
	}
	sameSamples(t, "killed and resumed", sampleOf(t, full, "rk4"), sampleOf(t, resumed, "rk4"))
}
