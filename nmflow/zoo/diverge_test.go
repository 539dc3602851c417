package zoo

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// poisonLoss makes run 1's training loss NaN at the given step (every time, or only once).
func poisonLoss(t *testing.T, at int64, once bool) {
	fired := false
	testHookLoss = func(step int64, l []float32) {
		if step == at && !(once && fired) {
			l[1] = float32(math.NaN())
			fired = true
		}
	}
	t.Cleanup(func() { testHookLoss = nil })
}

func sameCheckpoints(t *testing.T, what string, a, b *traj.Zoo, ks ...int) {
	t.Helper()
	for r := 0; r < a.Runs; r++ {
		for _, k := range ks {
			x, y := a.At(r, k), b.At(r, k)
			for i := range x {
				if x[i] != y[i] {
					t.Fatalf("%s: run %d checkpoint %d differs at param %d", what, r, k, i)
				}
			}
		}
	}
}

// TestDivergenceStopsAndKeepsLastGood: a NaN loss at step 40 stops the zoo with an error naming
// run and step; the checkpoints before it (0, 18, 36) are returned and kept in the state file,
// from which a rerun finishes exactly like an uninterrupted zoo.
func TestDivergenceStopsAndKeepsLastGood(t *testing.T) {
	cfg := smallConfig()
	full, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	poisonLoss(t, 40, false)
	o := quiet()
	o.State = filepath.Join(t.TempDir(), "zoo.state")
	part, err := Train(context.Background(), cfg, synthetic(), o)
	var d *DivergedError
	if !errors.As(err, &d) || d.Run != 1 || d.Step != 40 || d.LastGood != 36 || d.What != "training loss" || !math.IsNaN(float64(d.Value)) {
		t.Fatalf("err = %v (%+v), want run 1 diverged at step 40, last good 36", err, d)
	}
	for _, w := range []string{"run 1 diverged at step 40", "training loss is NaN", "step 36", o.State, "LRCut"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if part == nil || part.Checkpoints != 3 || part.Steps[2] != 36 {
		t.Fatalf("partial zoo: %+v", part)
	}
	sameCheckpoints(t, "partial zoo", part, full, 0, 1, 2)
	testHookLoss = nil
	resumed, err := Train(context.Background(), cfg, synthetic(), o)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoints(t, "resumed after divergence", resumed, full, 0, 1, 2, 3, 4)
}

// TestLRCutContinues: with Options.LRCut the zoo goes back to the last good checkpoint, halves
// the learning rate and finishes; the cut is in the metadata and survives a resume.
func TestLRCutContinues(t *testing.T) {
	cfg := smallConfig()
	full, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	poisonLoss(t, 40, true)
	o := quiet()
	o.LRCut = 0.5
	z, err := Train(context.Background(), cfg, synthetic(), o)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoints(t, "before the cut", z, full, 0, 1, 2)
	if cuts := z.Meta.Extra["lr_cuts"]; !strings.Contains(cuts, "step 40") || !strings.Contains(cuts, "back to step 36, lr 0.05") || z.Meta.Extra["final_lr"] != "0.05" {
		t.Errorf("metadata: lr_cuts %q final_lr %q", cuts, z.Meta.Extra["final_lr"])
	}
	if z.At(0, 4)[0] == full.At(0, 4)[0] {
		t.Error("the cut learning rate changed nothing after step 36")
	}
	for r := 0; r < z.Runs; r++ {
		if acc := z.Metric(traj.MetricTestAcc, r, 4); acc < 0.9 {
			t.Errorf("run %d: accuracy %.3f after the cut", r, acc)
		}
	}
	// The same with a stop after the cut and a resume: the cut is carried in the state.
	poisonLoss(t, 40, true)
	o.State, o.StopAfter = filepath.Join(t.TempDir(), "zoo.state"), 3
	if _, err := Train(context.Background(), cfg, synthetic(), o); !errors.Is(err, ErrStopped) {
		t.Fatalf("want ErrStopped, got %v", err)
	}
	testHookLoss = nil
	o.StopAfter = 0
	again, err := Train(context.Background(), cfg, synthetic(), o)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoints(t, "resumed with a cut", again, z, 0, 1, 2, 3, 4)
	if again.Meta.Extra["lr_cuts"] != z.Meta.Extra["lr_cuts"] {
		t.Errorf("cuts after resume %q, want %q", again.Meta.Extra["lr_cuts"], z.Meta.Extra["lr_cuts"])
	}
	// A run that keeps diverging gives up after MaxLRCuts.
	poisonLoss(t, 40, false)
	o = quiet()
	o.LRCut, o.MaxLRCuts = 0.5, 2
	if _, err := Train(context.Background(), cfg, synthetic(), o); err == nil || !strings.Contains(err.Error(), "gave up after 2") {
		t.Errorf("endless divergence: %v", err)
	}
	o.LRCut = 1.5
	if _, err := Train(context.Background(), cfg, synthetic(), o); err == nil || !strings.Contains(err.Error(), "LRCut") {
		t.Errorf("LRCut 1.5 accepted: %v", err)
	}
}

// TestRealDivergenceCut: a learning rate of 1e29 really diverges (Inf/NaN); two cuts of 1e-15
// bring it to 1e-1 from the init, which is exactly a zoo trained at that rate from the start.
func TestRealDivergenceCut(t *testing.T) {
	cfg := smallConfig()
	cfg.LR = 1e29
	o := quiet()
	o.LRCut = 1e-15
	z, err := Train(context.Background(), cfg, synthetic(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(z.Meta.Extra["lr_cuts"], "back to step"); n != 2 {
		t.Fatalf("want 2 cuts, metadata says %q", z.Meta.Extra["lr_cuts"])
	}
	ref := cfg
	ref.LR = 1e29 * (1e-15 * 1e-15)
	want, err := Train(context.Background(), ref, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoints(t, "cut twice vs. trained at the cut rate", z, want, 0, 1, 2, 3, 4)
}
