//go:build amd64 && !purego

package gemm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// fast says the assembly kernel can run here (AVX2 and FMA3).
var fast = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern6x16(k int, rows *[mr]unsafe.Pointer, astep int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int)

func kernel(k int, rows *[mr]unsafe.Pointer, astep int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int) {
	if fast {
		kern6x16(k, rows, astep, b, ldb, c, ldc, acc)
		return
	}
	kernGo(k, rows, astep, b, ldb, c, ldc, acc)
}
