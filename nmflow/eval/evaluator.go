package eval

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// Evaluator computes the mean cross-entropy and accuracy of R models (params [R,P]) on a whole
// split, in fixed-size chunks of examples shared by all models, with one compiled graph: the last
// chunk is padded and masked, so no call ever recompiles.
type Evaluator struct {
	exec     *Exec
	im       *feed.Images
	norm     *feed.Norm
	chunk    int
	models   int
	indices  []*tensors.Tensor
	masks    []*tensors.Tensor
	preds    bool // the graph also returns each model's predicted class per example
	compiles int
	Examples int
}

// NewEvaluator prepares evaluation of `models` nets at a time on im; inputShape is one example's
// shape as the net expects it.
func NewEvaluator(be compute.Backend, net arch.Net, im *feed.Images, norm *feed.Norm, inputShape []int, models int) *Evaluator {
	return newEvaluator(be, net, im, norm, inputShape, models, false)
}

// Compilations counts how often the evaluation graph was built: 1 after any number of Runs
// (the Exec's cache holds one graph, so a second shape would fail Run instead).
func (ev *Evaluator) Compilations() int { return ev.compiles }

// newEvaluator is NewEvaluator; with preds the graph also returns the predicted classes, which
// [Evaluator.RunPredict] needs (a separate graph, so the zoo's per-checkpoint evaluation does not
// pay for them).
func newEvaluator(be compute.Backend, net arch.Net, im *feed.Images, norm *feed.Norm, inputShape []int, models int, preds bool) *Evaluator {
	// Chunk so the largest activation, about chunk·R·(widest layer) floats, stays near 32M floats.
	spec := net.Spec()
	h, w := 1, 1
	if spec.Kind == "cnn" {
		h, w = inputShape[1], inputShape[2]
	}
	widest, layer := 1, 0
	for _, s := range net.Layout().Segments {
		if s.Kind != arch.Bias {
			continue
		}
		act := s.Shape[0]
		if layer < len(spec.Channels) {
			act *= (h >> layer) * (w >> layer)
		}
		widest = max(widest, act)
		layer++
	}
	chunk := min(max(32<<20/(models*widest), 16), 2000, im.N)
	ev := &Evaluator{im: im, norm: norm, chunk: chunk, models: models, preds: preds, Examples: im.N}
	build := evalGraph(net, inputShape, norm.On, preds)
	ev.exec = MustNewExec(be, func(in []*Node) []*Node { ev.compiles++; return build(in) }).SetMaxCache(1)
	for start := 0; start < im.N; start += chunk {
		idx := make([]int32, chunk)
		mask := make([]float32, chunk)
		for i := range idx {
			if start+i < im.N {
				idx[i], mask[i] = int32(start+i), 1
			} else {
				idx[i] = int32(start) // padding: any valid row, masked out
			}
		}
		ev.indices = append(ev.indices, tensors.FromFlatDataAndDimensions(idx, chunk))
		ev.masks = append(ev.masks, tensors.FromFlatDataAndDimensions(mask, chunk))
	}
	return ev
}

// evalGraph returns, for params [R,P] and one chunk, the summed cross-entropy [R] and the number
// of correct predictions [R]; mask [B] is 1 for real examples and 0 for padding. With preds it
// also returns the predicted classes [R,B] (int32).
func evalGraph(net arch.Net, inputShape []int, standardize, preds bool) func(in []*Node) []*Node {
	d := 1
	for _, v := range inputShape {
		d *= v
	}
	return func(in []*Node) []*Node {
		x, y, idx, scale, shift, params, mask := in[0], in[1], in[2], in[3], in[4], in[5], in[6]
		bs := idx.Shape().Dimensions[0]
		idx2 := InsertAxes(idx, -1)
		px := Reshape(feed.Pixels(x, idx2, scale, shift, d, standardize), append([]int{bs}, inputShape...)...)
		logits := net.Forward(params, px)                      // [R,B,C]
		labels := Gather(y, idx2)                              // [B]
		ce := arch.CrossEntropy(logits, InsertAxes(labels, 0)) // [R,B]
		maskR := InsertAxes(mask, 0)
		loss := ReduceSum(Mul(ce, maskR), 1)
		correct := arch.Correct(logits, InsertAxes(labels, 0))
		out := []*Node{loss, ReduceSum(Mul(correct, maskR), 1)}
		if preds {
			out = append(out, ArgMax(logits, -1, dtypes.Int32))
		}
		return out
	}
}

// Run returns each model's mean loss and accuracy; params must be [models, P].
func (ev *Evaluator) Run(params *tensors.Tensor) (loss, acc []float32, err error) {
	if ev.preds {
		loss, acc, _, err = ev.RunPredict(params)
		return loss, acc, err
	}
	return ev.run(params, nil)
}

// RunPredict is Run that also returns each model's predicted class for every example
// (pred[r][i], i in split order). It needs an evaluator made with predictions (the split
// evaluators of [Predict]); one from NewEvaluator returns an error.
func (ev *Evaluator) RunPredict(params *tensors.Tensor) (loss, acc []float32, pred [][]int32, err error) {
	if !ev.preds {
		return nil, nil, nil, fmt.Errorf("eval: this evaluator was built without predictions")
	}
	pred = make([][]int32, ev.models)
	for r := range pred {
		pred[r] = make([]int32, ev.Examples)
	}
	loss, acc, err = ev.run(params, pred)
	return loss, acc, pred, err
}

func (ev *Evaluator) run(params *tensors.Tensor, pred [][]int32) (loss, acc []float32, err error) {
	if d := params.Shape().Dimensions; len(d) != 2 || d[0] != ev.models {
		return nil, nil, fmt.Errorf("eval: params must be [%d, P], got %s", ev.models, params.Shape())
	}
	sumLoss := make([]float64, ev.models)
	sumOK := make([]float64, ev.models)
	for c := range ev.indices {
		out, err := ev.exec.Exec(ev.im.X, ev.im.Y, ev.indices[c], ev.norm.Scale, ev.norm.Shift, params, ev.masks[c])
		if err != nil {
			return nil, nil, fmt.Errorf("eval: evaluation failed: %w", err)
		}
		l, ok := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		for r := range ev.models {
			sumLoss[r] += float64(l[r])
			sumOK[r] += float64(ok[r])
		}
		if pred != nil {
			p := tensors.MustCopyFlatData[int32](out[2]) // [models, chunk]
			lo := c * ev.chunk
			valid := min(ev.chunk, ev.Examples-lo)
			for r := range ev.models {
				copy(pred[r][lo:lo+valid], p[r*ev.chunk:r*ev.chunk+valid])
			}
		}
		for _, t := range out {
			t.MustFinalizeAll()
		}
	}
	loss, acc = make([]float32, ev.models), make([]float32, ev.models)
	for r := range ev.models {
		loss[r] = float32(sumLoss[r] / float64(ev.Examples))
		acc[r] = float32(sumOK[r] / float64(ev.Examples))
	}
	return loss, acc, nil
}
