package adjoint

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/crashtest"
	"github.com/nmflow/nmflow/nmflow/solve"
)

const envKillChild = "NMFLOW_ADJOINT_KILL_CHILD"

// killRun is the run the kill test interrupts: 10 iterations, a checkpoint every 4.
func killRun() (Config, Reward, int) {
	return Config{Lambda: 1, Steps: 6, Times: 2, Batch: 16, Iters: 10, LR: 1e-2, Seed: 9}, Linear([]float32{1, -0.5}), 4
}

// killBase is where the parent saves the base model for the child, next to the output folder
// (the child loads it rather than fitting it again).
func killBase(dir string) string { return dir + ".base" }

func TestMain(m *testing.M) {
	if dir, ok := crashtest.Child(envKillChild); ok {
		// Log-style progress writes one line per iteration of the 10; the 5th comes after
		// iteration 5, past the checkpoint at 4: the child blocks there and is killed.
		backend.Notice = io.Discard
		base, err := flow.Load(killBase(dir), nil)
		if err == nil {
			cfg, reward, every := killRun()
			_, err = FineTune(context.Background(), base, reward, cfg,
				Options{Dir: dir, CheckpointEvery: every, Progress: crashtest.BlockAt(5, dir+".blocked", nil)})
		}
		crashtest.Exit("the fine-tuning", err)
	}
	os.Exit(m.Run())
}

// TestKilledFineTuneResumes: a fine-tuning run killed between checkpoints resumes from its
// folder to the same histories, weights and samples, bit for bit, as an uninterrupted run with
// the same seed, also when a kill during a checkpoint's save left its files unreadable.
func TestKilledFineTuneResumes(t *testing.T) {
	cfg, reward, every := killRun()
	dir := filepath.Join(t.TempDir(), "finetuned")
	if err := gaussBase(t).SaveAs(killBase(dir)); err != nil {
		t.Fatal(err)
	}
	base, err := flow.Load(killBase(dir), testBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	full, err := FineTune(context.Background(), base, reward, cfg, Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	crashtest.Kill(t, envKillChild, dir, dir+".blocked", 60*time.Second)
	rec, err := ReadResult(dir)
	if err != nil || rec.Iters != 4 || len(rec.Loss) != 4 {
		t.Fatalf("after the kill %s says %+v (err %v), want the checkpoint at iteration 4", resultFile, rec, err)
	}
	if _, err := os.Stat(filepath.Join(dir, modelFile)); err == nil {
		t.Fatalf("a killed run left %s, which only a finished run writes", modelFile)
	}
	// What a kill during the next save would leave: the record ahead (it is written first) and
	// GoMLX's newest checkpoint files empty. Resuming moves them aside and goes on from 4.
	ahead := *rec
	ahead.Iters, ahead.RewardHistory, ahead.Loss = 5, append(rec.RewardHistory, 99), append(rec.Loss, 99)
	ahead.KL, ahead.GradNorm, ahead.ClipLevel = append(rec.KL, 99), append(rec.GradNorm, 99), append(rec.ClipLevel, 99)
	if err := writeJSON(filepath.Join(dir, resultFile), &ahead); err != nil {
		t.Fatal(err)
	}
	torn := "checkpoint-n9999999-29991231-235959-step-00000005"
	for _, sfx := range []string{checkpoint.JsonNameSuffix, checkpoint.BinDataSuffix} {
		if err := os.WriteFile(filepath.Join(dir, stateDir, torn+sfx), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	resumed, err := FineTune(context.Background(), base, reward, cfg, Options{Dir: dir, CheckpointEvery: every, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateDir, "corrupt", torn+checkpoint.JsonNameSuffix)); err != nil {
		t.Errorf("the torn checkpoint was not moved aside into %s/corrupt: %v", stateDir, err)
	}
	for name, pair := range map[string][2][]float32{
		"reward": {full.RewardHistory, resumed.RewardHistory}, "loss": {full.Loss, resumed.Loss},
		"kl": {full.KL, resumed.KL}, "grad norm": {full.GradNorm, resumed.GradNorm},
	} {
		if len(pair[0]) != cfg.Iters || !sameBits(pair[0], pair[1]) {
			t.Errorf("%s history: uninterrupted %v, killed and resumed %v", name, pair[0], pair[1])
		}
	}
	for i := range full.ClipLevel {
		if resumed.ClipLevel[i] != full.ClipLevel[i] {
			t.Fatalf("clip level %d: uninterrupted %v, killed and resumed %v", i, full.ClipLevel[i], resumed.ClipLevel[i])
		}
	}
	wa, wb := weightsOf(t, full.Model.Weights()), weightsOf(t, resumed.Model.Weights())
	if len(wa) == 0 || len(wa) != len(wb) {
		t.Fatalf("the fine-tuned models have %d and %d variables", len(wa), len(wb))
	}
	for p, w := range wa {
		if !sameBits(w, wb[p]) {
			t.Errorf("%s differs between the uninterrupted and the killed-and-resumed model", p)
		}
	}
	sample := func(m *flow.Model) []float32 {
		s, err := m.Sample(64, flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 10}, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		return s.Weights
	}
	if a, b := sample(full.Model), sample(resumed.Model); len(a) != 128 || !sameBits(a, b) {
		t.Errorf("the samples of the uninterrupted and the killed-and-resumed model differ")
	}
}
