package zoo

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
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/traj"
)

var quadrants = testutil.Quadrants // 3 classes on 1×4×4 images: which quadrant is bright

func synthetic() *data.Dataset {
	return &data.Dataset{Name: "quadrants", Shape: []int{1, 4, 4}, Classes: []string{"a", "b", "c"},
		Train: quadrants(600, 1), Test: quadrants(200, 2), Source: "test"}
}

func smallConfig() Config {
	return Config{Arch: arch.MLP([]int{1, 4, 4}, 3, 8), Runs: 3, Epochs: 4, Checkpoints: 4, BatchSize: 32, LR: 0.1, Seed: 11}
}

func quiet() Options { return Options{Progress: io.Discard} }

func TestTrainLearnsAndRecords(t *testing.T) {
	cfg := smallConfig()
	z, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Check(); err != nil {
		t.Fatal(err)
	}
	if z.Runs != 3 || z.Checkpoints != 5 || z.Params != 16*8+8+8*3+3 {
		t.Fatalf("zoo dims R=%d K+1=%d P=%d", z.Runs, z.Checkpoints, z.Params)
	}
	// 600/32 = 18 steps per epoch, 72 in all, checkpoints every 18.
	if want := []int64{0, 18, 36, 54, 72}; len(z.Steps) != 5 || z.Steps[4] != want[4] || z.Steps[1] != want[1] {
		t.Fatalf("steps %v want %v", z.Steps, want)
	}
	for r := 0; r < z.Runs; r++ {
		a0, aK := z.Metric(traj.MetricTestAcc, r, 0), z.Metric(traj.MetricTestAcc, r, 4)
		l0, lK := z.Metric(traj.MetricTrainLoss, r, 0), z.Metric(traj.MetricTrainLoss, r, 4)
		if aK < 0.9 || aK <= a0 || lK >= l0 {
			t.Errorf("run %d: acc %.3f→%.3f, train loss %.3f→%.3f", r, a0, aK, l0, lK)
		}
		if math.Abs(float64(l0)-math.Log(3)) > 0.5 {
			t.Errorf("run %d: initial loss %.3f far from ln 3", r, l0)
		}
	}
	// The init checkpoint is exactly the init law's sample for each run's seed.
	init, _ := arch.InitBatch(z.Meta.Layout, arch.InitPyTorch, z.Meta.RunSeeds)
	for i, v := range z.At(1, 0) {
		if v != init[z.Params+i] {
			t.Fatalf("checkpoint 0 of run 1 is not its init (param %d)", i)
		}
	}
	if z.Meta.Backend == "" || z.Meta.Seed != 11 || len(z.Meta.RunSeeds) != 3 || z.Meta.Init != arch.InitPyTorch || z.Meta.Dataset.Name != "quadrants" {
		t.Fatalf("metadata incomplete: %+v", z.Meta)
	}
}

// A run does not depend on how many other runs share the compiled step.
func TestRunsAreIndependentOfR(t *testing.T) {
	cfg := smallConfig()
	cfg.Epochs, cfg.Checkpoints = 1, 1
	z3, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runs = 1
	z1, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	a, b := z1.At(0, 1), z3.At(0, 1)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5 {
			t.Fatalf("run 0 differs between R=1 and R=3 at param %d: %g vs %g", i, a[i], b[i])
		}
	}
}

func TestResumeMatchesUninterrupted(t *testing.T) {
	for _, opt := range []string{"sgd", "adam"} {
		cfg := smallConfig()
		cfg.Optimizer, cfg.Momentum = opt, 0.9
		cfg.LR = map[string]float64{"sgd": 0.05, "adam": 0.01}[opt]
		if opt == "adam" {
			cfg.Momentum = 0
		}
		full, err := Train(context.Background(), cfg, synthetic(), quiet())
		if err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(t.TempDir(), "zoo.state")
		o := quiet()
		o.State, o.StopAfter = state, 2
		if _, err := Train(context.Background(), cfg, synthetic(), o); !errors.Is(err, ErrStopped) {
			t.Fatalf("%s: want ErrStopped, got %v", opt, err)
		}
		o.StopAfter = 0
		resumed, err := Train(context.Background(), cfg, synthetic(), o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range full.Weights {
			if full.Weights[i] != resumed.Weights[i] {
				t.Fatalf("%s: resumed zoo differs at weight %d: %g vs %g", opt, i, full.Weights[i], resumed.Weights[i])
			}
		}
		for name, m := range full.Metrics {
			for i := range m {
				if m[i] != resumed.Metrics[name][i] {
					t.Fatalf("%s: metric %s differs at %d", opt, name, i)
				}
			}
		}
		if resumed.Meta.Extra["resumed_at_step"] != "36" {
			t.Fatalf("%s: resumed_at_step = %q", opt, resumed.Meta.Extra["resumed_at_step"])
		}
		// A different config must not silently continue from this state.
		cfg.Seed++
		if _, err := Train(context.Background(), cfg, synthetic(), o); err == nil || !strings.Contains(err.Error(), "different configuration") {
			t.Fatalf("%s: mismatched config accepted: %v", opt, err)
		}
	}
}

func TestCNNZooLearns(t *testing.T) {
	cfg := smallConfig()
	cfg.Arch = arch.CNN([]int{1, 4, 4}, 3, []int{4}, 8)
	cfg.Runs, cfg.Epochs, cfg.Checkpoints = 2, 6, 2
	cfg.Standardize = true
	z, err := Train(context.Background(), cfg, synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < z.Runs; r++ {
		if acc := z.Metric(traj.MetricTestAcc, r, 2); acc < 0.85 {
			t.Errorf("cnn run %d final acc %.3f", r, acc)
		}
	}
}

func TestBadConfigAndDivergence(t *testing.T) {
	ds := synthetic()
	for _, mut := range []func(*Config){
		func(c *Config) { c.Runs = 0 },
		func(c *Config) { c.Optimizer = "lbfgs" },
		func(c *Config) { c.LR = -1 },
		func(c *Config) { c.Checkpoints = 1000 },
		func(c *Config) { c.Arch = arch.MLP([]int{1, 5, 5}, 3, 8) },
		func(c *Config) { c.Init = "zeros" },
		func(c *Config) { c.BatchSize = 10000 },
	} {
		cfg := smallConfig()
		mut(&cfg)
		if _, err := Train(context.Background(), cfg, ds, quiet()); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	cfg := smallConfig()
	cfg.LR = 1e30
	_, err := Train(context.Background(), cfg, ds, quiet())
	if err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Fatalf("divergence not reported clearly: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, smallConfig(), ds, quiet()); !errors.Is(err, ErrStopped) {
		t.Fatalf("cancelled context: %v", err)
	}
}

// A resume state with flipped data bytes must not resume into a silently different zoo.
func TestCorruptResumeStateIsRefused(t *testing.T) {
	cfg := smallConfig()
	state := filepath.Join(t.TempDir(), "zoo.state")
	o := quiet()
	o.State, o.StopAfter = state, 2
	if _, err := Train(context.Background(), cfg, synthetic(), o); !errors.Is(err, ErrStopped) {
		t.Fatalf("want ErrStopped, got %v", err)
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x40 // inside test_acc, the last tensor's data
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	o.StopAfter = 0
	if _, err := Train(context.Background(), cfg, synthetic(), o); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Fatalf("corrupt state: got %v", err)
	}
}
