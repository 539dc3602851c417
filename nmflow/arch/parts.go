package arch

import (
	"slices"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"
)

// Parts are the parameters of R nets split by layout segment: part i is segment i as
// [R, shape...], in layout order.
type Parts []*Node

// SplitParams slices params [R,P] into the parts of layout l.
func SplitParams(params *Node, l Layout) Parts {
	checkParams(params, l)
	parts := make(Parts, len(l.Segments))
	for i, s := range l.Segments {
		parts[i] = segment(params, s)
	}
	return parts
}

// JoinParts is SplitParams' inverse: the parts (or gradients shaped like them) as one [R,P] matrix, in one
// concatenation.
func JoinParts(parts []*Node) *Node {
	r := parts[0].Shape().Dimensions[0]
	flat := make([]*Node, len(parts))
	for i, p := range parts {
		flat[i] = Reshape(p, r, p.Shape().Size()/r)
	}
	return Concatenate(flat, 1)
}

// getter returns a segment's [R, shape...] tensor.
type getter func(Segment) *Node

// sliced reads segments out of params [R,P] as they are needed.
func sliced(params *Node) getter { return func(s Segment) *Node { return segment(params, s) } }

func (p Parts) getter(l Layout) getter {
	index := make(map[int]int, len(l.Segments))
	for i, s := range l.Segments {
		index[s.Offset] = i
	}
	return func(s Segment) *Node { return p[index[s.Offset]] }
}

// checkParts checks that parts match layout l and returns R.
func checkParts(parts Parts, l Layout) int {
	if len(parts) != len(l.Segments) {
		exceptions.Panicf("arch: %d parts for a layout of %d segments", len(parts), len(l.Segments))
	}
	r := parts[0].Shape().Dimensions[0]
	for i, s := range l.Segments {
		if want := append([]int{r}, s.Shape...); !slices.Equal(parts[i].Shape().Dimensions, want) || parts[i].DType() != dtypes.Float32 {
			exceptions.Panicf("arch: part %d (%s) is %s, want %v", i, s.Name, parts[i].Shape(), want)
		}
	}
	return r
}
