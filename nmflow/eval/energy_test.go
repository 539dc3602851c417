package eval

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
)

// bruteEnergy is the definition with direct differences.
func bruteEnergy(x, y [][]float32) float64 {
	mean := func(a, b [][]float32, distinct bool) float64 {
		var s float64
		var n int
		for i := range a {
			for j := range b {
				if distinct && i == j {
					continue
				}
				s += math.Sqrt(sqDist(a[i], b[j]))
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return s / float64(n)
	}
	return 2*mean(x, y, false) - mean(x, x, true) - mean(y, y, true)
}

func TestEnergyMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, y := randSet(rng, 37, 50, 1), randSet(rng, 23, 50, 1.3)
	for _, tiles := range []bool{false, true} {
		if tiles {
			defer func(old int) { tileBytes = old }(tileBytes)
			tileBytes = 8 * 16 * 50 // 16-row tiles: diagonal and off-diagonal tiles of the within terms
		}
		got, err := Energy(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteEnergy(x, y); math.Abs(got-want) > 1e-9*math.Abs(want) || !(got > 0) {
			t.Errorf("tiles %v: Energy %v, definition %v", tiles, got, want)
		}
		if back, _ := Energy(y, x); math.Abs(back-got) > 1e-9*math.Abs(got) {
			t.Errorf("not symmetric: %v and %v", got, back)
		}
	}
}

// Two samples of one law score near 0 (the estimator is unbiased), a shrunk law clearly more (by
// little in absolute terms: in 300 dimensions distances concentrate), an exact copy −2·E‖X−X′‖/n, and a point mass at the mean a positive amount.
func TestEnergyRanks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, p = 40, 300
	x := randSet(rng, n, p, 1)
	var same float64
	for range 10 {
		e, err := Energy(x, randSet(rng, n, p, 1))
		if err != nil {
			t.Fatal(err)
		}
		same += e / 10
	}
	shrunk, _ := Energy(x, randSet(rng, n, p, 0.7))
	mean := make([]float32, p)
	for _, v := range x {
		for k := range v {
			mean[k] += v[k] / n
		}
	}
	collapse, _ := Energy(x, [][]float32{mean})
	copies, _ := Energy(x, x)
	spread := withinMean(x)
	if math.Abs(same) > 0.005*spread || !(shrunk > 0.02*spread) || !(collapse > 0.3*spread) {
		t.Errorf("independent %.4f, shrunk %.4f, mean collapse %.4f (spread %.4f)", same, shrunk, collapse, spread)
	}
	if want := -2 * spread / n; math.Abs(copies-want) > 1e-9*spread {
		t.Errorf("copies: %v, want %v", copies, want)
	}
	if one, _ := Energy([][]float32{{0, 0}}, [][]float32{{3, 4}}); one != 10 {
		t.Errorf("two point masses 5 apart: %v, want 10", one)
	}
	if _, err := Energy(x, nil); err == nil {
		t.Error("an empty set was accepted")
	}
	if _, err := Energy(x, [][]float32{make([]float32, p+1)}); err == nil {
		t.Error("vectors of another length were accepted")
	}
}

func TestAgreementAndErrorOverlap(t *testing.T) {
	labels := []int{0, 1, 2, 0, 1, 2}
	ref := []int32{0, 2, 2, 1, 0, 2}   // wrong on examples 1, 3, 4
	other := []int32{0, 2, 1, 2, 0, 2} // repeats 1 and 4, wrong differently on 3
	if a, err := Agreement(ref, other); err != nil || a != 4.0/6 {
		t.Errorf("agreement %v, %v", a, err)
	}
	if o, ok, err := ErrorOverlap(ref, other, labels); err != nil || !ok || o != 2.0/3 {
		t.Errorf("overlap %v %v %v, want 2/3", o, ok, err)
	}
	if o, ok, _ := ErrorOverlap(ref, ref, labels); !ok || o != 1 {
		t.Errorf("a net repeats all of its own mistakes: %v", o)
	}
	perfect := []int32{0, 1, 2, 0, 1, 2}
	if _, ok, _ := ErrorOverlap(perfect, other, labels); ok {
		t.Error("a net without mistakes gave an overlap")
	}
	if _, err := Agreement(ref, other[:3]); err == nil {
		t.Error("lists of different lengths were accepted")
	}
	if _, _, err := ErrorOverlap(ref, other, labels[:2]); err == nil {
		t.Error("labels of another length were accepted")
	}
}

// Predict returns Accuracy's numbers and the predictions they come from, across several chunks of
// examples (the last padded) and groups of nets (the last padded).
func TestPredict(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	net := arch.MustNew(arch.MLP([]int{6}, 3, 3))
	split := featureSplit(4500, 6, 9) // chunks of 2000 examples
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5
	flat := make([]float32, n*net.Layout().Size())
	for k := range flat {
		flat[k] = float32(0.1 * rng.NormFloat64())
	}
	wantAcc, wantLoss, err := Accuracy(be, net, flat, n, split, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	acc, loss, pred, err := Predict(be, net, flat, n, split, nil, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acc, wantAcc) || !slices.Equal(loss, wantLoss) || len(pred) != n {
		t.Fatalf("Predict %v %v (%d nets), Accuracy %v %v", acc, loss, len(pred), wantAcc, wantLoss)
	}
	for i, pr := range pred {
		ok, classes := 0, map[int32]bool{}
		for k, c := range pr {
			if c == int32(split.Labels[k]) {
				ok++
			}
			classes[c] = true
		}
		if len(pr) != split.N || float32(float64(ok)/float64(split.N)) != acc[i] {
			t.Errorf("net %d: %d predictions, %d right, accuracy %v", i, len(pr), ok, acc[i])
		}
		for c := range classes {
			if c < 0 || c >= 3 {
				t.Errorf("net %d predicts class %d", i, c)
			}
		}
	}
}

func TestNoveltyCurveVerdict(t *testing.T) {
	curve := NoveltyCurve{{0, 0, 0.9, 0.01}, {0.5, 2, 0.8, 0.01}, {1, 4, 0.5, 0.03}}
	if a, s, ok := curve.At(3); !ok || math.Abs(a-0.65) > 1e-12 || math.Abs(s-0.02) > 1e-12 {
		t.Errorf("At(3) = %v ± %v (%v), want 0.65 ± 0.02", a, s, ok)
	}
	if a, _, ok := curve.At(0); !ok || a != 0.9 {
		t.Errorf("At(0) = %v, %v", a, ok)
	}
	if _, _, ok := curve.At(5); ok {
		t.Error("extrapolated beyond the curve")
	}
	row := func(d, acc, se float64) Row {
		return Row{Name: "g", Nearest: Summary{Median: d}, Accuracy: Summary{Mean: acc}, AccuracyStderr: se}
	}
	if v := BeatsNoise(curve, row(3, 0.75, 0.02)); !v.InRange || !v.NotCopies || math.Abs(v.Margin-0.1) > 1e-12 {
		t.Errorf("10 points above the curve: %+v", v)
	}
	if v := BeatsNoise(curve, row(3, 0.67, 0.02)); v.NotCopies || !v.InRange { // margin 0.02 < √(0.02²+0.02²)
		t.Errorf("within one standard error: %+v", v)
	}
	if v := BeatsNoise(curve, row(1, 0.7, 0.01)); v.NotCopies {
		t.Errorf("below the curve: %+v", v)
	}
	if v := BeatsNoise(curve, row(6, 0.9, 0.01)); v.InRange || v.NotCopies {
		t.Errorf("beyond the curve: %+v", v)
	}
}
