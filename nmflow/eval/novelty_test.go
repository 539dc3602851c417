package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// bruteNearest is the definition of nearest with direct float64 differences.
func bruteNearest(a, b [][]float32, skip func(i, j int) bool) ([]float64, []int) {
	dist, idx := make([]float64, len(a)), make([]int, len(a))
	for i := range a {
		dist[i], idx[i] = math.Inf(1), -1
		for j := range b {
			if skip != nil && skip(i, j) {
				continue
			}
			if d := math.Sqrt(sqDist(a[i], b[j])); d < dist[i] {
				dist[i], idx[i] = d, j
			}
		}
	}
	return dist, idx
}

func TestNoveltyMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const runs, ckpts, p = 12, 4, 200
	// Training: runs drift from separate starts, checkpoints of one run close together.
	var train [][]float32
	var groups []int
	for r := range runs {
		start := randSet(rng, 1, p, 1)[0]
		for k := range ckpts {
			v := make([]float32, p)
			for i := range v {
				v[i] = start[i] + float32(0.05*float64(k)*rng.NormFloat64())
			}
			train = append(train, v)
			groups = append(groups, r)
		}
	}
	// Generated: 10 copies of training vectors plus a little noise (memorized), 30 fresh draws.
	gen := randSet(rng, 30, p, 1.5) // farther than runs are from each other
	for i := range 10 {
		v := append([]float32(nil), train[7*i%len(train)]...)
		for k := range v {
			v[k] += float32(1e-4 * rng.NormFloat64())
		}
		gen = append(gen, v)
	}

	for _, opt := range []NoveltyOptions{{}, {TrainGroups: groups}} {
		rep, err := Novelty(gen, train, opt)
		if err != nil {
			t.Fatal(err)
		}
		gd, gi := bruteNearest(gen, train, nil)
		skip := func(i, j int) bool { return i == j }
		if opt.TrainGroups != nil {
			skip = func(i, j int) bool { return groups[i] == groups[j] }
		}
		td, ti := bruteNearest(train, train, skip)
		for i := range gd {
			if rep.GenNearest[i] != gi[i] || math.Abs(rep.GenDist[i]-gd[i]) > 1e-9*gd[i]+1e-12 {
				t.Fatalf("generated %d: nearest %d at %v, want %d at %v", i, rep.GenNearest[i], rep.GenDist[i], gi[i], gd[i])
			}
		}
		for i := range td {
			if rep.TrainNearest[i] != ti[i] || math.Abs(rep.TrainDist[i]-td[i]) > 1e-9*td[i] {
				t.Fatalf("training %d: nearest %d at %v, want %d at %v", i, rep.TrainNearest[i], rep.TrainDist[i], ti[i], td[i])
			}
			if opt.TrainGroups != nil && groups[rep.TrainNearest[i]] == groups[i] {
				t.Fatalf("training %d: neighbour from its own run", i)
			}
		}
		if rep.Memorized != 10.0/40 {
			t.Fatalf("memorized fraction %v, want 0.25 (the 10 noisy copies)", rep.Memorized)
		}
		if want := rep.GenToTrain.Median / rep.TrainToTrain.Median; rep.MedianRatio != want {
			t.Fatalf("median ratio %v, want %v", rep.MedianRatio, want)
		}
		if want := Percentile(td, 5); math.Abs(rep.Threshold-want) > 1e-9*want || rep.Percentile != 5 {
			t.Fatalf("threshold %v at percentile %v", rep.Threshold, rep.Percentile)
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatal(err)
		}
	}
	// Grouping must raise the reference distances: same-run checkpoints are the close ones.
	plain, _ := Novelty(gen, train)
	grouped, _ := Novelty(gen, train, NoveltyOptions{TrainGroups: groups})
	if grouped.TrainToTrain.Median <= plain.TrainToTrain.Median {
		t.Fatalf("grouped training median %v not above ungrouped %v", grouped.TrainToTrain.Median, plain.TrainToTrain.Median)
	}
}

func TestNoveltyErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	train := randSet(rng, 4, 5, 1)
	gen := randSet(rng, 2, 5, 1)
	if _, err := Novelty(gen, train[:1]); err == nil {
		t.Fatal("one training vector: no error")
	}
	if _, err := Novelty(gen, train, NoveltyOptions{TrainGroups: []int{0, 1}}); err == nil {
		t.Fatal("short group slice: no error")
	}
	if _, err := Novelty(gen, train, NoveltyOptions{TrainGroups: []int{3, 3, 3, 3}}); err == nil {
		t.Fatal("a single group: no error")
	}
	if _, err := Novelty(randSet(rng, 2, 6, 1), train); err == nil {
		t.Fatal("length mismatch: no error")
	}
}

func TestNoiseBaseline(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	const p = 20000
	trained := randSet(rng, 8, p, 1)
	target := 3.0
	sigma := MatchedSigma(target, p)
	noisy := NoiseBaseline(trained, sigma, 42)
	again := NoiseBaseline(trained, sigma, 42)
	var mean float64
	for i := range trained {
		d := math.Sqrt(sqDist(noisy[i], trained[i]))
		mean += d / float64(len(trained))
		for k := range noisy[i] {
			if noisy[i][k] != again[i][k] {
				t.Fatal("NoiseBaseline is not deterministic for a seed")
			}
		}
	}
	// ‖ε‖ concentrates at σ√p with spread σ/√2, so 8 draws average within a fraction of a percent.
	if math.Abs(mean-target) > 0.01*target {
		t.Fatalf("mean noise norm %v, want about %v", mean, target)
	}
	if trained[0][0] == noisy[0][0] {
		t.Fatal("noise not added")
	}
	// Small p: E‖ε‖ for p = 1 is σ·√(2/π).
	if s := MatchedSigma(1, 1); math.Abs(s-math.Sqrt(math.Pi/2)) > 1e-12 {
		t.Fatalf("MatchedSigma(1,1) = %v, want √(π/2)", s)
	}
}

// BenchmarkNovelty: 256 generated nets against a zoo of 512 checkpoints (e.g. 64 runs × 8), P = 25,450.
func BenchmarkNovelty(b *testing.B) {
	rng := rand.New(rand.NewPCG(27, 28))
	const p = 25450
	gen, train := randSet(rng, 256, p, 0.05), randSet(rng, 512, p, 0.05)
	groups := make([]int, len(train))
	for i := range groups {
		groups[i] = i / 8
	}
	for b.Loop() {
		if _, err := Novelty(gen, train, NoveltyOptions{TrainGroups: groups}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNearestSelfTiled(t *testing.T) {
	// 16-row tiles (34 rows: 16+16+2), so mirrored off-diagonal tiles are exercised;
	// duplicates check the zero distance and the smaller-index tie rule.
	rng := rand.New(rand.NewPCG(29, 30))
	const p = 1001
	defer func(old int) { tileBytes = old }(tileBytes)
	tileBytes = 8 * 16 * p // 16-row tiles
	set := randSet(rng, 34, p, 1)
	set[30] = append([]float32(nil), set[5]...)
	set[33] = append([]float32(nil), set[5]...)
	direct := make([][]float64, len(set))
	for i := range set {
		direct[i] = make([]float64, len(set))
		for j := range i {
			direct[i][j] = math.Sqrt(sqDist(set[i], set[j]))
			direct[j][i] = direct[i][j]
		}
	}
	groups := make([]int, len(set))
	for i := range groups {
		groups[i] = i % 7
	}
	for _, skip := range []func(i, j int) bool{
		func(i, j int) bool { return i == j },
		func(i, j int) bool { return groups[i] == groups[j] },
	} {
		d, idx := nearest(set, set, true, skip)
		for i := range set {
			wd, wi := math.Inf(1), -1
			for j, v := range direct[i] {
				if !skip(i, j) && v < wd {
					wd, wi = v, j
				}
			}
			if idx[i] != wi || math.Abs(d[i]-wd) > 1e-10*wd {
				t.Fatalf("vector %d: nearest %d at %v, want %d at %v", i, idx[i], d[i], wi, wd)
			}
		}
	}
	d, idx := nearest(set, set, true, func(i, j int) bool { return i == j })
	if idx[5] != 30 || idx[30] != 5 || idx[33] != 5 || d[5] != 0 || d[33] != 0 {
		t.Fatalf("duplicates: nearest of 5, 30, 33 = %d, %d, %d at %v, %v", idx[5], idx[30], idx[33], d[5], d[33])
	}
}

func TestDistinctNearest(t *testing.T) {
	r := NoveltyReport{GenNearest: []int{4, 1, 4, 4, 2}}
	if got := r.DistinctNearest(); got != 3 {
		t.Errorf("DistinctNearest of %v = %d, want 3", r.GenNearest, got)
	}
}
