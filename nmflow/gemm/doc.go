// Package gemm multiplies float32 matrices on the CPU: a 6×16 AVX2/FMA micro-kernel in Go
// assembly, cache blocking (kc = 384, mc = 96, nc = 1024) with B and A packed when the product
// reuses them, and the work split over GOMAXPROCS goroutines by batch, columns or rows.
//
// It exists because the pure-Go GoMLX backend's own float32 matmul on AVX2 machines (no
// AVX-512) runs far below the machine's peak; nmflow/backend puts Mul behind that backend's
// DotGeneral. On a 2-core AMD EPYC (Zen 3), 1024³: this package 130 GFLOP/s, GoMLX 31,
// OpenBLAS 152 (go test -bench . ./nmflow/gemm; `nmflow bench` prints the backend's peak).
// Without AVX2 and FMA, or built with the purego tag, a plain-Go kernel runs instead (correct,
// slow; nmflow/backend then keeps GoMLX's kernel).
package gemm
