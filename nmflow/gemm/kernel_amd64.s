//go:build !purego

#include "textflag.h"

// One row of the 6×16 tile: broadcast A[row, p] (row pointer ptr, offset SI) into bc and
// accumulate it times the two halves of B's row p (Y12, Y13).
#define FMA_ROW(ptr, bc, acc0, acc1) \
	VBROADCASTSS (ptr)(SI*1), bc; \
	VFMADD231PS Y12, bc, acc0; \
	VFMADD231PS Y13, bc, acc1

// C row at DI (+)= the accumulators of one tile row.
#define ADD_ROW(acc0, acc1) \
	VADDPS (DI), acc0, acc0; \
	VADDPS 32(DI), acc1, acc1; \
	STORE_ROW(acc0, acc1)

#define STORE_ROW(acc0, acc1) \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 32(DI)

// func kern6x16(k int, rows *[6]unsafe.Pointer, astep int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int)
//
// C[0:6, 0:16] (+)= A[0:6, 0:k] · B[0:k, 0:16], with A's element (i, p) at rows[i] + p*astep
// (astep 4: a row-major A; 24: a packed 6-row panel), B's row p at b + p*ldb (16 contiguous floats) and C's row i at c + i*ldc; strides in
// bytes. acc != 0 adds to C, else C is overwritten. 12 YMM accumulators, 2 for B, 2 broadcasts.
TEXT ·kern6x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ rows+8(FP), AX
	MOVQ astep+16(FP), R14
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), DX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ 32(AX), R12
	MOVQ 40(AX), R13
	XORQ SI, SI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JEQ store

loop:
	VMOVUPS (BX), Y12
	VMOVUPS 32(BX), Y13
	FMA_ROW(R8, Y14, Y0, Y1)
	FMA_ROW(R9, Y15, Y2, Y3)
	FMA_ROW(R10, Y14, Y4, Y5)
	FMA_ROW(R11, Y15, Y6, Y7)
	FMA_ROW(R12, Y14, Y8, Y9)
	FMA_ROW(R13, Y15, Y10, Y11)
	ADDQ R14, SI
	ADDQ DX, BX
	DECQ CX
	JNE loop

store:
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), DX
	MOVQ acc+56(FP), AX
	TESTQ AX, AX
	JEQ overwrite
	ADD_ROW(Y0, Y1); ADDQ DX, DI
	ADD_ROW(Y2, Y3); ADDQ DX, DI
	ADD_ROW(Y4, Y5); ADDQ DX, DI
	ADD_ROW(Y6, Y7); ADDQ DX, DI
	ADD_ROW(Y8, Y9); ADDQ DX, DI
	ADD_ROW(Y10, Y11)
	VZEROUPPER
	RET

overwrite:
	STORE_ROW(Y0, Y1); ADDQ DX, DI
	STORE_ROW(Y2, Y3); ADDQ DX, DI
	STORE_ROW(Y4, Y5); ADDQ DX, DI
	STORE_ROW(Y6, Y7); ADDQ DX, DI
	STORE_ROW(Y8, Y9); ADDQ DX, DI
	STORE_ROW(Y10, Y11)
	VZEROUPPER
	RET
