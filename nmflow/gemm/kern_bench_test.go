package gemm

import (
	"testing"
	"unsafe"
)

func BenchmarkKernelL1(b *testing.B) {
	a := make([]float32, 6*256)
	bb := make([]float32, 256*16)
	c := make([]float32, 6*16)
	var rows [mr]unsafe.Pointer
	for r := range mr {
		rows[r] = unsafe.Pointer(&a[r*256])
	}
	for b.Loop() {
		kernel(256, &rows, 4, unsafe.Pointer(&bb[0]), 64, unsafe.Pointer(&c[0]), 64, 1)
	}
	b.ReportMetric(2*6*16*256*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
