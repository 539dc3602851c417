package backend

import (
	"github.com/gomlx/compute"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkBroadcastAdd is the minimal reproduction of where the pure-Go backend spends what
// the matmul no longer does in eval: adding a per-feature bias [R,F,1] to activations [R,F,B]
// walks a generic index iterator, several times slower per element than an add of two
// same-shaped tensors. Compare the two sub-benchmarks' ns/op (same element count).
func BenchmarkBroadcastAdd(b *testing.B) {
	be := goBackend(b)
	const r, f, n = 64, 32, 2000
	x := tensors.FromFlatDataAndDimensions(make([]float32, r*f*n), r, f, n)
	full := tensors.FromFlatDataAndDimensions(make([]float32, r*f*n), r, f, n)
	bias := tensors.FromFlatDataAndDimensions(make([]float32, r*f), r, f, 1)
	add := func(a, c *Node) *Node { return Add(a, c) }
	benchExecs(b, be, map[string]func(a, c *Node) *Node{"bias [R,F,1]": add, "same shape": add}, func(name string) []any {
		if name == "same shape" {
			return []any{x, full}
		}
		return []any{x, bias}
	})
}

// BenchmarkIdentityTranspose is the minimal reproduction of the zoo step's largest copy: GoMLX's
// DotGeneral gradient ends with TransposeAllAxes back to the operand's axis order, also when that
// order is the identity (a weight gradient [R,out,in]), and the Go backend performs the identity
// transpose element by element through its generic iterator. Compare with a plain copy (Add 0
// is the closest same-cost op: one read, one write per element).
func BenchmarkIdentityTranspose(b *testing.B) {
	be := goBackend(b)
	const r, f, n = 64, 32, 784
	x := tensors.FromFlatDataAndDimensions(make([]float32, r*f*n), r, f, n)
	benchExecs(b, be, map[string]func(a *Node) *Node{
		"transpose [0 1 2]": func(a *Node) *Node { return TransposeAllAxes(a, 0, 1, 2) },
		"add 0":             func(a *Node) *Node { return AddScalar(a, 0) },
	}, func(string) []any { return []any{x} })
}

// benchExecs times each named graph on args, one Exec compiled per graph.
func benchExecs[F ExecGraphFn](b *testing.B, be compute.Backend, graphs map[string]F, args func(name string) []any) {
	for name, fn := range graphs {
		exec := MustNewExec(be, fn)
		in := args(name)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				exec.MustExec(in...)[0].MustFinalizeAll()
			}
		})
		exec.Finalize()
	}
}

// goBackend is a fresh pure-Go backend (nmflow/gemm swapped in where it applies), finalized
// when the test ends.
func goBackend(tb testing.TB) compute.Backend {
	tb.Setenv(EnvBackend, "go")
	be, _, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(be.Finalize)
	return be
}
