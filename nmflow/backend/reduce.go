package backend

import (
	"reflect"
	_ "unsafe" // linkname

	"github.com/gomlx/compute/dtypes"
)

// The Go backend's float32 ReduceSum walks a generic output-index iterator per element (about
// 5 ns): the bias and LayerNorm gradients of a small fit step (P = 805) spent 1.6 ms of CPU per
// step there. sum32 takes its place like transpose32 (transpose.go): same table swap, same
// checks, and the same order of additions per output element as GoMLX's loop (operand order), so
// every result keeps its bits.

//go:linkname reduceSumMap github.com/gomlx/compute/internal/gobackend/ops.reduceSumDTypeMap
var reduceSumMap *dtypeMap

// reduceIter mirrors ops.ReduceOutputIterator: per operand axis, its size and its stride in the
// output (0 for a reduced axis).
type reduceIter struct {
	flatIdx               int
	axisIdx, operand, out []int
}

// reduceFn has the layout and calling convention of ops.GenericReduceFn.
type reduceFn func(operand, output *buffer, it *reduceIter, dtype dtypes.DType) error

// reduceOrig is GoMLX's float32 sum.
var reduceOrig reduceFn

// reduceSignature is the float32 entry's: ops.GenericReduceFn, func(*Buffer, *Buffer,
// *ReduceOutputIterator, dtypes.DType) error.
var reduceSignature = []reflect.Type{reflect.TypeFor[*buffer](), reflect.TypeFor[*buffer](), reflect.TypeFor[*reduceIter](), reflect.TypeFor[dtypes.DType]()}

// sum32 sums the operand into the output along the iterator's reduced axes. Axes of size 1 are
// dropped and neighbours of the same kind (reduced or kept, contiguous in the output) merged, so
// the common cases are one loop: a sum of rows, a sum of columns, a total.
func sum32(operand, output *buffer, it *reduceIter, dt dtypes.DType) error {
	src, dst := operand.flat.([]float32), output.flat.([]float32)
	var dims, strides [maxRank]int
	r, n, m := 0, 1, 1
	for a, d := range it.operand {
		n *= d
		if it.out[a] != 0 {
			m *= d
		}
		if d == 1 {
			continue
		}
		s := it.out[a]
		if r > 0 && ((s == 0 && strides[r-1] == 0) || (s != 0 && strides[r-1] == s*d)) {
			dims[r-1] *= d
			strides[r-1] = s
			continue
		}
		if r == maxRank {
			return reduceOrig(operand, output, it, dt)
		}
		dims[r], strides[r] = d, s
		r++
	}
	src, dst = src[:n], dst[:m]
	clear(dst)
	if r == 0 {
		dst[0] = src[0]
		return nil
	}
	sumAxes(src, dst, dims[:r], strides[:r], 0)
	return nil
}

// sumAxes adds the operand block src (row-major over dims) into dst at the output strides (0: a
// reduced axis), in operand order.
func sumAxes(src, dst []float32, dims, strides []int, outBase int) {
	if len(dims) > 1 {
		inner := len(src) / dims[0]
		for i := range dims[0] {
			sumAxes(src[i*inner:(i+1)*inner], dst, dims[1:], strides[1:], outBase+i*strides[0])
		}
		return
	}
	if strides[0] == 0 {
		acc := dst[outBase]
		for _, v := range src {
			acc += v
		}
		dst[outBase] = acc
		return
	}
	// A kept innermost axis is contiguous in the output (merged axes keep the output's order).
	row := dst[outBase : outBase+len(src)]
	for j, v := range src {
		row[j] += v
	}
}
