package zoo

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
)

// BenchmarkZooStep measures model-steps per second of the compiled training step on MNIST-shaped
// data (784-32-10 MLP, batch 128, SGD) for R = 1, 8, 64. One step graph is compiled per zoo and
// reused (SetMaxCache(1) turns any recompilation into an error), so R = 64 costs far less than
// 64 × (R = 1). Run: make bench, or go test -run '^$' -bench ZooStep ./nmflow/zoo/
func BenchmarkZooStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	split := func(n int) data.Split {
		s := data.Split{Images: make([]uint8, n*784), Labels: make([]int, n), N: n}
		for i := range s.Images {
			s.Images[i] = uint8(rng.IntN(256))
		}
		for i := range s.Labels {
			s.Labels[i] = rng.IntN(10)
		}
		return s
	}
	ds := &data.Dataset{Name: "mnist-shaped", Shape: []int{1, 28, 28}, Classes: make([]string, 10), Train: split(8192), Test: split(256)}
	for _, r := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("R=%d", r), func(b *testing.B) {
			cfg, _ := Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 32), Runs: r, Epochs: 1, Checkpoints: 1, Seed: 1, EvalTrain: 256}.Defaults()
			net, _ := arch.New(cfg.Arch)
			be, _, err := backend.Default()
			if err != nil {
				b.Fatal(err)
			}
			t, err := newTrainer(be, net, cfg, ds)
			if err != nil {
				b.Fatal(err)
			}
			perms, ep := make([][]int, r), -1
			step := func(s int64) {
				idx := t.batchIndices(s%t.total, perms, &ep)
				out := t.step.MustExec(t.train.X, t.train.Y, idxTensor(idx, r, cfg.BatchSize), t.norm.Scale, t.norm.Shift, t.params, t.s1, t.s2, float32(cfg.LR), float32(0))
				t.params, t.s1, t.s2 = out[0], out[1], out[2]
				out[3].MustFinalizeAll()
			}
			step(0) // compile outside the timer
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step(int64(i + 1))
			}
			b.ReportMetric(float64(r*b.N)/b.Elapsed().Seconds(), "model-steps/s")
		})
	}
}
