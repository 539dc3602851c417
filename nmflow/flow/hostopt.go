package flow

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// hostOptimizer applies AdamW and the EMA to the velocity net's two wide weights (input and
// output layers, each Width × P) on the host, in one fused pass per element split over the CPU
// cores. In the graph the same update is some fifteen separate elementwise passes over P-sized
// tensors, which made it the largest cost of a training step on the Go backend. The weights stay
// store variables (the graph reads them every step); their moments and EMA live here and are
// written back to their usual variables (/adamw/..._m1, _m2, /ema/...) before every checkpoint
// and at the end, so checkpoints, resume and sampling see the same layout as for the other
// variables.
type hostOptimizer struct {
	store       *model.Store
	vars        [2]*model.Variable
	m1, m2, ema [2][]float32
	dims        [2][]int
	wd          float32
}

// hostStep updates the wide weights of step s (0-based) from outs = [clip scale, dW_in, dW_out],
// in place in the weight variables' tensors (no copies of the P-sized arrays but the backend's).
func (t *trainer) hostStep(s int, lr float64, outs []*tensors.Tensor) error {
	if t.host == nil {
		h, err := newHostOptimizer(t.store, t.wideVars, t.cfg.WeightDecay)
		if err != nil {
			return err
		}
		t.host = h
	}
	h := t.host
	scale := tensors.MustCopyFlatData[float32](outs[0])[0]
	var ws [2]*tensors.Tensor
	for i, v := range h.vars {
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("flow: reading %s: %w", v.Path(), err)
		}
		ws[i] = val
	}
	var err error
	// Nested accessors give the four flat arrays without copying them.
	tensors.MustConstFlatData(outs[1], func(g0 []float32) {
		tensors.MustConstFlatData(outs[2], func(g1 []float32) {
			err = tensors.MutableFlatData(ws[0], func(w0 []float32) {
				err = tensors.MutableFlatData(ws[1], func(w1 []float32) {
					if len(g0) != len(w0) || len(g1) != len(w1) {
						err = fmt.Errorf("flow: wide gradients have %d and %d values, the weights %d and %d", len(g0), len(g1), len(w0), len(w1))
						return
					}
					h.step(s+1, float32(lr), scale, float32(t.cfg.emaAt(s)), [2][]float32{w0, w1}, [2][]float32{g0, g1})
				})
			})
		})
	})
	return err
}

// newHostOptimizer reads the moments and EMA of the wide weights when the store holds them (a
// resumed fit) and starts them at zero otherwise, as the in-graph optimizer does.
func newHostOptimizer(store *model.Store, vars [2]*model.Variable, wd float64) (*hostOptimizer, error) {
	h := &hostOptimizer{store: store, vars: vars, wd: float32(wd)}
	for i, v := range vars {
		if v == nil {
			return nil, fmt.Errorf("flow: the training step has no wide weight %d", i)
		}
		h.dims[i] = v.Shape().Dimensions
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

// step is AdamW (PyTorch semantics, as in trainer.update) for optimizer step number n (1-based)
// with the gradients scaled by scale, then e += (1−emaDecay)·(w − e).
func (h *hostOptimizer) step(n int, lr, scale, emaDecay float32, ws, grads [2][]float32) {
	c1 := 1 - float32(math.Pow(0.9, float64(n)))
	sc2 := float32(math.Sqrt(1 - math.Pow(0.999, float64(n))))
	alpha, epsHat := lr*sc2/c1, 1e-8*sc2
	decay, rate := 1-lr*h.wd, 1-emaDecay
	k := adamEMA{c1g: 0.1 * scale, c2g: 0.001 * scale * scale, decay: decay, alpha: alpha, epsHat: epsHat, rate: rate}
	update := func(w, m1, m2, e, g []float32) {
		done := k.update8(w, m1, m2, e, g)
		k.update(w[done:], m1[done:], m2[done:], e[done:], g[done:])
	}
	// Contiguous chunks, one per core: each element is computed the same way whatever the split.
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for i := range grads {
		size := len(grads[i])
		chunk := (size + workers - 1) / workers
		for lo := 0; lo < size; lo += chunk {
			hi := min(lo+chunk, size)
			wg.Add(1)
			go func() {
				defer wg.Done()
				update(ws[i][lo:hi], h.m1[i][lo:hi], h.m2[i][lo:hi], h.ema[i][lo:hi], grads[i][lo:hi])
			}()
		}
	}
	wg.Wait()
}

// sync writes the moments and EMA into their store variables (creating them the first time), for
// a checkpoint or the sampler. A nil optimizer (no wide weights, or no step yet) has nothing to write.
func (h *hostOptimizer) sync() error {
	if h == nil {
		return nil
	}
	store := h.store
	for i := range h.vars {
		for _, st := range []struct {
			src  []float32
			path string
		}{{h.m1[i], h.momentPath(i, "_m1")}, {h.m2[i], h.momentPath(i, "_m2")}, {h.ema[i], h.emaPath(i)}} {
			val := tensors.FromFlatDataAndDimensions(st.src, h.dims[i]...)
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
