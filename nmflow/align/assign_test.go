package align

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// bruteAssign tries every injective map of rows into columns (rows ≤ cols).
func bruteAssign(cost [][]float64) float64 {
	n, m := len(cost), len(cost[0])
	best := math.Inf(1)
	used := make([]bool, m)
	var rec func(i int, sum float64)
	rec = func(i int, sum float64) {
		if i == n {
			best = min(best, sum)
			return
		}
		for j := range m {
			if !used[j] {
				used[j] = true
				rec(i+1, sum+cost[i][j])
				used[j] = false
			}
		}
	}
	rec(0, 0)
	return best
}

func checkPerm(t *testing.T, perm []int, cost [][]float64, total float64) {
	t.Helper()
	seen := map[int]bool{}
	var sum float64
	served := 0
	for i, j := range perm {
		if j < 0 {
			continue
		}
		if seen[j] {
			t.Fatalf("column %d assigned twice: %v", j, perm)
		}
		seen[j] = true
		sum += cost[i][j]
		served++
	}
	if want := min(len(cost), len(cost[0])); served != want {
		t.Fatalf("%d rows served, want %d: %v", served, want, perm)
	}
	if math.Abs(sum-total) > 1e-12*max(1, math.Abs(sum)) {
		t.Fatalf("returned total %v but the assignment costs %v", total, sum)
	}
}

func TestAssignmentMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		n := 1 + trial%7
		m := n
		if trial%3 == 1 { // rectangular, both orientations
			m = n + 1 + rng.IntN(2)
		} else if trial%3 == 2 && n > 1 {
			m = 1 + rng.IntN(n-1)
		}
		cost := make([][]float64, n)
		for i := range cost {
			cost[i] = make([]float64, m)
			for j := range cost[i] {
				switch trial % 4 {
				case 0: // integer costs: many ties
					cost[i][j] = float64(rng.IntN(4))
				case 1:
					cost[i][j] = rng.NormFloat64() * 1e3 // negative costs too
				default:
					cost[i][j] = rng.Float64()
				}
			}
		}
		perm, total := Assignment(cost)
		checkPerm(t, perm, cost, total)
		var want float64
		if n <= m {
			want = bruteAssign(cost)
		} else {
			tr := make([][]float64, m)
			for j := range tr {
				tr[j] = make([]float64, n)
				for i := range n {
					tr[j][i] = cost[i][j]
				}
			}
			want = bruteAssign(tr)
		}
		if math.Abs(total-want) > 1e-9*max(1, math.Abs(want)) {
			t.Fatalf("trial %d (%dx%d): Assignment total %v, brute force %v\ncost %v", trial, n, m, total, want, cost)
		}
	}
}

// BenchmarkAssignment: the W1 case (256 nets) and a 512×512 random cost.
func BenchmarkAssignment(b *testing.B) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{256, 512} {
		cost := make([][]float64, n)
		for i := range cost {
			cost[i] = make([]float64, n)
			for j := range cost[i] {
				cost[i][j] = rng.Float64()
			}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Assignment(cost)
			}
		})
	}
}
