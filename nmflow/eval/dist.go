package eval

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// tileBytes bounds the float64 copy of one tile of vectors, so a zoo of thousands of checkpoints
// of 10⁵ weights never needs a float64 copy of the whole set (a variable so tests can shrink it).
var tileBytes = 32 << 20

// refineRel: when ‖a−b‖² ≤ refineRel·(‖a‖²+‖b‖²) the Gram form has cancelled most of its digits
// (its error is ~P·ε·(‖a‖²+‖b‖²) at worst), so such pairs are recomputed directly.
const refineRel = 1e-4

// Distances returns the Euclidean distance matrix d[i][j] = ‖a_i − b_j‖ between two sets of flat
// vectors of one common length, computed in float64. Sets may differ in size; vectors must be
// finite.
func Distances(a, b [][]float32) ([][]float64, error) {
	if _, err := checkSets(a, b); err != nil {
		return nil, err
	}
	flat := make([]float64, len(a)*len(b))
	out := make([][]float64, len(a))
	for i := range out {
		out[i] = flat[i*len(b) : (i+1)*len(b)]
	}
	forEachTile(a, b, false, func(i0, j0, ni, nj int, d []float64) {
		for i := range ni {
			copy(out[i0+i][j0:j0+nj], d[i*nj:(i+1)*nj])
		}
	})
	return out, nil
}

// checkSets validates two non-empty sets of finite vectors of one common, positive length p.
func checkSets(a, b [][]float32) (p int, err error) {
	if len(a) == 0 || len(b) == 0 {
		return 0, fmt.Errorf("eval: need two non-empty sets of vectors, got %d and %d", len(a), len(b))
	}
	p = len(a[0])
	if p == 0 {
		return 0, fmt.Errorf("eval: vectors are empty")
	}
	for s, set := range [][][]float32{a, b} {
		for i, v := range set {
			if len(v) != p {
				return 0, fmt.Errorf("eval: vector %d of set %d has %d values, want %d (all vectors must have one length)", i, s+1, len(v), p)
			}
			for k, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return 0, fmt.Errorf("eval: vector %d of set %d has the non-finite value %v at index %d", i, s+1, x, k)
				}
			}
		}
	}
	return p, nil
}

// forEachTile computes ‖a_i − b_j‖ for every pair, one tile of rows at a time, and calls fn with
// the tile's origin (i0, j0), its size ni×nj and its row-major distances (valid during the call).
// Tiles are visited in increasing i0, then increasing j0. With sym (a and b the same set) only
// tiles with j0 ≥ i0 are computed; the caller mirrors them. Inputs must have passed checkSets.
//
// Why the Gram form: −2·A·Bᵀ through gonum's blocked, multi-goroutine Dgemm is about 3× faster
// than scalar difference loops, and float64 keeps it accurate except for near-duplicate pairs,
// which are recomputed directly.
func forEachTile(a, b [][]float32, sym bool, fn func(i0, j0, ni, nj int, d []float64)) {
	p := len(a[0])
	rows := min(max(tileBytes/(8*p), 16), 1024)
	na, nb := sqNorms(a), sqNorms(b)
	abuf := make([]float64, min(rows, len(a))*p)
	bbuf := make([]float64, min(rows, len(b))*p)
	dbuf := make([]float64, min(rows, len(a))*min(rows, len(b)))
	var impl gonum.Implementation
	lastJ := -1
	for i0 := 0; i0 < len(a); i0 += rows {
		ni := min(rows, len(a)-i0)
		widen(abuf, a[i0:i0+ni])
		for j0 := 0; j0 < len(b); j0 += rows {
			if sym && j0 < i0 {
				continue
			}
			nj := min(rows, len(b)-j0)
			if j0 != lastJ { // b fits one tile in the common case: convert it once
				widen(bbuf, b[j0:j0+nj])
				lastJ = j0
			}
			d := dbuf[:ni*nj]
			impl.Dgemm(blas.NoTrans, blas.Trans, ni, nj, p, -2, abuf, p, bbuf, p, 0, d, nj)
			parallelFor(ni, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					row := d[i*nj : (i+1)*nj]
					for j := range row {
						s := na[i0+i] + nb[j0+j]
						sq := s + row[j]
						if sq <= refineRel*s {
							sq = sqDist(a[i0+i], b[j0+j])
						}
						row[j] = math.Sqrt(max(sq, 0))
					}
				}
			})
			fn(i0, j0, ni, nj, d)
		}
	}
}

// nearest returns, for each a_i, the distance to and index of its nearest b_j among those skip
// does not exclude (skip may be nil); ties go to the smaller j. Index −1 and distance +Inf mean
// every b_j was excluded. self says b is a itself (skip must then be symmetric): each pair is
// computed once, halving the work of a set's nearest-neighbour distances.
func nearest(a, b [][]float32, self bool, skip func(i, j int) bool) ([]float64, []int) {
	dist := make([]float64, len(a))
	idx := make([]int, len(a))
	for i := range dist {
		dist[i], idx[i] = math.Inf(1), -1
	}
	offer := func(i, j int, v float64) {
		if (v < dist[i] || (v == dist[i] && j < idx[i])) && (skip == nil || !skip(i, j)) {
			dist[i], idx[i] = v, j
		}
	}
	forEachTile(a, b, self, func(i0, j0, ni, nj int, d []float64) {
		for i := range ni {
			for j, v := range d[i*nj : (i+1)*nj] {
				offer(i0+i, j0+j, v)
				if self && j0 > i0 {
					offer(j0+j, i0+i, v)
				}
			}
		}
	})
	return dist, idx
}

// widen copies rows of float32 vectors into dst as a row-major float64 matrix.
func widen(dst []float64, rows [][]float32) {
	p := len(rows[0])
	parallelFor(len(rows), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out := dst[i*p : (i+1)*p]
			for k, x := range rows[i] {
				out[k] = float64(x)
			}
		}
	})
}

func sqNorms(set [][]float32) []float64 {
	out := make([]float64, len(set))
	parallelFor(len(set), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = sqDist(set[i], nil)
		}
	})
	return out
}

// sqDist is ‖a − b‖² accumulated in float64 (‖a‖² when b is nil), with four independent sums so
// the loop is not bound by the latency of one addition chain.
func sqDist(a, b []float32) float64 {
	var s0, s1, s2, s3 float64
	n := len(a)
	k := 0
	if b == nil {
		for ; k+4 <= n; k += 4 {
			x0, x1, x2, x3 := float64(a[k]), float64(a[k+1]), float64(a[k+2]), float64(a[k+3])
			s0 += x0 * x0
			s1 += x1 * x1
			s2 += x2 * x2
			s3 += x3 * x3
		}
		for ; k < n; k++ {
			s0 += float64(a[k]) * float64(a[k])
		}
		return (s0 + s1) + (s2 + s3)
	}
	b = b[:n]
	for ; k+4 <= n; k += 4 {
		d0 := float64(a[k]) - float64(b[k])
		d1 := float64(a[k+1]) - float64(b[k+1])
		d2 := float64(a[k+2]) - float64(b[k+2])
		d3 := float64(a[k+3]) - float64(b[k+3])
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; k < n; k++ {
		d := float64(a[k]) - float64(b[k])
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// parallelFor splits [0,n) into one contiguous range per core and runs fn on each concurrently.
func parallelFor(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}
