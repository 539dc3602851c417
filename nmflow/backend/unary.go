package backend

import (
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/nmflow/nmflow/nmflow/internal/fastexp"
)

// The Go backend's Logistic (sigmoid) computes each float32 through a float64 math.Exp and a
// division: 270 µs for the 16,384 activations of one SiLU in a small fit step, 11% of the step.
// Its executor is a plain function in the backend's table of node executors, which carries no
// type to check, so the swap is made only for the compute version whose table was read
// (computeChecked: the binary's, or go.mod's in a test binary, which records no dependencies;
// TestComputeVersion checks go.mod); the float32 case then runs sigmoid32 over the buffer the
// backend's Identity executor hands back (the input itself when the graph no longer needs it,
// else a copy), and every other dtype the original executor.

// swapLogistic puts sigmoid32 behind the Go backend's float32 Logistic; it reports whether it did.
func swapLogistic() bool {
	orig, ident := nodeExecutors[compute.OpTypeLogistic], nodeExecutors[compute.OpTypeIdentity]
	if v := computeVersion(); (v != "" && v != computeChecked) || orig == nil || ident == nil {
		return false
	}
	nodeExecutors[compute.OpTypeLogistic] = func(be, node unsafe.Pointer, inputs []*buffer, owned []bool) (*buffer, error) {
		if len(inputs) != 1 || inputs[0].shape.DType != dtypes.Float32 {
			return orig(be, node, inputs, owned)
		}
		out, err := ident(be, node, inputs, owned)
		if err != nil {
			return nil, err
		}
		sigmoid32(out.flat.([]float32)[:out.shape.Size()])
		return out, nil
	}
	return true
}

// sigmoid32 replaces each v by 1/(1+e^−v) in place, to 3 ulp (under e^−87 ≈ 1.6·10⁻³⁸ for v <
// −87, where the float64 value is smaller still), split over the cores for large tensors.
func sigmoid32(v []float32) {
	const chunk = 1 << 15
	workers := runtime.GOMAXPROCS(0)
	if len(v) < 2*chunk || workers == 1 {
		sigmoidRun(v)
		return
	}
	part := (len(v) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(v); lo += part {
		wg.Go(func() { sigmoidRun(v[lo:min(lo+part, len(v))]) })
	}
	wg.Wait()
}

func sigmoidRun(v []float32) {
	done := sigmoid8(v)
	for i := done; i < len(v); i++ {
		v[i] = sigmoid1(v[i])
	}
}

// sigmoid1 is σ(x) from e = exp(−|x|) ≤ 1 (fastexp.Neg, clamped at fastexp.Min): 1/(1+e) for
// x ≥ 0, e/(1+e) below. sigmoid8 does the same float32 operations in the same order.
func sigmoid1(x float32) float32 {
	if x != x {
		return x
	}
	e := fastexp.Neg(max(-float32(math.Abs(float64(x))), fastexp.Min))
	if x >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
}
