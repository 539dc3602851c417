package eval

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// PathCurve is the base models' test loss and accuracy along sampling paths (the paper's
// Figure 2): at each time of an ODE solution, how well the N nets given by the state classify.
type PathCurve struct {
	// Times[k] is the time of snapshot k.
	Times []float64 `json:"times"`
	// Loss[k] and Acc[k] summarize the N nets' mean cross-entropy and accuracy at Times[k] (a
	// diverged net's NaN/Inf loss is counted in NonFinite, not in the mean).
	Loss []Summary `json:"loss"`
	Acc  []Summary `json:"acc"`
	// NetLoss[k][i] and NetAcc[k][i] are net i's values at Times[k].
	NetLoss [][]float32 `json:"net_loss"`
	NetAcc  [][]float32 `json:"net_acc"`
}

// PathLoss evaluates every snapshot of a sampling path (flow.Samples.Path: each a flat row-major
// [N,P] matrix of raw weights, all with the same N) on split, as [Accuracy] does for one set of
// nets, and summarizes each time over the N nets. times gives each snapshot's time
// (flow.Samples.Times); nil means evenly spaced on [0, 1]. shape and norm are as for Accuracy.
//
// One [Evaluator] serves the whole path, so one graph is compiled: the T·N nets run batchModels
// at a time in snapshot order (≤ 0: N, one snapshot per run; a group may span two snapshots), and
// the last group is padded with copies of its first net.
func PathLoss(be compute.Backend, net arch.Net, snapshots [][]float32, times []float64, split data.Split, shape []int, norm *feed.Norm, batchModels int) (*PathCurve, error) {
	p := net.Layout().Size()
	if len(snapshots) == 0 {
		return nil, fmt.Errorf("eval: no path snapshots to evaluate")
	}
	if times != nil && len(times) != len(snapshots) {
		return nil, fmt.Errorf("eval: %d times for %d path snapshots", len(times), len(snapshots))
	}
	size := len(snapshots[0])
	if size == 0 || size%p != 0 {
		return nil, fmt.Errorf("eval: path snapshot 0 has %d values, not a positive multiple of the net's %d parameters", size, p)
	}
	n := size / p
	for k, s := range snapshots {
		if len(s) != size {
			return nil, fmt.Errorf("eval: path snapshot %d has %d values, snapshot 0 has %d (every snapshot holds the same %d nets)", k, len(s), size, n)
		}
	}
	if times == nil {
		times = make([]float64, len(snapshots))
		for k := range times {
			if len(times) > 1 {
				times[k] = float64(k) / float64(len(times)-1)
			}
		}
	}
	if batchModels <= 0 {
		batchModels = n
	}
	total := len(snapshots) * n
	batchModels = min(batchModels, total)
	ev, err := newSplitEvaluator(be, net, split, shape, norm, batchModels, false)
	if err != nil {
		return nil, err
	}

	c := &PathCurve{Times: append([]float64(nil), times...)}
	for range snapshots {
		c.NetLoss = append(c.NetLoss, make([]float32, n))
		c.NetAcc = append(c.NetAcc, make([]float32, n))
	}
	buf := make([]float32, batchModels*p)
	for start := 0; start < total; start += batchModels {
		k := min(batchModels, total-start)
		for j := 0; j < k; j++ {
			g := start + j
			copy(buf[j*p:(j+1)*p], snapshots[g/n][(g%n)*p:(g%n+1)*p])
		}
		for j := k; j < batchModels; j++ {
			copy(buf[j*p:(j+1)*p], buf[:p])
		}
		params := tensors.FromFlatDataAndDimensions(buf, batchModels, p)
		loss, acc, err := ev.Run(params)
		params.MustFinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("eval: path nets %d..%d: %w", start, start+k-1, err)
		}
		for j := 0; j < k; j++ {
			g := start + j
			c.NetLoss[g/n][g%n], c.NetAcc[g/n][g%n] = loss[j], acc[j]
		}
	}
	for k := range snapshots {
		c.Loss = append(c.Loss, Summarize(c.NetLoss[k]))
		c.Acc = append(c.Acc, Summarize(c.NetAcc[k]))
	}
	return c, nil
}

// Means returns the Mean of each summary (e.g. PathCurve.Loss, for plotting).
func Means(s []Summary) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = x.Mean
	}
	return out
}

// Stds returns the Std of each summary.
func Stds(s []Summary) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = x.Std
	}
	return out
}

// newSplitEvaluator checks a split against net and prepares an Evaluator for `models` nets at a
// time, with Accuracy's conventions for shape (nil: the net's input) and norm (nil: pixels/255).
func newSplitEvaluator(be compute.Backend, net arch.Net, split data.Split, shape []int, norm *feed.Norm, models int, preds bool) (*Evaluator, error) {
	if shape == nil {
		shape = net.Spec().Input
	}
	d := prodInts(shape)
	if want := net.Spec().InputSize(); d != want {
		return nil, fmt.Errorf("eval: example shape %v has %d values, the net takes %d", shape, d, want)
	}
	classes := net.Spec().Classes
	for i, l := range split.Labels {
		if l < 0 || l >= classes {
			return nil, fmt.Errorf("eval: label %d of example %d is outside [0, %d)", l, i, classes)
		}
	}
	if split.N == 0 {
		return nil, fmt.Errorf("eval: the split has no examples")
	}
	im, norm, err := feed.Prepare(split, d, norm)
	if err != nil {
		return nil, err
	}
	return newEvaluator(be, net, im, norm, shape, models, preds), nil
}
