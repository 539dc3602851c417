package vae

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/solve"
)

// condPool has 3 classes × 8 images of 6 values: a task- and class-specific pattern plus noise.
func condPool(task int) *flow.SupportPool {
	rng := rand.New(rand.NewPCG(7, uint64(task)))
	p := &flow.SupportPool{Dim: 6}
	for c := range 3 {
		imgs := make([]float32, 8*p.Dim)
		for i := range imgs {
			imgs[i] = float32(math.Sin(float64((task+1)*(c+2)*(i%p.Dim+1))) + 0.1*rng.NormFloat64())
		}
		p.ByClass = append(p.ByClass, imgs)
	}
	return p
}

// distTo is the mean distance of n decoded nets (flat [n,P]) to the mean final net of zoo task.
func distTo(w []float32, n int, final []float32, runs int) float64 {
	p := len(final) / runs
	mean := make([]float64, p)
	for i, v := range final {
		mean[i%p] += float64(v) / float64(runs)
	}
	var d float64
	for r := range n {
		var s float64
		for i, v := range w[r*p : (r+1)*p] {
			s += (float64(v) - mean[i]) * (float64(v) - mean[i])
		}
		d += math.Sqrt(s) / float64(n)
	}
	return d
}

// One VAE on both tasks' checkpoints, a conditional flow on the two latent zoos: the condition
// steers the decoded nets to the task's; guidance 0 is the unconditional latent path bit for bit;
// the saved folder loads and samples the same nets; zoos of other nets are refused.
func TestLatentConditional(t *testing.T) {
	tasks := []flow.CondTask{{Name: "a", Zoo: tinyZoo(8, 3, 1), Pool: condPool(0)}, {Name: "b", Zoo: tinyZoo(8, 3, 2), Pool: condPool(1)}}
	all, err := flow.MergeTasks(tasks)
	if err != nil {
		t.Fatal(err)
	}
	v := fitTiny(t, all, Config{LatentDim: 8, Width: 32, Steps: 150, BatchSize: 16, LR: 1e-2, Seed: 1})
	cfg := flow.Config{Net: flow.NetConfig{Width: 32, Depth: 1, TimeDim: 8, CondDim: 8}, Steps: 300, BatchSize: 32, LR: 3e-3, EMA: 0.9, Seed: 5,
		Cond: &flow.CondConfig{K: 3, Hidden: 16, Drop: 0.2}}
	dir := filepath.Join(t.TempDir(), "cond")
	lf, err := FitLatentCond(context.Background(), v, tasks, cfg, flow.Options{Dir: dir, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if c := lf.Flow.Config.Cond; c == nil || !slices.Equal(c.Tasks, []string{"a", "b"}) || lf.Flow.Config.Source != flow.SourceGaussian ||
		lf.Flow.Base.Layout.Size() != 8 || !IsLatent(dir) {
		t.Fatalf("latent conditional flow: cond %+v source %s P=%d latent folder %v", lf.Flow.Config.Cond, lf.Flow.Config.Source, lf.Flow.Base.Layout.Size(), IsLatent(dir))
	}
	support := func(task int) []float32 {
		sup := make([]float32, 3*3*6)
		if err := tasks[task].Pool.Draw(rand.New(rand.NewPCG(9, 1)), 3, sup); err != nil {
			t.Fatal(err)
		}
		return sup
	}
	const n = 32
	sample := func(g *LatentFlow, c *flow.Condition) []float32 {
		t.Helper()
		s, err := g.Sample(n, flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 10}, Seed: 3, Cond: c})
		if err != nil {
			t.Fatal(err)
		}
		if s.P != all.Params || len(s.Weights) != n*all.Params {
			t.Fatalf("decoded samples: P=%d, %d values", s.P, len(s.Weights))
		}
		return s.Weights
	}
	wa := sample(lf, &flow.Condition{Support: support(0), Guidance: 2})
	wb := sample(lf, &flow.Condition{Support: support(1), Guidance: 2})
	if slices.Equal(wa, wb) {
		t.Fatal("the support set does not change the decoded nets")
	}
	fa, fb := tasks[0].Zoo.Checkpoint(2), tasks[1].Zoo.Checkpoint(2)
	aa, ab, ba, bb := distTo(wa, n, fa, 8), distTo(wa, n, fb, 8), distTo(wb, n, fa, 8), distTo(wb, n, fb, 8)
	t.Logf("mean distance to task a's / b's final nets: conditioned on a %.3f / %.3f, on b %.3f / %.3f", aa, ab, ba, bb)
	if !(aa < ab && bb < ba) {
		t.Errorf("conditioned nets are not nearer their task's: on a %.3f vs %.3f, on b %.3f vs %.3f", aa, ab, bb, ba)
	}
	if w0, unc := sample(lf, &flow.Condition{Support: support(0), Guidance: 0}), sample(lf, nil); !slices.Equal(w0, unc) {
		t.Error("guidance 0 differs from the unconditional latent samples")
	}
	loaded, err := LoadLatent(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sample(loaded, &flow.Condition{Support: support(0), Guidance: 2}), wa) {
		t.Error("the loaded latent conditional model samples other nets")
	}

	// A task zoo of other nets (4-5-2 MLP) is refused, naming the tasks.
	other := tinyZoo(8, 3, 3)
	other.Meta.Arch = arch.MLP([]int{4}, 2, 5)
	other.Meta.Layout = arch.MustNew(other.Meta.Arch).Layout()
	other.Params = other.Meta.Layout.Size()
	other.Weights = make([]float32, other.Runs*other.Checkpoints*other.Params)
	bad := append(slices.Clone(tasks), flow.CondTask{Name: "c", Zoo: other, Pool: condPool(2)})
	if _, err := FitLatentCond(context.Background(), v, bad, cfg, flow.Options{Progress: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), `task "c"`) || !strings.Contains(err.Error(), "same architecture") {
		t.Errorf("tasks of different architectures: %v", err)
	}
}
