package backend

import (
	"fmt"
	"os"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/compute/dtypes"
	"github.com/nmflow/nmflow/nmflow/gemm"
	"golang.org/x/sys/cpu"
)

// The pure-Go backend's float32 matmul (github.com/gomlx/compute v0.1.2, simd:avx2 on x86 without
// AVX-512) reaches 31 GFLOP/s on a 2-core AMD EPYC where OpenBLAS reaches 152 and nmflow/gemm 130
// (1024³, `nmflow bench`). compute keeps its DotGeneral registry in an internal package, so the
// workaround swaps the function in the registered float32 entries: the registry is reached by
// linkname, its types mirrored below, and the swap refused unless the entry's function has the
// expected signature. NMFLOW_GEMM=gomlx keeps GoMLX's own kernel (for comparisons).

// EnvGEMM selects the pure-Go backend's float32 matmul: "nmflow", "gomlx", or unset: nmflow's
// on CPUs with AVX2 and FMA, except where GoMLX runs its AVX-512 kernel (AVX-512 and a
// GOEXPERIMENT=simd build: 127 GFLOP/s on a 2-core Xeon, where nmflow's 8-wide kernel was not
// measured).
const EnvGEMM = "NMFLOW_GEMM"

// dotKey and dotRegistration mirror dot.ImplementationKey and dot.ImplementationRegistration.
type dotKey struct {
	layout            int
	inDType, outDType int32
}

type dotRegistration struct {
	name     string
	implFn   any
	priority int
}

//go:linkname dotRegistry github.com/gomlx/compute/internal/gobackend/dot.registeredImplementations
var dotRegistry map[dotKey]*dotRegistration

// dotFn has the memory layout and calling convention of dot.DotGeneralExecFn[float32, float32]
// (*gobackend.Backend is a pointer, dot.Layout an int).
type dotFn func(be unsafe.Pointer, layout int, lhs, rhs []float32, batch, m, n, k int, out []float32)

const (
	layoutNonTransposed = 0 // lhs [B, M, K], rhs [B, K, N]
	layoutTransposed    = 1 // lhs [B, M, K], rhs [B, N, K]
)

var (
	gemmOnce   sync.Once
	gemmStatus string // what Info.Name appends: which matmul runs
	gemmOrig   [2]dotFn
)

// installGEMM puts nmflow/gemm behind the pure-Go backend's float32 DotGeneral and makes the
// other kernel swaps (swap.go: Transpose, ReduceSum, Slice, Logistic), once per process, and says which
// run. NMFLOW_GEMM=gomlx keeps all of GoMLX's.
func installGEMM() string {
	gemmOnce.Do(func() {
		gemmStatus = swapGEMM()
		if os.Getenv(EnvGEMM) != "gomlx" {
			gemmStatus += installSwaps()
		}
	})
	return gemmStatus
}

func swapGEMM() string {
	switch v := os.Getenv(EnvGEMM); v {
	case "nmflow":
	case "gomlx":
		return "GoMLX GEMM (" + EnvGEMM + "=gomlx)"
	default:
		if v != "" {
			fmt.Fprintf(os.Stderr, "nmflow: %s=%q is not one of nmflow, gomlx; choosing by CPU\n", EnvGEMM, v)
		}
		if hasAVX512() && simdBuild {
			return "GoMLX GEMM (AVX-512)"
		}
	}
	if !gemm.Fast() {
		return "GoMLX GEMM (no AVX2/FMA here)"
	}
	f32 := int32(dtypes.Float32)
	for _, layout := range []int{layoutNonTransposed, layoutTransposed} {
		reg := dotRegistry[dotKey{layout, f32, f32}]
		if reg == nil || !isDotFn(reg.implFn) {
			return "GoMLX GEMM (its registry is not the one nmflow knows)"
		}
	}
	for _, layout := range []int{layoutNonTransposed, layoutTransposed} {
		reg := dotRegistry[dotKey{layout, f32, f32}]
		// A func value in an interface is its data word; keep GoMLX's, put ours in its place.
		words := (*[2]unsafe.Pointer)(unsafe.Pointer(&reg.implFn))
		gemmOrig[layout] = *(*dotFn)(unsafe.Pointer(&words[1]))
		ours := dotFn(gemmDot)
		words[1] = *(*unsafe.Pointer)(unsafe.Pointer(&ours))
		reg.name = "nmflow/gemm"
	}
	return "nmflow GEMM (AVX2)"
}

// hasAVX512 is GoMLX's condition for its AVX-512 matmul (archsimd.X86.AVX512: F, CD, BW, DQ, VL).
func hasAVX512() bool {
	x := cpu.X86
	return x.HasAVX512F && x.HasAVX512CD && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL
}

// isDotFn checks that f is a func(*Backend, Layout, []float32, []float32, int, int, int, int,
// []float32), the signature dotFn mirrors.
func isDotFn(f any) bool {
	t := reflect.TypeOf(f)
	if t == nil || t.Kind() != reflect.Func || t.NumIn() != 9 || t.NumOut() != 0 {
		return false
	}
	want := []reflect.Kind{reflect.Pointer, reflect.Int, reflect.Slice, reflect.Slice, reflect.Int, reflect.Int, reflect.Int, reflect.Int, reflect.Slice}
	for i, k := range want {
		in := t.In(i)
		if in.Kind() != k || (k == reflect.Slice && in.Elem().Kind() != reflect.Float32) {
			return false
		}
	}
	return true
}

// gemmDot is the DotGeneral body: products under 6 rows or 32 KFLOP stay with GoMLX's small
// kernels, which need no 6-row tile.
func gemmDot(be unsafe.Pointer, layout int, lhs, rhs []float32, batch, m, n, k int, out []float32) {
	if m < 6 || 2*m*n*k < 1<<15 {
		gemmOrig[layout](be, layout, lhs, rhs, batch, m, n, k, out)
		return
	}
	bT, ldb := layout == layoutTransposed, n
	if bT {
		ldb = k
	}
	gemm.MulBatch(batch, m, n, k, lhs, rhs, bT, out, k, ldb, n, m*k, k*n, m*n)
}
