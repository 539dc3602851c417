//go:build amd64 && goexperiment.simd

package eval

import (
	"simd/archsimd"

	"github.com/nmflow/nmflow/nmflow/internal/fastexp"
)

// maxVecClasses bounds the classes score8 takes (its transposed block lives on the stack).
const maxVecClasses = 32

// score8 does for eight examples at once, one per lane, what score's scalar loop does per
// example: rows holds their logits (8 rows of `classes`, row-major); it writes each example's
// largest logit (the first of equal ones; NaN logits never win), its class, and Σ exp(z − max)
// (NaN if a term is NaN; terms under e^−87 count 0, each term as fastexp.Neg, summed in float32
// over the classes). It returns false, doing nothing, without AVX2 or past maxVecClasses.
func score8(rows []float32, classes int, m, s *[8]float32, best *[8]int32) bool {
	if !archsimd.X86.AVX2() || classes > maxVecClasses || classes < 1 {
		return false
	}
	// Transpose the 8 × C block to C × 8: lanes are examples.
	var t [maxVecClasses * 8]float32
	for k := range 8 {
		for c, v := range rows[k*classes : (k+1)*classes] {
			t[c*8+k] = v
		}
	}
	bv := archsimd.LoadFloat32x8Slice(t[0:8])
	bi := archsimd.BroadcastInt32x8(0)
	for c := 1; c < classes; c++ {
		v := archsimd.LoadFloat32x8Slice(t[c*8 : c*8+8])
		gt := v.Greater(bv)
		bv = v.Merge(bv, gt)
		bi = archsimd.BroadcastInt32x8(int32(c)).Merge(bi, gt)
	}
	lo := archsimd.BroadcastFloat32x8(fastexp.Min)
	sum := archsimd.BroadcastFloat32x8(0)
	for c := range classes {
		x := archsimd.LoadFloat32x8Slice(t[c*8 : c*8+8]).Sub(bv)
		term := fastexp.Neg8(x.Max(lo)).Masked(x.GreaterEqual(lo))
		sum = sum.Add(x.Merge(term, x.IsNaN()))
	}
	bv.StoreSlice(m[:])
	sum.StoreSlice(s[:])
	bi.StoreSlice(best[:])
	return true
}
