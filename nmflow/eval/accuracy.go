package eval

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// Accuracy evaluates n nets whose parameters are the rows of the flat row-major [n,P] slice
// weights (P = net.Layout().Size()) on a whole split, and returns each net's accuracy and mean
// cross-entropy. shape is one example's shape as the net expects it (nil: net.Spec().Input); norm
// maps pixels to inputs (nil: pixels/255, no standardization).
//
// Nets run batchModels at a time (≤ 0 or > n: all n at once) through one [Evaluator]; the last
// group is padded with copies of its first net and the copies' results dropped, so exactly one
// graph is compiled whatever n is.
func Accuracy(be compute.Backend, net arch.Net, weights []float32, n int, split data.Split, shape []int, norm *feed.Norm, batchModels int) (acc, loss []float32, err error) {
	acc, loss, _, err = evaluate(be, net, weights, n, split, shape, norm, batchModels, false)
	return acc, loss, err
}

// Predict is [Accuracy] that also returns each net's predicted class for every example of the
// split (pred[i][k]: net i, example k), for functional comparisons such as [Agreement].
func Predict(be compute.Backend, net arch.Net, weights []float32, n int, split data.Split, shape []int, norm *feed.Norm, batchModels int) (acc, loss []float32, pred [][]int32, err error) {
	return evaluate(be, net, weights, n, split, shape, norm, batchModels, true)
}

func evaluate(be compute.Backend, net arch.Net, weights []float32, n int, split data.Split, shape []int, norm *feed.Norm, batchModels int, preds bool) (acc, loss []float32, pred [][]int32, err error) {
	p := net.Layout().Size()
	if n <= 0 || len(weights) != n*p {
		return nil, nil, nil, fmt.Errorf("eval: %d weights for %d nets of %d parameters (want n > 0 and n·P values)", len(weights), n, p)
	}
	if batchModels <= 0 || batchModels > n {
		batchModels = n
	}
	ev, err := newSplitEvaluator(be, net, split, shape, norm, batchModels, preds)
	if err != nil {
		return nil, nil, nil, err
	}
	acc, loss = make([]float32, n), make([]float32, n)
	if preds {
		pred = make([][]int32, n)
	}
	buf := make([]float32, batchModels*p)
	for start := 0; start < n; start += batchModels {
		k := min(batchModels, n-start)
		copy(buf, weights[start*p:(start+k)*p])
		for r := k; r < batchModels; r++ {
			copy(buf[r*p:(r+1)*p], buf[:p])
		}
		params := tensors.FromFlatDataAndDimensions(buf, batchModels, p)
		var l, a []float32
		var pr [][]int32
		if preds {
			l, a, pr, err = ev.RunPredict(params)
		} else {
			l, a, err = ev.Run(params)
		}
		params.MustFinalizeAll()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("eval: nets %d..%d: %w", start, start+k-1, err)
		}
		copy(loss[start:], l[:k])
		copy(acc[start:], a[:k])
		if preds {
			copy(pred[start:], pr[:k])
		}
	}
	return acc, loss, pred, nil
}

func prodInts(ds []int) int {
	n := 1
	for _, d := range ds {
		n *= d
	}
	return n
}
