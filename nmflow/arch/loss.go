package arch

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// LogSumExp is log Σ_c exp(x_c) over the last axis of x [..., C], with the gradient softmax(x).
//
// It is computed as max(x) − log max_c softmax(x)_c (exact: the largest probability is
// 1/Σ exp(x_c − max x) ≥ 1/C, so nothing underflows) with the gradient attached by hand, instead
// of through the Exp op: on the pure-Go backend built with GOEXPERIMENT=simd, Exp runs math.Exp's
// SSE assembly while the AVX-512 matmul kernels have left the upper register halves dirty, and
// each element then costs 0.3–1.4 µs instead of about 40 ns (docs/bench.md). The backend's fused
// Softmax has its own float32 exp and is immune.
func LogSumExp(x *Node) *Node {
	p := StopGradient(Softmax(x, -1))
	lse := Sub(ReduceMax(x, -1), Log(ReduceMax(p, -1)))
	// p·x − stop(p·x) is 0 with the gradient p: the value is lse's, the gradient softmax's.
	lin := ReduceSum(Mul(p, x), -1)
	return Add(StopGradient(lse), Sub(lin, StopGradient(lin)))
}

// CrossEntropy is −log softmax(logits)_y for logits [..., C] and int32 labels y [...] (leading
// axes of size 1 broadcast), with the gradient softmax − onehot(y). See LogSumExp.
func CrossEntropy(logits, y *Node) *Node {
	c := logits.Shape().Dimensions[logits.Rank()-1]
	picked := ReduceSum(Mul(OneHot(y, c, logits.DType()), logits), -1)
	return Sub(LogSumExp(logits), picked)
}

// Correct is 1 where argmax(logits) equals the label y and 0 elsewhere (float32, shape of y
// broadcast with logits' leading axes).
func Correct(logits, y *Node) *Node {
	return ConvertDType(Equal(ArgMax(logits, -1, dtypes.Int32), y), dtypes.Float32)
}
