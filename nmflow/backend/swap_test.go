package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// TestTransposeSwap checks that the Go backend's float32 Transpose runs transpose32 (unless
// NMFLOW_GEMM=gomlx) and that every permutation of shapes with size-1 axes, mergeable axes and
// tiles cut at their edges puts each element where the definition of a transpose does.
func TestTransposeSwap(t *testing.T) {
	be := goBackend(t)
	checkSwapped(t, be, "nmflow transpose")
	for _, dims := range [][]int{{37, 53}, {1, 70}, {3, 1, 40, 17}, {2, 3, 4, 5}, {5, 33, 1}, {2, 17, 19, 3, 2}} {
		for _, perm := range permutations(len(dims)) {
			t.Run(fmt.Sprint(dims, perm), func(t *testing.T) {
				checkTranspose(t, be, dims, perm)
			})
		}
	}
}

func checkTranspose(t *testing.T, be compute.Backend, dims, perm []int) {
	x := iota32(dims)
	n := len(x)
	out := MustExecOnce(be, func(a *Node) *Node { return TransposeAllAxes(a, perm...) }, tensors.FromFlatDataAndDimensions(x, dims...))
	got := tensors.MustCopyFlatData[float32](out)
	// Output index (row-major over the permuted dims) → operand index.
	outDims := make([]int, len(dims))
	for i, p := range perm {
		outDims[i] = dims[p]
	}
	idx := make([]int, len(dims))
	for o := range n {
		rem := o
		for a := len(outDims) - 1; a >= 0; a-- {
			idx[perm[a]] = rem % outDims[a]
			rem /= outDims[a]
		}
		src := 0
		for a, d := range dims {
			src = src*d + idx[a]
		}
		if got[o] != x[src] {
			t.Fatalf("output %d = %v, want operand element %d", o, got[o], src)
		}
	}
}

// permutations lists every permutation of 0..n-1.
func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for at := 0; at <= len(p); at++ {
			q := append(append(append([]int{}, p[:at]...), n-1), p[at:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestSumSwap checks that the Go backend's float32 ReduceSum runs sum32 (unless NMFLOW_GEMM=gomlx)
// and that every subset of reduced axes of shapes with size-1 axes gives the sums, with the bits
// of a sum in operand order.
func TestSumSwap(t *testing.T) {
	be := goBackend(t)
	checkSwapped(t, be, "nmflow sum")
	r := rand.New(rand.NewPCG(3, 4))
	for _, dims := range [][]int{{37, 53}, {1, 70}, {3, 1, 40, 17}, {2, 3, 4, 5}, {5, 33, 1}, {2, 17, 19, 3, 2}} {
		n := 1
		for _, d := range dims {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		for mask := 1; mask < 1<<len(dims); mask++ {
			var axes []int
			for a := range dims {
				if mask&(1<<a) != 0 {
					axes = append(axes, a)
				}
			}
			t.Run(fmt.Sprint(dims, axes), func(t *testing.T) {
				out := MustExecOnce(be, func(a *Node) *Node { return ReduceSum(a, axes...) }, tensors.FromFlatDataAndDimensions(x, dims...))
				got := tensors.MustCopyFlatData[float32](out)
				want := make([]float32, len(got))
				idx := make([]int, len(dims))
				for i, v := range x {
					rem := i
					for a := len(dims) - 1; a >= 0; a-- {
						idx[a] = rem % dims[a]
						rem /= dims[a]
					}
					o := 0
					for a, d := range dims {
						if mask&(1<<a) == 0 {
							o = o*d + idx[a]
						}
					}
					want[o] += v
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("output %d = %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestSigmoidSwap checks that the Go backend's float32 Logistic runs sigmoid32 (unless
// NMFLOW_GEMM=gomlx), that it stays within 3 ulp of the float64
// sigmoid (or under 2·10⁻³⁸ where that is smaller still), keeps NaN, and that the vector lanes
// give the scalar's bits.
func TestSigmoidSwap(t *testing.T) {
	be := goBackend(t)
	checkSwapped(t, be, "nmflow sigmoid")
	r := rand.New(rand.NewPCG(5, 6))
	x := []float32{0, float32(math.Copysign(0, -1)), 1e-8, -1e-8, 87, -87, 88, -88, 100, -100, 1e30, -1e30,
		posInf, -posInf, float32(math.NaN())}
	for len(x) < 1<<17+3 { // past the split over cores, with a scalar tail
		x = append(x, float32(r.NormFloat64()*10))
	}
	out := MustExecOnce(be, Sigmoid, tensors.FromFlatDataAndDimensions(x, len(x)))
	got := tensors.MustCopyFlatData[float32](out)
	for i, v := range x {
		want := 1 / (1 + math.Exp(-float64(v)))
		if v != v {
			if got[i] == got[i] {
				t.Fatalf("σ(NaN) = %v", got[i])
			}
			continue
		}
		if d := math.Abs(float64(got[i]) - want); d > 3*ulp(float32(want)) && d > 2e-38 {
			t.Fatalf("σ(%v) = %v, want %v (off %g)", v, got[i], want, d)
		}
	}
	one := make([]float32, len(x))
	for i, v := range x {
		one[i] = sigmoid1(v)
	}
	vec := append([]float32(nil), x...)
	sigmoidRun(vec)
	for i := range vec {
		if math.Float32bits(vec[i]) != math.Float32bits(one[i]) {
			t.Fatalf("σ(%v): %v in the vector lanes, %v scalar", x[i], vec[i], one[i])
		}
	}
}

// ulp is the spacing of float32 numbers at v.
func ulp(v float32) float64 {
	return float64(math.Nextafter32(v, math.MaxFloat32) - v)
}

// posInf is +Inf as an input (logits or activations), never a tolerance.
var posInf = math.Float32frombits(0x7f800000)

// TestComputeVersion checks that go.mod requires the compute version whose executor table
// unary.go mirrors (a test binary records no dependency versions, so the swap trusts go.mod there).
func TestComputeVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/gomlx/compute " + computeChecked + "\n"
	if !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %q: check unary.go's mirror of the executor table against the new version and update computeChecked", strings.TrimSpace(want))
	}
}

// checkSwapped fails unless the backend's name lists the swap exactly when NMFLOW_GEMM is not gomlx.
func checkSwapped(t *testing.T, be compute.Backend, swap string) {
	t.Helper()
	name := describe("go", be)
	if ours := os.Getenv(EnvGEMM) != "gomlx"; ours != strings.Contains(name, swap) {
		t.Fatalf("backend %q: %s expected: %v", name, swap, ours)
	}
}

// TestSliceSwap checks that the Go backend's float32 Slice runs slice32 (unless
// NMFLOW_GEMM=gomlx) and that unit-stride slices of every axis, and strided ones (GoMLX's loop),
// give the elements a definition of slicing gives.
func TestSliceSwap(t *testing.T) {
	be := goBackend(t)
	checkSwapped(t, be, "nmflow slice")
	r := rand.New(rand.NewPCG(7, 8))
	for _, dims := range [][]int{{37}, {5, 53}, {3, 1, 40, 17}, {2, 3, 4, 5}, {64, 25450}} {
		x := iota32(dims)
		for trial := range 12 {
			starts, limits, strides := make([]int, len(dims)), make([]int, len(dims)), make([]int, len(dims))
			for a, d := range dims {
				starts[a], limits[a], strides[a] = 0, d, 1
				if r.IntN(2) == 0 { // cut this axis
					starts[a] = r.IntN(d)
					limits[a] = starts[a] + 1 + r.IntN(d-starts[a])
				}
				if trial%4 == 3 {
					strides[a] = 1 + r.IntN(2)
				}
			}
			t.Run(fmt.Sprint(dims, starts, limits, strides), func(t *testing.T) {
				out := MustExecOnce(be, func(a *Node) *Node { return Slice(a, sliceSpecs(starts, limits, strides)...) }, tensors.FromFlatDataAndDimensions(x, dims...))
				got := tensors.MustCopyFlatData[float32](out)
				// The elements at starts + k·strides below limits, in row-major order.
				var want []float32
				var walk func(a, off int)
				walk = func(a, off int) {
					if a == len(dims) {
						want = append(want, x[off])
						return
					}
					stride := 1
					for _, d := range dims[a+1:] {
						stride *= d
					}
					for i := starts[a]; i < limits[a]; i += strides[a] {
						walk(a+1, off+i*stride)
					}
				}
				walk(0, 0)
				if len(got) != len(want) {
					t.Fatalf("%d elements, want %d", len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}

func sliceSpecs(starts, limits, strides []int) []SliceAxisSpec {
	specs := make([]SliceAxisSpec, len(starts))
	for a := range starts {
		specs[a] = AxisRange(starts[a], limits[a]).Stride(strides[a])
	}
	return specs
}

// iota32 is 0, 1, 2, … over a tensor of the given dimensions, flat.
func iota32(dims []int) []float32 {
	n := 1
	for _, d := range dims {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	return x
}
