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
	// The constants have their graph shapes: a Reshape of a constant is a copy on the Go backend
	// (it does not own the buffer), 2 × 52 MB per call at D = 25,450, which made Euler's steps,
	// one velocity per call, 20% slower per velocity than RK4's.
	uniform := func(bound float64, dims ...int) *tensors.Tensor {
		n := 1
		for _, v := range dims {
			n *= v
		}
		f := make([]float32, n)
		for i := range f {
			f[i] = float32((2*rng.Float64() - 1) * bound)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	w1 := uniform(1/math.Sqrt(float64(d)), d, hidden)
	w2 := uniform(1/math.Sqrt(float64(hidden)), hidden, d)
	b1, b2, wt := uniform(0.1, hidden), uniform(0.01, d), uniform(1, hidden)
	return func(x, t *Node) *Node {
		g := x.Graph()
		c := func(t *tensors.Tensor) *Node { return ConstCachedTensor(g, t) }
		// Time enters as a shift of the hidden units; Dense fuses the SiLU where the backend can.
		bias := Add(c(b1), Mul(c(wt), t))
		h := nn.Dense(x, c(w1), bias, compute.DenseLayoutInputOutputs, activation.TypeSwish)
		return nn.Dense(h, c(w2), c(b2), compute.DenseLayoutInputOutputs)
	}
}
