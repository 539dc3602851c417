package traj

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// testLayout is a 4-3-2 MLP: P = 12 + 3 + 6 + 2 = 23.
func testLayout() arch.Layout {
	return arch.NewLayout(
		arch.Segment{Name: "fc1.weight", Shape: []int{3, 4}, FanIn: 4, Kind: arch.Weight},
		arch.Segment{Name: "fc1.bias", Shape: []int{3}, FanIn: 4, Kind: arch.Bias},
		arch.Segment{Name: "fc2.weight", Shape: []int{2, 3}, FanIn: 3, Kind: arch.Weight},
		arch.Segment{Name: "fc2.bias", Shape: []int{2}, FanIn: 3, Kind: arch.Bias},
	)
}

func testMeta() Meta {
	return Meta{
		Backend: "xla:cpu",
		Arch:    arch.MLP([]int{4}, 2, 3),
		Layout:  testLayout(),
		Init:    "pytorch",
		Dataset: DatasetMeta{Name: "toy", Train: 100, Test: 50, Standardize: true,
			Mean: []float32{0.1307, -1e-7}, Std: []float32{0.3081, 3}, Source: "synthetic"},
		Optimizer: OptimMeta{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 32, Epochs: 3, StepsPerEp: 4},
		Seed:      1<<63 + 5, // above 2^53: must survive JSON exactly
		Extra:     map[string]string{"note": "fixture"},
	}
}

// testValues fills n floats deterministically, including values that catch lossy encodings
// (negative zero, a subnormal, the largest float32, a value not representable in fewer bits).
func testValues(n int, seed uint32) []float32 {
	special := []float32{float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32, 1.0 / 3}
	out := make([]float32, n)
	x := seed*2654435761 + 1
	for i := range out {
		if i < len(special) {
			out[i] = special[i]
			continue
		}
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = (float32(x%20001) - 10000) / 7777
	}
	return out
}

func testZoo(r, k1 int) *Zoo {
	p := testLayout().Size()
	z := &Zoo{Meta: testMeta(), Runs: r, Checkpoints: k1, Params: p,
		Weights: testValues(r*k1*p, 1), Steps: make([]int64, k1),
		Metrics: map[string][]float32{
			MetricTrainLoss: testValues(r*k1, 2),
			MetricTestLoss:  testValues(r*k1, 3),
			MetricTestAcc:   testValues(r*k1, 4),
		}}
	for i := range z.Steps {
		z.Steps[i] = int64(i) * 12
	}
	for i := 0; i < r; i++ {
		z.Meta.RunSeeds = append(z.Meta.RunSeeds, uint64(100+i))
	}
	return z
}

func testGenerated(n int) *Generated {
	m := testMeta()
	m.Extra = map[string]string{"solver": "euler", "steps": "20"}
	p := m.Layout.Size()
	return &Generated{Meta: m, N: n, P: p, Weights: testValues(n*p, 9)}
}

func tempPath(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(t.TempDir(), name)
}
