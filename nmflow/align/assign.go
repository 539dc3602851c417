package align

import (
	"fmt"
	"math"
)

// Assignment solves the linear assignment problem exactly: for an n×m cost matrix it returns
// perm, with perm[i] the column given to row i, minimizing the total Σ_i cost[i][perm[i]], and
// that total (a plain sum, not a mean). Columns are used at most once. When n > m only m rows can
// be served: the others get perm[i] = −1. Costs may be negative; they must be finite, and rows
// must have one length — Assignment panics otherwise, like an out-of-range index.
//
// The algorithm is the O(n²m) shortest-augmenting-path Hungarian method with row and column
// potentials (Kuhn–Munkres as reformulated by Jonker–Volgenant), in float64: each row is added by
// a Dijkstra-like search over reduced costs, so no approximation or ε-scaling is involved.
func Assignment(cost [][]float64) ([]int, float64) {
	n := len(cost)
	if n == 0 {
		return []int{}, 0
	}
	m := len(cost[0])
	for i, row := range cost {
		if len(row) != m {
			panic(fmt.Sprintf("align: Assignment: row %d has %d costs, row 0 has %d", i, len(row), m))
		}
		for j, c := range row {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				panic(fmt.Sprintf("align: Assignment: cost[%d][%d] = %v is not finite", i, j, c))
			}
		}
	}
	perm := make([]int, n)
	if m == 0 {
		for i := range perm {
			perm[i] = -1
		}
		return perm, 0
	}
	if n > m {
		// Serve every column instead: solve the transpose, then invert.
		t := make([][]float64, m)
		for j := range t {
			t[j] = make([]float64, n)
			for i := range n {
				t[j][i] = cost[i][j]
			}
		}
		colRow, total := Assignment(t)
		for i := range perm {
			perm[i] = -1
		}
		for j, i := range colRow {
			perm[i] = j
		}
		return perm, total
	}

	// 1-based arrays; column 0 is a virtual column that holds the row being inserted.
	inf := math.Inf(1)
	u := make([]float64, n+1)    // row potentials
	v := make([]float64, m+1)    // column potentials
	owner := make([]int, m+1)    // owner[j]: row (1-based) assigned to column j, 0 if free
	way := make([]int, m+1)      // way[j]: previous column on the shortest path to j
	minv := make([]float64, m+1) // minv[j]: shortest reduced-cost distance to column j so far
	used := make([]bool, m+1)
	for i := 1; i <= n; i++ {
		owner[0] = i
		j0 := 0
		for j := range minv {
			minv[j], used[j] = inf, false
		}
		for {
			used[j0] = true
			i0 := owner[j0]
			row := cost[i0-1]
			delta, j1 := inf, 0
			for j := 1; j <= m; j++ {
				if used[j] {
					continue
				}
				if cur := row[j-1] - u[i0] - v[j]; cur < minv[j] {
					minv[j], way[j] = cur, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= m; j++ {
				if used[j] {
					u[owner[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if owner[j0] == 0 {
				break
			}
		}
		for j0 != 0 { // augment along the path back to the virtual column
			j1 := way[j0]
			owner[j0] = owner[j1]
			j0 = j1
		}
	}
	var total float64
	for j := 1; j <= m; j++ {
		if owner[j] != 0 {
			perm[owner[j]-1] = j - 1
		}
	}
	// Sum the original costs rather than the potentials, so the total carries no drift.
	for i, j := range perm {
		total += cost[i][j]
	}
	return perm, total
}
