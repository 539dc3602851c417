package bench

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
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

// QuietLimit is the most CPU other processes may use during a run, in cores on average, for the
// run to count as a measurement: PyTorch's OpenMP threads wait for each other at every operation,
// so when other jobs take cores its small operations slow down 10–100× (a --quick fit step: 5.6 ms
// on one thread, 0.3 s on two, on a 2-core VM shared with other jobs), and nmflow's lead with them.
const QuietLimit = 0.25

// loadMeter measures the CPU other processes use while it runs (Linux: /proc/stat minus this
// process's /proc/self/stat, both in clock ticks).
type loadMeter struct {
	machine, self int64
	start         time.Time
	ok            bool
}

func startLoad() loadMeter {
	m, s, ok := cpuTicks()
	return loadMeter{machine: m, self: s, start: time.Now(), ok: ok}
}

// others is the average number of cores other processes kept busy since startLoad; -1 unknown.
func (l loadMeter) others() float64 {
	m, s, ok := cpuTicks()
	wall := time.Since(l.start).Seconds()
	if !ok || !l.ok || wall <= 0 {
		return -1
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return max(float64((m-l.machine)-(s-l.self))/ticksPerSecond/wall, 0)
}

// cpuTicks returns the machine's busy ticks (user, nice, system, irq, softirq, steal) and this
// process's (utime + stime).
func cpuTicks() (machine, self int64, ok bool) {
	stat, err1 := os.ReadFile("/proc/stat")
	own, err2 := os.ReadFile("/proc/self/stat")
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		machine += v
	}
	// Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
	s := string(own)
	g := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(g) < 13 {
		return 0, 0, false
	}
	for _, x := range g[11:13] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		self += v
	}
	return machine, self, true
}
