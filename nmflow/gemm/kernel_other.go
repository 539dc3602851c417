//go:build !amd64 || purego

package gemm

import "unsafe"

const fast = false

func kernel(k int, rows *[mr]unsafe.Pointer, astep int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int) {
	kernGo(k, rows, astep, b, ldb, c, ldc, acc)
}
