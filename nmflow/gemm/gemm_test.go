package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func naive(m, n, k int, a []float32, lda int, b []float32, ldb int, bT bool, c []float32, ldc int) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var bv float32
				if bT {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(a[i*lda+p]) * float64(bv)
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestMul compares Mul with a float64 reference on shapes that hit every edge: rows not a
// multiple of 6, columns not a multiple of 16, k across several kc blocks, n across nc blocks,
// padded strides, transposed B, and sizes large enough to run on several goroutines.
func TestMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {6, 16, 4}, {7, 17, 300}, {13, 33, 513}, {64, 512, 700}, {100, 1100, 40}, {5, 2100, 3}, {200, 10, 257}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, bT := range []bool{false, true} {
			lda, ldc := k+3, n+5
			ldb := n + 2
			bn := k * ldb
			if bT {
				ldb = k + 1
				bn = n * ldb
			}
			a, b := randSlice(r, m*lda), randSlice(r, bn)
			got, want := randSlice(r, m*ldc), make([]float32, m*ldc)
			copy(want, got) // the padding must survive untouched
			naive(m, n, k, a, lda, b, ldb, bT, want, ldc)
			Mul(m, n, k, a, lda, b, ldb, bT, got, ldc)
			for i := range got {
				tol := 1e-4 * (1 + math.Sqrt(float64(k)))
				if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(float64(got[i])) {
					t.Fatalf("m=%d n=%d k=%d bT=%v: c[%d] = %g, want %g", m, n, k, bT, i, got[i], want[i])
				}
			}
		}
	}
}

func TestMulBatchShared(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const batch, m, n, k = 5, 9, 20, 30
	a, b := randSlice(r, m*k), randSlice(r, batch*k*n) // A shared by every product
	got := make([]float32, batch*m*n)
	MulBatch(batch, m, n, k, a, b, false, got, k, n, n, 0, k*n, m*n)
	for i := range batch {
		want := make([]float32, m*n)
		naive(m, n, k, a, k, b[i*k*n:], n, false, want, n)
		for j := range want {
			if math.Abs(float64(got[i*m*n+j]-want[j])) > 1e-3 {
				t.Fatalf("batch %d: c[%d] = %g, want %g", i, j, got[i*m*n+j], want[j])
			}
		}
	}
}

func TestMulBadStride(t *testing.T) {
	for name, call := range map[string]func(){
		"A too short for its stride": func() {
			Mul(2, 2, 2, make([]float32, 3), 2, make([]float32, 4), 2, false, make([]float32, 4), 2)
		},
		"the last batch's B past the end": func() {
			MulBatch(3, 2, 2, 2, make([]float32, 4), make([]float32, 8), false, make([]float32, 12), 2, 2, 2, 0, 4, 4)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("accepted %s", name)
				}
			}()
			call()
		}()
	}
}

func BenchmarkMul(b *testing.B) {
	// The shapes of `nmflow bench`: eval's shared first layer (bias folded, B transposed), the
	// sample velocity's two layers, a zoo step's forward (B transposed) and weight gradient.
	for _, sz := range [][4]int{{1024, 1024, 1024, 0}, {2048, 2000, 785, 1}, {64, 512, 25450, 0}, {64, 25450, 512, 0}, {32, 128, 784, 1}, {32, 784, 128, 0}} {
		m, n, k, bT := sz[0], sz[1], sz[2], sz[3] == 1
		ldb := n
		if bT {
			ldb = k
		}
		r := rand.New(rand.NewPCG(1, 2))
		x, y, z := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		b.Run(fmtSize(m, n, k, bT), func(b *testing.B) {
			for b.Loop() {
				Mul(m, n, k, x, k, y, ldb, bT, z, n)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func fmtSize(m, n, k int, bT bool) string {
	if bT {
		return fmt.Sprintf("%dx%dx%d_bT", m, n, k)
	}
	return fmt.Sprintf("%dx%dx%d", m, n, k)
}
