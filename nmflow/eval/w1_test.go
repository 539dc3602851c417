package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nmflow/nmflow/nmflow/align"
)

func randSet(rng *rand.Rand, n, p int, scale float64) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, p)
		for k := range out[i] {
			out[i][k] = float32(scale * rng.NormFloat64())
		}
	}
	return out
}

func TestW1MatchesDirectAssignment(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		n := 1 + trial%7
		p := 1 + rng.IntN(40)
		a, b := randSet(rng, n, p, 1), randSet(rng, n, p, 1)
		got, err := W1(a, b)
		if err != nil {
			t.Fatal(err)
		}
		cost := make([][]float64, n)
		for i := range cost {
			cost[i] = make([]float64, n)
			for j := range cost[i] {
				cost[i][j] = math.Sqrt(sqDist(a[i], b[j]))
			}
		}
		// align.Assignment is checked against brute force in its own package.
		_, total := align.Assignment(cost)
		want := total / float64(n)
		if math.Abs(got-want) > 1e-9*max(1, want) {
			t.Fatalf("trial %d: W1 %v, assignment on direct distances %v", trial, got, want)
		}
	}
}

func TestW1IdenticalAndTranslated(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, p = 40, 1000
	a := randSet(rng, n, p, 0.05)
	if w, err := W1(a, a); err != nil || w != 0 {
		t.Fatalf("W1(a, a) = %v, %v; want exactly 0", w, err)
	}
	// Shuffled copy: still 0, and the assignment recovers the shuffle.
	shuf := rng.Perm(n)
	b := make([][]float32, n)
	for i, j := range shuf {
		b[j] = a[i]
	}
	if w, _ := W1(a, b); w != 0 {
		t.Fatalf("W1 of a shuffled copy = %v, want 0", w)
	}
	cost, _ := Distances(a, b)
	if perm, _ := align.Assignment(cost); !equalInts(perm, shuf) {
		t.Fatalf("assignment %v does not undo the shuffle %v", perm, shuf)
	}
	// Translation by a vector of dyadic entries (exact in float32): W1 = ‖t‖, by convexity of
	// the norm the identity matching is optimal.
	tr := make([]float32, p)
	var tn float64
	for k := range tr {
		tr[k] = float32(rng.IntN(5)-2) / 64
		tn += float64(tr[k]) * float64(tr[k])
	}
	tn = math.Sqrt(tn)
	c := make([][]float32, n)
	for i := range c {
		c[i] = make([]float32, p)
		for k := range c[i] {
			c[i][k] = a[i][k] + tr[k]
		}
	}
	w, err := W1(a, c)
	if err != nil {
		t.Fatal(err)
	}
	// a_i + t is rounded to float32, so allow that rounding (relative 1e-6).
	if math.Abs(w-tn) > 1e-6*tn {
		t.Fatalf("W1 of a translated set = %v, want ‖t‖ = %v", w, tn)
	}
}

func TestW1RestartConsistency(t *testing.T) {
	// Reordering either set must not change W1: the solver's result is a property of the sets.
	rng := rand.New(rand.NewPCG(7, 8))
	const n, p = 60, 300
	a, b := randSet(rng, n, p, 1), randSet(rng, n, p, 1)
	ref, err := W1(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if sym, _ := W1(b, a); math.Abs(sym-ref) > 1e-12*ref {
		t.Fatalf("W1(b,a) = %v, W1(a,b) = %v", sym, ref)
	}
	for restart := range 10 {
		pa, pb := rng.Perm(n), rng.Perm(n)
		a2, b2 := make([][]float32, n), make([][]float32, n)
		for i := range n {
			a2[i], b2[i] = a[pa[i]], b[pb[i]]
		}
		w, err := W1(a2, b2)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(w-ref) > 1e-12*ref {
			t.Fatalf("restart %d: W1 %v, first order gave %v", restart, w, ref)
		}
	}
}

func TestDistancesAccurate(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	// Large offset + tiny differences: the Gram form alone would lose these to cancellation.
	base := randSet(rng, 1, 5000, 1)[0]
	set := make([][]float32, 5)
	for i := range set {
		set[i] = make([]float32, len(base))
		for k := range base {
			set[i][k] = base[k] + 100 + float32(1e-3*rng.NormFloat64())
		}
	}
	other := randSet(rng, 7, 5000, 3)
	for _, pair := range [][2][][]float32{{set, set}, {set, other}} {
		d, err := Distances(pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		for i := range d {
			for j := range d[i] {
				want := math.Sqrt(sqDist(pair[0][i], pair[1][j]))
				if math.Abs(d[i][j]-want) > 1e-9*max(want, 1e-3) {
					t.Fatalf("d[%d][%d] = %v, direct %v", i, j, d[i][j], want)
				}
			}
		}
	}
}

func TestDistancesTiled(t *testing.T) {
	// 16-row tiles: exercises multiple and partial tiles on both sides.
	rng := rand.New(rand.NewPCG(11, 12))
	const p = 1001
	defer func(old int) { tileBytes = old }(tileBytes)
	tileBytes = 8 * 16 * p // 16-row tiles
	a, b := randSet(rng, 37, p, 1), randSet(rng, 21, p, 1)
	d, err := Distances(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		for j := range b {
			want := math.Sqrt(sqDist(a[i], b[j]))
			if math.Abs(d[i][j]-want) > 1e-10*want {
				t.Fatalf("d[%d][%d] = %v, direct %v", i, j, d[i][j], want)
			}
		}
	}
}

func TestW1Errors(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	a := randSet(rng, 3, 4, 1)
	if _, err := W1(a, randSet(rng, 4, 4, 1)); err == nil {
		t.Fatal("unequal sizes: no error")
	}
	if _, err := W1(a, randSet(rng, 3, 5, 1)); err == nil {
		t.Fatal("unequal lengths: no error")
	}
	if _, err := W1(nil, nil); err == nil {
		t.Fatal("empty sets: no error")
	}
	bad := randSet(rng, 3, 4, 1)
	bad[1][2] = float32(math.NaN())
	if _, err := W1(a, bad); err == nil {
		t.Fatal("NaN: no error")
	}
	if perm, total := align.Assignment(nil); len(perm) != 0 || total != 0 {
		t.Fatal("empty assignment")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Assignment with a NaN cost did not panic")
		}
	}()
	align.Assignment([][]float64{{1, math.NaN()}, {0, 1}})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkW1 is the paper-scale case: 256 generated vs 256 reference nets of P = 25,450
// (a 784-32-10 MLP).
func BenchmarkW1(b *testing.B) {
	rng := rand.New(rand.NewPCG(15, 16))
	const n, p = 256, 25450
	x, y := randSet(rng, n, p, 0.05), randSet(rng, n, p, 0.05)
	b.Run("total", func(b *testing.B) {
		for b.Loop() {
			if _, err := W1(x, y); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("distances", func(b *testing.B) {
		for b.Loop() {
			if _, err := Distances(x, y); err != nil {
				b.Fatal(err)
			}
		}
	})
}
