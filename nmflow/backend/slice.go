package backend

import (
	"reflect"
	_ "unsafe" // linkname
)

// The Go backend's float32 Slice copies element by element, stepping an index odometer per
// element: the zoo step and eval slice each layer out of the flat [R, P] parameters every call
// (7% of a zoo step's CPU, 3.5% of eval's). slice32 copies unit-stride slices as contiguous runs
// (the trailing axes kept whole, merged, are one run) and hands other strides to GoMLX's loop.

//go:linkname sliceMap github.com/gomlx/compute/internal/gobackend/ops.sliceDTypeMap
var sliceMap *dtypeMap

// sliceParams mirrors ops.sliceNode.
type sliceParams struct {
	starts, limits, strides []int
}

// sliceFn has the layout and calling convention of func(operand, output *gobackend.Buffer,
// params *ops.sliceNode).
type sliceFn func(operand, output *buffer, p *sliceParams)

// sliceSignature is the float32 entry's.
var sliceSignature = []reflect.Type{reflect.TypeFor[*buffer](), reflect.TypeFor[*buffer](), reflect.TypeFor[*sliceParams]()}

// sliceOrig is GoMLX's float32 slice, for strides other than 1.
var sliceOrig sliceFn

func slice32(operand, output *buffer, p *sliceParams) {
	for _, s := range p.strides {
		if s != 1 {
			sliceOrig(operand, output, p)
			return
		}
	}
	in, out := operand.shape.Dimensions, output.shape.Dimensions
	src, dst := operand.flat.([]float32), output.flat.([]float32)
	if len(in) == 0 || len(in) > maxRank {
		sliceOrig(operand, output, p)
		return
	}
	// Trailing axes taken whole join the run of the innermost axis that is cut.
	k, run := len(in)-1, 1
	for k > 0 && out[k] == in[k] {
		run *= in[k]
		k--
	}
	run *= out[k]
	var strides [maxRank]int
	st := 1
	for a := len(in) - 1; a >= 0; a-- {
		strides[a] = st
		st *= in[a]
	}
	base := 0
	for a, s := range p.starts {
		base += s * strides[a]
	}
	sliceRuns(src, dst, out[:k], strides[:k], base, 0, run)
}

// sliceRuns copies, for every index of the outer axes dims (operand strides given), the run of
// that many floats at src offset off into dst in order; it returns the next dst offset.
func sliceRuns(src, dst []float32, dims, strides []int, off, at, run int) int {
	if len(dims) == 0 {
		copy(dst[at:at+run], src[off:off+run])
		return at + run
	}
	for i := range dims[0] {
		at = sliceRuns(src, dst, dims[1:], strides[1:], off+i*strides[0], at, run)
	}
	return at
}
