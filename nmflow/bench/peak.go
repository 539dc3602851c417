package bench

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// Peak measures the backend's GEMM peak on this machine: the best GFLOP/s of an n×n·n×n float32
// matmul over five calls after a warm-up (compile). The roofline column divides each eval and
// sample case's achieved GFLOP/s by it; bench/pytorch/bench.py measures PyTorch's the same way.
func Peak(be compute.Backend, n int) (float64, error) {
	rng := rand.New(rand.NewPCG(1, 9))
	operand := func() *tensors.Tensor {
		v := make([]float32, n*n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, n, n)
	}
	a, b := operand(), operand()
	exec, err := NewExec(be, func(x, y *Node) *Node { return MatMul(x, y) })
	if err != nil {
		return 0, fmt.Errorf("bench: GEMM peak: %w", err)
	}
	defer exec.Finalize()
	call := func() (float64, error) {
		start := time.Now()
		out, err := exec.Exec(a, b)
		if err != nil {
			return 0, fmt.Errorf("bench: GEMM peak: %w", err)
		}
		// Reading one value waits for the product on asynchronous backends.
		tensors.MustConstFlatData(out[0], func([]float32) {})
		s := time.Since(start).Seconds()
		out[0].MustFinalizeAll()
		return s, nil
	}
	if _, err := call(); err != nil {
		return 0, err
	}
	best := math.Inf(1)
	for range 5 {
		s, err := call()
		if err != nil {
			return 0, err
		}
		best = min(best, s)
	}
	return 2 * math.Pow(float64(n), 3) / best / 1e9, nil
}

// Machine names the CPU model and the number of CPUs, e.g. "Intel(R) Xeon(R) ... × 2 CPUs".
func Machine() string {
	model := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s × %d CPUs", model, runtime.NumCPU())
}

// goBuild is the Go version and GOEXPERIMENT the binary was built with (the pure-Go backend's
// matmuls are 3–5× slower without simd).
func goBuild() string {
	s := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "GOEXPERIMENT" {
				s += " GOEXPERIMENT=" + kv.Value
			}
		}
	}
	return s
}
