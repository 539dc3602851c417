package eval

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/internal/fastexp"
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
	labels   []int32 // the split's labels, for the host-side scoring
	preds    bool    // RunPredict may be used (the zoo's evaluators do not keep predictions)
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

// newEvaluator is NewEvaluator; with preds it allows [Evaluator.RunPredict].
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
	ev := &Evaluator{im: im, norm: norm, chunk: chunk, models: models, preds: preds, Examples: im.N,
		labels: tensors.MustCopyFlatData[int32](im.Y)}
	build := evalGraph(net, inputShape, norm.On)
	ev.exec = MustNewExec(be, func(in []*Node) []*Node { ev.compiles++; return build(in) }).SetMaxCache(1)
	for start := 0; start < im.N; start += chunk {
		idx := make([]int32, chunk)
		for i := range idx {
			idx[i] = int32(start) // padding: any valid row, not scored
			if start+i < im.N {
				idx[i] = int32(start + i)
			}
		}
		ev.indices = append(ev.indices, tensors.FromFlatDataAndDimensions(idx, chunk))
	}
	return ev
}

// evalGraph returns, for params [R,P] and one chunk of example indices, the logits [R,B,C]. The
// loss and accuracy are scored on the host (score): on the pure-Go backend the dozen element-wise
// and reduction ops of a graph-side cross-entropy over [R,B,C] cost more than the matmuls (64
// nets of 784-32-10 on 10,000 examples: about half of the evaluation's time).
func evalGraph(net arch.Net, inputShape []int, standardize bool) func(in []*Node) []*Node {
	d := 1
	for _, v := range inputShape {
		d *= v
	}
	return func(in []*Node) []*Node {
		x, idx, scale, shift, params := in[0], in[1], in[2], in[3], in[4]
		bs := idx.Shape().Dimensions[0]
		px := Reshape(feed.Pixels(x, InsertAxes(idx, -1), scale, shift, d, standardize), append([]int{bs}, inputShape...)...)
		return []*Node{net.Forward(params, px)}
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
		out, err := ev.exec.Exec(ev.im.X, ev.indices[c], ev.norm.Scale, ev.norm.Shift, params)
		if err != nil {
			return nil, nil, fmt.Errorf("eval: evaluation failed: %w", err)
		}
		lo := c * ev.chunk
		valid := min(ev.chunk, ev.Examples-lo)
		classes := out[0].Shape().Dimensions[2]
		tensors.MustConstFlatData(out[0], func(logits []float32) {
			score(logits, ev.labels[lo:lo+valid], ev.models, ev.chunk, classes, sumLoss, sumOK, pred, lo)
		})
		out[0].MustFinalizeAll()
	}
	loss, acc = make([]float32, ev.models), make([]float32, ev.models)
	for r := range ev.models {
		loss[r] = float32(sumLoss[r] / float64(ev.Examples))
		acc[r] = float32(sumOK[r] / float64(ev.Examples))
	}
	return loss, acc, nil
}

// score adds to sumLoss[r] and sumOK[r] model r's cross-entropy and correct predictions on the
// chunk's first len(labels) examples (the rest is padding), from logits [R, chunk, C]; with pred
// it also records the predicted classes from pred[r][lo]. Models are split over GOMAXPROCS
// goroutines; each model's sums are in example order, so results do not depend on the split.
func score(logits []float32, labels []int32, models, chunk, classes int, sumLoss, sumOK []float64, pred [][]int32, lo int) {
	one := func(r int) {
		clearUpper()
		var loss, ok float64
		// Eight examples at a time where the build has AVX2 (score8), the rest one by one.
		var m8, s8 [8]float32
		var b8 [8]int32
		done := 0
		for ; done+8 <= len(labels); done += 8 {
			base := (r*chunk + done) * classes
			if !score8(logits[base:base+8*classes], classes, &m8, &s8, &b8) {
				break
			}
			for k, y := range labels[done : done+8] {
				if y < 0 || int(y) >= classes {
					loss = math.NaN() // a label the net has no class for
					continue
				}
				loss += float64(m8[k]) + math.Log(float64(s8[k])) - float64(logits[base+k*classes+int(y)])
				if b8[k] == y {
					ok++
				}
				if pred != nil {
					pred[r][lo+done+k] = b8[k]
				}
			}
		}
		for i := done; i < len(labels); i++ {
			y := labels[i]
			z := logits[(r*chunk+i)*classes : (r*chunk+i+1)*classes]
			best := 0
			for c, v := range z {
				if v > z[best] {
					best = c
				}
			}
			m := z[best]
			s := sumExp(z, m) // NaN and ±Inf logits give a NaN loss
			if y < 0 || int(y) >= classes {
				loss = math.NaN() // a label the net has no class for
				continue
			}
			loss += float64(m) + math.Log(s) - float64(z[y])
			if int32(best) == y {
				ok++
			}
			if pred != nil {
				pred[r][lo+i] = int32(best)
			}
		}
		sumLoss[r] += loss
		sumOK[r] += ok
	}
	workers := min(runtime.GOMAXPROCS(0), models)
	if workers <= 1 || models*len(labels)*classes < 1<<16 {
		for r := range models {
			one(r)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := w; r < models; r += workers {
				one(r)
			}
		})
	}
	wg.Wait()
}

// sumExp is Σ exp(v − m) over z for m ≥ every v (NaN if any v − m is NaN), each term to 2 ulp
// (fastexp.Neg: math.Exp took 18 ns a call, half of the host scoring). Terms under e^−87 count 0.
func sumExp(z []float32, m float32) float64 {
	var s float64
	for _, v := range z {
		x := v - m
		if !(x >= fastexp.Min) {
			if x != x {
				return math.NaN()
			}
			continue
		}
		s += float64(fastexp.Neg(x))
	}
	return s
}
