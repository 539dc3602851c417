package flow

import (
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// The minibatch of a training step, assembled on the host from (Config.Seed, step) alone, one
// step ahead of the compiled step (prefetch): the runs, the times t (time skew, path.go), the
// source draws and their coupling (coupling.go), and the points x_t with their regression
// targets on the method's path (path.go, loss.go).

// scratch is the host memory one prefetching goroutine reuses for every batch.
type scratch struct {
	x0, x1, tt, eps []float32
	anchors         [][]float32
	rerooted        [][]float32 // re-rooted intermediate anchors of the current row (see reroot)
	runs            []int       // the run of each example
}

func (t *trainer) newScratch() *scratch {
	b, p := t.cfg.BatchSize, t.p
	return &scratch{x0: make([]float32, b*p), x1: make([]float32, b*p), tt: make([]float32, b), eps: make([]float32, b*p),
		anchors: make([][]float32, len(t.mid)+2), rerooted: make([][]float32, len(t.mid)), runs: make([]int, b)}
}

// batch fills x_t and the regression target ([B,P]) and sc.tt for step s, deterministically from
// (seed, s): runs, times, source draws and noise.
func (t *trainer) batch(s int, sc *scratch, xt, target []float32) error {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(s)+1))
	b, p := t.cfg.BatchSize, t.p
	x0, x1, tt, eps := sc.x0, sc.x1, sc.tt, sc.eps
	runs := sc.runs
	for i := 0; i < b; i++ {
		r := rng.IntN(t.runs)
		runs[i] = r
		copy(x1[i*p:(i+1)*p], t.x1s[r*p:(r+1)*p])
		if t.cfg.Coupling == CouplingTrajectory {
			copy(x0[i*p:(i+1)*p], t.x0s[r*p:(r+1)*p])
		}
		tt[i] = float32(skewTime(rng.Float64(), t.cfg.TimeSkew))
	}
	if t.cfg.Coupling != CouplingTrajectory {
		if err := t.src.Sample(rng, x0); err != nil {
			return err
		}
	}
	if t.cfg.Coupling == CouplingOT {
		if err := otPair(x0, x1, b, p); err != nil {
			return err
		}
	}
	if t.cfg.Sigma > 0 {
		for i := range eps {
			eps[i] = float32(rng.NormFloat64())
		}
	}
	if t.cfg.Method == MethodCFM {
		linearPath(t.cfg.Predict, t.cfg.Sigma, x0, x1, tt, eps, xt, target)
		return nil
	}
	for i, r := range runs {
		row := func(v []float32) []float32 { return v[i*p : (i+1)*p] }
		t.reroot(sc, r, row(x0), row(x1))
		if t.cfg.Method == MethodJKO {
			// One consecutive pair (x_j, x_{j+1}) per row, picked by the row's uniform draw: ∇V
			// is fitted at x_j, where the explicit sampler evaluates it (METHODS.md §4).
			pairs := len(sc.anchors) - 1
			u := float64(tt[i]) * float64(pairs)
			j := min(int(u), pairs-1)
			copy(row(xt), sc.anchors[j])
			copy(row(target), sc.anchors[j+1])
			if n := t.cfg.JKO.SubSteps; n > 1 {
				// Sub-step k of n starts at x_j + (k/n)·(x_{j+1} − x_j) on the chord, k from the
				// same draw; the pair is shifted along the chord, so the loss is unchanged.
				k := min(int((u-float64(j))*float64(n)), n-1)
				shift(row(xt), row(target), float32(k)/float32(n))
			}
			tt[i] = float32(t.m.AnchorTimes[j+1])
			continue
		}
		if err := t.path.fill(sc.anchors, float64(tt[i]), row(eps), row(xt), row(target)); err != nil {
			return err
		}
		if t.cfg.Predict == PredictTarget {
			endpointTarget(row(xt), row(target), tt[i])
		}
	}
	return nil
}

// stepInput is the host-side input of one training step: x_t, the regression target and t.
type stepInput struct {
	xt, target, t *tensors.Tensor
	cond          []*tensors.Tensor // conditional fits: support sets, selection (condBatch)
	err           error
}

// prefetch prepares the inputs of steps from, from+1, … in a goroutine, one step ahead of the
// compiled step, so that drawing sources and building paths overlaps with the backend's work.
// Each batch depends only on (seed, step), so the result is the same as without prefetching.
func (t *trainer) prefetch(from int, stop <-chan struct{}) <-chan stepInput {
	ch := make(chan stepInput, 1)
	go func() {
		defer close(ch)
		b, p := t.cfg.BatchSize, t.p
		sc := t.newScratch()
		for s := from; s < t.cfg.Steps; s++ {
			in := stepInput{xt: tensors.FromShape(shapes.Make(dtypes.Float32, b, p)), target: tensors.FromShape(shapes.Make(dtypes.Float32, b, p))}
			tensors.MutableFlatData(in.xt, func(xv []float32) {
				tensors.MutableFlatData(in.target, func(tv []float32) { in.err = t.batch(s, sc, xv, tv) })
			})
			in.t = tensors.FromFlatDataAndDimensions(append([]float32(nil), sc.tt...), b)
			if in.err == nil && t.cond != nil {
				in.cond, in.err = t.condBatch(s, sc.runs)
			}
			select {
			case ch <- in:
			case <-stop:
				return
			}
			if in.err != nil {
				return
			}
		}
	}()
	return ch
}

// shift moves the pair (a, b) by s·(b − a) along its chord, in place.
func shift(a, b []float32, s float32) {
	for i := range a {
		d := s * (b[i] - a[i])
		a[i] += d
		b[i] += d
	}
}
