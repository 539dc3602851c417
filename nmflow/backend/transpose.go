package backend

import (
	"reflect"
	_ "unsafe" // linkname
)

// The pure-Go backend transposes element by element through a generic index iterator (about
// 7 ns per float32), also when the permutation leaves the memory order as it is: GoMLX's
// DotGeneral gradient ends with such identity transposes, which were 16% of a zoo step at R = 8
// and the largest non-matmul cost of a small fit step (BenchmarkIdentityTranspose). As for the
// matmul (gemm.go), the float32 entry of its dispatch table is reached by linkname and swapped
// (swap.go), after checking by reflection that the entry and the two structs it reads are the
// ones mirrored here; otherwise GoMLX's transpose stays. NMFLOW_GEMM=gomlx keeps it too.

//go:linkname transposeMap github.com/gomlx/compute/internal/gobackend/ops.TransposeDTypeMap
var transposeMap *dtypeMap

// transposeIter mirrors ops.TransposeIterator: for each operand axis, its size and the stride of
// that axis in the output.
type transposeIter struct {
	flatIdx                      int
	axisIdx, outStrides, operand []int
}

// transposeFn has the layout and calling convention of func(operand, output *gobackend.Buffer,
// it *ops.TransposeIterator).
type transposeFn func(operand, output *buffer, it *transposeIter)

// transposeSignature is the float32 entry's: func(*Buffer, *Buffer, *TransposeIterator).
var transposeSignature = []reflect.Type{reflect.TypeFor[*buffer](), reflect.TypeFor[*buffer](), reflect.TypeFor[*transposeIter]()}

// transpose32 writes operand into output in the order the iterator describes. Axes of size 1 are
// dropped and operand axes that stay adjacent in the output merged, so an identity permutation is
// one copy and the rest runs as blocked 2-D transposes of the last two axes.
func transpose32(operand, output *buffer, it *transposeIter) {
	src, dst := operand.flat.([]float32), output.flat.([]float32)
	var dims, strides [maxRank]int
	r := 0
	n := 1
	for a, d := range it.operand {
		n *= d
		if d == 1 {
			continue
		}
		if r > 0 && strides[r-1] == it.outStrides[a]*d {
			// Adjacent in the output as in the operand: one axis.
			dims[r-1] *= d
			strides[r-1] = it.outStrides[a]
			continue
		}
		if r == maxRank {
			transposeOrig(operand, output, it)
			return
		}
		dims[r], strides[r] = d, it.outStrides[a]
		r++
	}
	src, dst = src[:n], dst[:n]
	switch {
	case r == 0:
		if n == 1 {
			dst[0] = src[0]
		}
	case r == 1:
		copy(dst, src)
	default:
		transposeAxes(src, dst, dims[:r], strides[:r], 0)
	}
}

// maxRank bounds the (merged) axes transpose32, sum32 and slice32 handle; past it they
// call GoMLX's loop.
const maxRank = 8

// transposeOrig is GoMLX's float32 transpose.
var transposeOrig transposeFn

// transposeAxes writes the operand block src (row-major over dims) into dst at the output strides;
// len(dims) ≥ 2, and the last axis's stride is not 1 unless merged (it then is a copy of rows).
func transposeAxes(src, dst []float32, dims, strides []int, outBase int) {
	if len(dims) > 2 {
		inner := len(src) / dims[0]
		for i := range dims[0] {
			transposeAxes(src[i*inner:(i+1)*inner], dst, dims[1:], strides[1:], outBase+i*strides[0])
		}
		return
	}
	rows, cols, rs, cs := dims[0], dims[1], strides[0], strides[1]
	if cs == 1 {
		for i := range rows {
			copy(dst[outBase+i*rs:outBase+i*rs+cols], src[i*cols:(i+1)*cols])
		}
		return
	}
	// Tiles of 16×16: the 16 destination rows of a tile stay in cache while its columns are read.
	const tile = 16
	for i0 := 0; i0 < rows; i0 += tile {
		i1 := min(i0+tile, rows)
		for j0 := 0; j0 < cols; j0 += tile {
			j1 := min(j0+tile, cols)
			for i := i0; i < i1; i++ {
				row := src[i*cols+j0 : i*cols+j1]
				o := outBase + i*rs + j0*cs
				for _, v := range row {
					dst[o] = v
					o += cs
				}
			}
		}
	}
}
