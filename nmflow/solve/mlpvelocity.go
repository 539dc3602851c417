package solve

import (
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/nn"
)

// MLPVelocity is the sampling benchmarks' velocity (BenchmarkEuler, `nmflow bench`):
// v(x,t) = W2·silu(W1·x + b1 + t·wt) + b2 for states of size d, with [in,out] weights (the faster
// layout for forward-only use on the Go backend) as graph constants, drawn uniformly in
// ±1/√fan-in (b1, wt, b2 in ±0.1, ±1, ±0.01) from seed.
func MLPVelocity(d, hidden int, seed uint64) VelocityFn {
	rng := rand.New(rand.NewPCG(seed, 2))
	uniform := func(n int, bound float64) *tensors.Tensor {
		f := make([]float32, n)
		for i := range f {
			f[i] = float32((2*rng.Float64() - 1) * bound)
		}
		return tensors.FromFlatDataAndDimensions(f, n)
	}
	w1 := uniform(d*hidden, 1/math.Sqrt(float64(d)))
	w2 := uniform(hidden*d, 1/math.Sqrt(float64(hidden)))
	b1, b2, wt := uniform(hidden, 0.1), uniform(d, 0.01), uniform(hidden, 1)
	return func(x, t *Node) *Node {
		g := x.Graph()
		c := func(t *tensors.Tensor, dims ...int) *Node { return Reshape(ConstCachedTensor(g, t), dims...) }
		// Time enters as a shift of the hidden units; Dense fuses the SiLU where the backend can.
		bias := Add(c(b1, hidden), Mul(c(wt, hidden), t))
		h := nn.Dense(x, c(w1, d, hidden), bias, compute.DenseLayoutInputOutputs, activation.TypeSwish)
		return nn.Dense(h, c(w2, hidden, d), c(b2, d), compute.DenseLayoutInputOutputs)
	}
}
