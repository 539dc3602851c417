package backend

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/gemm"
)

// TestGEMMSwap checks that the pure-Go backend's float32 matmuls run nmflow/gemm where the CPU
// allows it, and that both layouts GoMLX hands to it (rhs [K,N] and rhs [N,K]), batched and
// not, give the product a float64 loop gives.
func TestGEMMSwap(t *testing.T) {
	be := goBackend(t)
	info := Info{Name: describe("go", be)}
	ours := gemm.Fast() && (!(hasAVX512() && simdBuild) || os.Getenv(EnvGEMM) == "nmflow") && os.Getenv(EnvGEMM) != "gomlx"
	if ours != strings.Contains(info.Name, "nmflow GEMM") {
		t.Fatalf("backend %q: nmflow GEMM expected: %v", info.Name, ours)
	}
	if ours && dotRegistry[dotKey{layoutTransposed, 11, 11}].name != "nmflow/gemm" {
		t.Fatal("the transposed float32 DotGeneral is not nmflow/gemm")
	}
	r := rand.New(rand.NewPCG(5, 6))
	const batch, m, k, n = 3, 50, 70, 40
	x := make([]float32, batch*m*k)
	y := make([]float32, batch*k*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	want := make([]float64, batch*m*n)
	for b := range batch {
		for i := range m {
			for j := range n {
				for p := range k {
					want[(b*m+i)*n+j] += float64(x[(b*m+i)*k+p]) * float64(y[(b*k+p)*n+j])
				}
			}
		}
	}
	xt := tensors.FromFlatDataAndDimensions(x, batch, m, k)
	yt := tensors.FromFlatDataAndDimensions(y, batch, k, n)
	for name, fn := range map[string]func(a, b *Node) *Node{
		"rhs [K,N]": func(a, b *Node) *Node { return DotGeneral(a, []int{2}, []int{0}, b, []int{1}, []int{0}) },
		"rhs [N,K]": func(a, b *Node) *Node {
			return DotGeneral(a, []int{2}, []int{0}, TransposeAllAxes(b, 0, 2, 1), []int{2}, []int{0})
		},
	} {
		out := MustExecOnce(be, fn, xt, yt)
		got := tensors.MustCopyFlatData[float32](out)
		for i, w := range want {
			if d := math.Abs(float64(got[i]) - w); d > 1e-3*(1+math.Abs(w)) {
				t.Fatalf("%s: out[%d] = %g, want %g", name, i, got[i], w)
			}
		}
	}
}

// TestIsGo: options after "go:" keep the pure-Go backend, and its matmul swap, on.
func TestIsGo(t *testing.T) {
	for cfg, want := range map[string]bool{"go": true, "go:ops_sequential": true, "xla:cuda": false, "gox": false, "": false} {
		if isGo(cfg) != want {
			t.Errorf("isGo(%q) = %v, want %v", cfg, !want, want)
		}
	}
}
