package flow

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// hostOptimizer is the fit's optimizer: global gradient-norm clipping, AdamW (PyTorch semantics,
// β = 0.9, 0.999, ε = 1e-8) and an EMA of the weights, applied on the host to every trainable
// variable of the velocity net in one fused pass per element (split over the cores for the wide
// layers). The compiled step only returns the loss and the gradients: in the graph the same update
// was some fifteen elementwise passes per variable through the Go backend's generic loops, the
// largest cost of a training step at P = 10⁵ and 40% of one at P = 805. The weights stay store
// variables (the graph reads them every step and the host updates their tensors in place); their
// moments and EMA live here and are written back to their usual variables (/adamw/..._m1, _m2,
// /ema/...) with the global step before every checkpoint and at the end, so checkpoints, resume
// and sampling see the layout of a GoMLX optimizer.
type hostOptimizer struct {
	store       *model.Store
	vars        []*model.Variable
	m1, m2, ema [][]float32
	wd, clip    float32
}

// gradNorm returns the global L2 norm of grads (the step's gradients of t.optVars, in order),
// starting the optimizer at the first step of a store.
func (t *trainer) gradNorm(grads []*tensors.Tensor) (float32, error) {
	if t.host == nil {
		h, err := newHostOptimizer(t.store, t.optVars, t.cfg.WeightDecay, t.cfg.Clip)
		if err != nil {
			return 0, err
		}
		t.host = h
	}
	if len(grads) != len(t.host.vars) {
		return 0, fmt.Errorf("flow: the training step returned %d gradients for %d variables", len(grads), len(t.host.vars))
	}
	var sq float64
	for i, g := range grads {
		if g.Shape().Size() != len(t.host.m1[i]) || g.DType() != dtypes.Float32 {
			return 0, fmt.Errorf("flow: gradient of %s has shape %s, want %d float32 values", t.host.vars[i].Path(), g.Shape(), len(t.host.m1[i]))
		}
		tensors.MustConstFlatData(g, func(v []float32) { sq += sumSquares(v) })
	}
	return float32(math.Sqrt(sq)), nil
}

// hostStep applies step s (0-based) with learning rate lr to every variable from its gradient,
// clipped to the global norm gnorm (gradNorm's), in place in the variables' tensors.
func (t *trainer) hostStep(s int, lr float64, gnorm float32, grads []*tensors.Tensor) error {
	h := t.host
	scale := float32(1)
	if h.clip > 0 {
		scale = min(1, h.clip/(gnorm+1e-6))
	}
	k := h.constants(s+1, float32(lr), scale, float32(t.cfg.emaAt(s)))
	for i, v := range h.vars {
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: reading %s: %w", v.Path(), err)
		}
		// Nested accessors give the flat arrays without copying them.
		tensors.MustConstFlatData(grads[i], func(g []float32) {
			err = tensors.MutableFlatData(val, func(w []float32) {
				if len(w) != len(g) {
					err = fmt.Errorf("flow: %s has %d values, its gradient %d", v.Path(), len(w), len(g))
					return
				}
				k.split(w, h.m1[i], h.m2[i], h.ema[i], g)
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// newHostOptimizer reads the moments and EMA of vars when the store holds them (a resumed fit)
// and starts them at zero otherwise.
func newHostOptimizer(store *model.Store, vars []*model.Variable, wd, clip float64) (*hostOptimizer, error) {
	if len(vars) == 0 {
		return nil, fmt.Errorf("flow: the training step has no trainable variables")
	}
	n := len(vars)
	h := &hostOptimizer{store: store, vars: vars, wd: float32(wd), clip: float32(clip),
		m1: make([][]float32, n), m2: make([][]float32, n), ema: make([][]float32, n)}
	for i, v := range vars {
		size := v.Shape().Size()
		for _, st := range []struct {
			dst  *[]float32
			path string
		}{{&h.m1[i], h.momentPath(i, "_m1")}, {&h.m2[i], h.momentPath(i, "_m2")}, {&h.ema[i], h.emaPath(i)}} {
			*st.dst = make([]float32, size)
			if saved := store.GetVariable(st.path); saved != nil {
				sv, err := saved.Value()
				if err != nil {
					return nil, fmt.Errorf("flow: reading %s: %w", st.path, err)
				}
				if sv.Shape().Size() != size || sv.DType() != dtypes.Float32 {
					return nil, fmt.Errorf("flow: %s has shape %s, want %d float32 values", st.path, sv.Shape(), size)
				}
				copy(*st.dst, tensors.MustCopyFlatData[float32](sv))
			}
		}
	}
	return h, nil
}

func (h *hostOptimizer) momentPath(i int, suffix string) string {
	return model.JoinPath("/adamw"+h.vars[i].Scope(), h.vars[i].Name()+suffix)
}

func (h *hostOptimizer) emaPath(i int) string {
	return model.JoinPath(emaScope+h.vars[i].Scope(), h.vars[i].Name())
}

// constants are AdamW's for optimizer step number n (1-based) with the gradients scaled by scale
// (folded into the moment coefficients), and the EMA's: e += (1−emaDecay)·(w − e).
func (h *hostOptimizer) constants(n int, lr, scale, emaDecay float32) adamEMA {
	c1 := 1 - float32(math.Pow(0.9, float64(n)))
	sc2 := float32(math.Sqrt(1 - math.Pow(0.999, float64(n))))
	return adamEMA{c1g: 0.1 * scale, c2g: 0.001 * scale * scale, decay: 1 - lr*h.wd, alpha: lr * sc2 / c1,
		epsHat: 1e-8 * sc2, rate: 1 - emaDecay}
}

// splitMin is the smallest update worth splitting over the cores.
const splitMin = 1 << 15

// split runs the update in contiguous chunks, one per core: each element is computed the same way
// whatever the split.
func (k adamEMA) split(w, m1, m2, e, g []float32) {
	update := func(lo, hi int) {
		done := k.update8(w[lo:hi], m1[lo:hi], m2[lo:hi], e[lo:hi], g[lo:hi])
		k.update(w[lo+done:hi], m1[lo+done:hi], m2[lo+done:hi], e[lo+done:hi], g[lo+done:hi])
	}
	size := len(g)
	workers := runtime.GOMAXPROCS(0)
	if size < splitMin || workers == 1 {
		update(0, size)
		return
	}
	chunk := (size + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < size; lo += chunk {
		wg.Go(func() { update(lo, min(lo+chunk, size)) })
	}
	wg.Wait()
}

// sumBlock is the block of sumSquares: squares summed in float32 within it, blocks in float64.
const sumBlock = 4096

// sumSquares is Σ v², the same bits whatever the cores: fixed blocks summed in eight float32 lanes
// (squares8, or its scalar twin), the lanes and blocks in float64, blocks in order.
func sumSquares(v []float32) float64 {
	blocks := (len(v) + sumBlock - 1) / sumBlock
	part := make([]float64, blocks)
	do := func(lo, hi int) {
		for b := lo; b < hi; b++ {
			part[b] = squares(v[b*sumBlock : min((b+1)*sumBlock, len(v))])
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(v) < splitMin || workers == 1 {
		do(0, blocks)
	} else {
		chunk := (blocks + workers - 1) / workers
		var wg sync.WaitGroup
		for lo := 0; lo < blocks; lo += chunk {
			wg.Go(func() { do(lo, min(lo+chunk, blocks)) })
		}
		wg.Wait()
	}
	var s float64
	for _, p := range part {
		s += p
	}
	return s
}

// squares is one block's Σ v²: eight float32 lanes (lane j sums elements j, j+8, …), then the
// lanes in float64 in order; squares8 (hostopt_simd.go) gives the same bits.
func squares(v []float32) float64 {
	var lanes [8]float32
	done := squares8(v, &lanes)
	for j := done; j < len(v); j++ {
		lanes[j%8] += float32(v[j] * v[j]) // no fused multiply-add: squares8's bits
	}
	var s float64
	for _, l := range lanes {
		s += float64(l)
	}
	return s
}

// sync writes the moments and EMA into their store variables (creating them the first time) and
// the number of steps done into the global step, for a checkpoint or the sampler. A nil optimizer
// (no step yet on this store) has nothing to write.
func (h *hostOptimizer) sync(steps int) error {
	if h == nil {
		return nil
	}
	store := h.store
	if err := optimizer.GetGlobalStepVar(store).SetValue(tensors.FromScalar(int64(steps))); err != nil {
		return fmt.Errorf("flow: setting the global step: %w", err)
	}
	for i, v := range h.vars {
		for _, st := range []struct {
			src  []float32
			path string
		}{{h.m1[i], h.momentPath(i, "_m1")}, {h.m2[i], h.momentPath(i, "_m2")}, {h.ema[i], h.emaPath(i)}} {
			val := tensors.FromFlatDataAndDimensions(st.src, v.Shape().Dimensions...)
			if v := store.GetVariable(st.path); v != nil {
				if err := v.SetValue(val); err != nil {
					return fmt.Errorf("flow: setting %s: %w", st.path, err)
				}
				continue
			}
			v, err := store.CreateVariable(st.path, val)
			if err != nil {
				return fmt.Errorf("flow: creating %s: %w", st.path, err)
			}
			v.SetTrainable(false)
		}
	}
	return nil
}

// adamEMA holds one step's constants of the fused AdamW + EMA update.
type adamEMA struct{ c1g, c2g, decay, alpha, epsHat, rate float32 }

// update is the fused update element by element. update8 (hostopt_simd.go) does the same float32
// operations in the same order eight at a time, so the two give identical bits.
func (k adamEMA) update(w, m1, m2, e, g []float32) {
	for j, gj := range g {
		a := 0.9*m1[j] + k.c1g*gj
		b := 0.999*m2[j] + k.c2g*gj*gj
		m1[j], m2[j] = a, b
		nv := w[j]*k.decay - a/(float32(math.Sqrt(float64(b)))+k.epsHat)*k.alpha
		w[j] = nv
		e[j] += (nv - e[j]) * k.rate
	}
}
