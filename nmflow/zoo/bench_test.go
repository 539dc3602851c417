package zoo

import (
	"fmt"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
)

// BenchmarkZooStep measures model-steps per second of the compiled training step on MNIST-shaped
// data (784-32-10 MLP, batch 128, SGD) for R = 1, 8, 64, 256. One step graph is compiled per zoo and
// reused (SetMaxCache(1) turns any recompilation into an error), so R = 64 costs far less than
// 64 × (R = 1). Run: make bench, or go test -run '^$' -bench ZooStep ./nmflow/zoo/
func BenchmarkZooStep(b *testing.B) {
	ds := data.NoiseMNIST(8192, 256, 1)
	be, _, err := backend.Default()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range []int{1, 8, 64, 256} {
		b.Run(fmt.Sprintf("R=%d", r), func(b *testing.B) {
			sb, err := NewStepBench(be, Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 32), Runs: r, Epochs: 1000, Checkpoints: 1, Seed: 1, EvalTrain: 256}, ds)
			if err != nil {
				b.Fatal(err)
			}
			if err := sb.Step(); err != nil { // compile outside the timer
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := sb.Step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r*b.N)/b.Elapsed().Seconds(), "model-steps/s")
			if sb.Compilations() != 1 {
				b.Fatalf("%d compilations", sb.Compilations())
			}
		})
	}
}
