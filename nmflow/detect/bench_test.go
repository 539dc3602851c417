package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// BenchmarkCDCStep measures CDC-steps per second of the compiled ℓ_cdc training step on
// MNIST-shaped data (784-32-10 MLP, 128 P examples + |Q| = 20 per CDC) for M = 8 and 32 CDCs
// trained at once. Run: go test -run '^$' -bench CDCStep ./nmflow/detect/
func BenchmarkCDCStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	split := func(n int) data.Split { return noiseImages(rng, n, 784) }
	net := arch.MustNew(arch.MLP([]int{1, 28, 28}, 10, 32))
	params, _ := arch.Init(net.Layout(), arch.InitPyTorch, 1)
	norm, _ := feed.NewNorm([]float32{0.13}, []float32{0.31}, 784, false)
	base := &Base{Net: net, Params: params, Norm: norm}
	for _, m := range []int{8, 32} {
		b.Run(fmt.Sprintf("M=%d", m), func(b *testing.B) {
			cfg, _ := Config{Models: m, Steps: 1, Ensemble: 1, Patience: -1}.Defaults()
			e, err := newEngine(backend.MustDefault(), base, cfg, split(2048), split(1000))
			if err != nil {
				b.Fatal(err)
			}
			group := e.drawTrials(1, 0, 20, m/2, 500, 500)
			e.runGroup(group, 2048, func() {}) // compile outside the timer
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, t := range group {
					t.stopped = false
				}
				e.runGroup(group, 2048, func() {})
			}
			b.ReportMetric(float64(m*b.N)/b.Elapsed().Seconds(), "cdc-steps/s")
		})
	}
}
