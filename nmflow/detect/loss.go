package detect

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.

	"github.com/nmflow/nmflow/nmflow/arch"
)

// DCE is the disagreement cross-entropy of METHODS.md §8 for logits [..., C] and f's labels ŷ
// [...] (int32): −(1/(C−1))·Σ_{c≠ŷ} logits_c + logsumexp(logits). It is the cross-entropy
// against the uniform distribution over the classes other than ŷ, so minimizing it moves g
// away from f's prediction without favouring any particular other class.
func DCE(logits, yhat *Node) *Node {
	c := logits.Shape().Dimensions[logits.Rank()-1]
	onehot := OneHot(yhat, c, logits.DType())
	others := Sub(ReduceSum(logits, -1), ReduceSum(Mul(logits, onehot), -1))
	return Add(DivScalar(Neg(others), float64(c-1)), arch.LogSumExp(logits))
}

// CDCLoss is ℓ_cdc of METHODS.md §8 for M classifiers at once:
//
//	ℓ = mean over the P batch of CE(g(x), f(x)) + λ · mean over the Q points kept of DCE(g(x), f(x))
//
// logitsP [M,B,C] with f's labels yP [M,B]; logitsQ [M,Q,C] with f's labels yQ [M,Q], mask
// [M,Q] (1 for Q points still in Q, 0 for refined-away or padding) and lambda [M]. A classifier
// with no Q point left gets the P term alone. Returns [M].
func CDCLoss(logitsP, yP, logitsQ, yQ, mask, lambda *Node) *Node {
	ce := ReduceMean(arch.CrossEntropy(logitsP, yP), -1)
	mask = ConvertDType(mask, logitsQ.DType())
	n := Max(ReduceSum(mask, -1), OnesLike(lambda))
	dce := Div(ReduceSum(Mul(DCE(logitsQ, yQ), mask), -1), n)
	return Add(ce, Mul(lambda, dce))
}

// int32Labels converts host labels for graph inputs.
func int32Labels(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
