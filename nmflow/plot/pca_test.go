package plot

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

func absCos(a, b []float64) float64 {
	return math.Abs(floats.Dot(a, b)) / (floats.Norm(a, 2) * floats.Norm(b, 2))
}

func TestPCARecoversDirection(t *testing.T) {
	z, dir, side := synthZoo(5, 6)
	pca, err := FitPCAZoo(z)
	if err != nil {
		t.Fatal(err)
	}
	if c := absCos(pca.Components[0], dir); c < 0.99 {
		t.Errorf("|cos(PC1, dir)| = %.4f, want > 0.99", c)
	}
	if c := absCos(pca.Components[1], side); c < 0.99 {
		t.Errorf("|cos(PC2, side)| = %.4f, want > 0.99", c)
	}
	e := pca.Explained
	if !(e[0] > e[1] && e[1] > 0 && e[0]+e[1] <= 1+1e-12) {
		t.Errorf("explained = %v, want e0 > e1 > 0 and e0+e1 <= 1", e)
	}
	if e[0]+e[1] < 0.95 {
		t.Errorf("explained = %v, the two planted directions should hold > 95%%", e)
	}
	for c := 0; c < 2; c++ {
		if n := floats.Norm(pca.Components[c], 2); math.Abs(n-1) > 1e-9 {
			t.Errorf("|PC%d| = %v, want 1", c+1, n)
		}
	}
	if d := floats.Dot(pca.Components[0], pca.Components[1]); math.Abs(d) > 1e-9 {
		t.Errorf("PC1·PC2 = %v, want 0", d)
	}

	// The mean projects to the origin.
	m32 := make([]float32, len(pca.Mean))
	for i, v := range pca.Mean {
		m32[i] = float32(v)
	}
	if x, y := pca.Project(m32); math.Abs(x) > 1e-6 || math.Abs(y) > 1e-6 {
		t.Errorf("Project(mean) = (%g, %g), want (0, 0)", x, y)
	}

	// FitPCAZoo orients training along +PC1.
	x0, _ := pca.Project(z.At(0, 0))
	x1, _ := pca.Project(z.At(0, z.Checkpoints-1))
	if x1 <= x0 {
		t.Errorf("training should move towards +PC1: init x=%g, final x=%g", x0, x1)
	}
}

// exactTop2 computes the reference answer with a full SVD of the centred data.
func exactTop2(rows [][]float32) (comp [2][]float64, explained [2]float64) {
	n, p := len(rows), len(rows[0])
	a := mat.NewDense(n, p, nil)
	for i, r := range rows {
		for j, v := range r {
			a.Set(i, j, float64(v))
		}
	}
	for j := 0; j < p; j++ {
		col := mat.Col(nil, j, a)
		m := floats.Sum(col) / float64(n)
		for i := range col {
			a.Set(i, j, col[i]-m)
		}
	}
	var svd mat.SVD
	svd.Factorize(a, mat.SVDThin)
	s := svd.Values(nil)
	var v mat.Dense
	svd.VTo(&v)
	var total float64
	for _, x := range s {
		total += x * x
	}
	for c := 0; c < 2; c++ {
		comp[c] = mat.Col(nil, c, &v)
		explained[c] = s[c] * s[c] / total
	}
	return comp, explained
}

// lowRankRows draws n rows of length p with a decaying spectrum (so the top-2 plane is well
// defined) plus noise.
func lowRankRows(n, p int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	const rank = 8
	basis := make([][]float64, rank)
	for c := range basis {
		basis[c] = unit(rng, p)
	}
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, p)
		for c := 0; c < rank; c++ {
			a := rng.NormFloat64() * 10 / float64(c+1) / float64(c+1)
			for j := range rows[i] {
				rows[i][j] += float32(a * basis[c][j])
			}
		}
		for j := range rows[i] {
			rows[i][j] += float32(0.5 + 0.01*rng.NormFloat64()) // an offset the centring must remove
		}
	}
	return rows
}

func TestPCAMatchesSVD(t *testing.T) {
	for _, tc := range []struct{ n, p int }{{60, 400}, {400, 30}, {3, 50}, {40, 2}, {25, 26}} {
		rows := lowRankRows(tc.n, tc.p, uint64(tc.n*1000+tc.p))
		pca, err := FitPCA(rows)
		if err != nil {
			t.Fatal(err)
		}
		comp, expl := exactTop2(rows)
		for c := 0; c < 2; c++ {
			if cs := absCos(pca.Components[c], comp[c]); cs < 1-1e-6 {
				t.Errorf("n=%d p=%d: |cos(PC%d, exact)| = %.12f", tc.n, tc.p, c+1, cs)
			}
			if d := math.Abs(pca.Explained[c] - expl[c]); d > 1e-6 {
				t.Errorf("n=%d p=%d: explained[%d] = %v, exact %v", tc.n, tc.p, c, pca.Explained[c], expl[c])
			}
		}
	}
}

// zooRows mimics a real zoo: Kaiming-uniform inits (isotropic, so R near-equal directions of
// variance), a shared drift and a run-specific one, curved in time, plus noise.
func zooRows(runs, ckpts, p int, drift float64) [][]float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	bound := 1 / math.Sqrt(784)
	d := unit(rng, p)
	rows := make([][]float32, 0, runs*ckpts)
	for r := 0; r < runs; r++ {
		w0 := make([]float64, p)
		for j := range w0 {
			w0[j] = bound * (2*rng.Float64() - 1)
		}
		own := unit(rng, p)
		for k := 0; k < ckpts; k++ {
			t := math.Sqrt(float64(k) / float64(ckpts-1))
			w := make([]float32, p)
			for j := range w {
				w[j] = float32(w0[j] + t*(drift*d[j]+own[j]) + 0.002*rng.NormFloat64())
			}
			rows = append(rows, w)
		}
	}
	return rows
}

// TestPCAClusteredSpectrum checks the case that defeats plain subspace iteration: PC2 sits
// in a cluster of near-equal variances from the random inits.
func TestPCAClusteredSpectrum(t *testing.T) {
	rows := zooRows(12, 10, 1500, 3)
	pca, err := FitPCA(rows)
	if err != nil {
		t.Fatal(err)
	}
	comp, expl := exactTop2(rows)
	for c := 0; c < 2; c++ {
		if d := math.Abs(pca.Explained[c]-expl[c]) / expl[c]; d > 1e-6 {
			t.Errorf("explained[%d] = %v, exact %v", c, pca.Explained[c], expl[c])
		}
	}
	if cs := absCos(pca.Components[0], comp[0]); cs < 1-1e-6 {
		t.Errorf("|cos(PC1, exact)| = %.12f", cs)
	}
}

func TestPCADegenerate(t *testing.T) {
	// Two rows: one direction of variance, PC2 must be zero, not noise.
	rows := [][]float32{{1, 2, 3}, {3, 2, 1}}
	pca, err := FitPCA(rows)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(pca.Explained[0]-1) > 1e-6 || pca.Explained[1] != 0 || floats.Norm(pca.Components[1], 2) != 0 {
		t.Errorf("rank-1 data: explained %v, |PC2| = %v", pca.Explained, floats.Norm(pca.Components[1], 2))
	}
	// Identical rows: no variance at all.
	pca, err = FitPCA([][]float32{{1, 2}, {1, 2}, {1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if x, y := pca.Project([]float32{5, 5}); x != 0 || y != 0 || pca.Explained != [2]float64{} {
		t.Errorf("constant data: projection (%g,%g), explained %v; want zeros", x, y, pca.Explained)
	}
}

func TestPCAErrors(t *testing.T) {
	for name, rows := range map[string][][]float32{
		"one row": {{1, 2}},
		"no rows": nil,
		"empty":   {{}, {}},
		"ragged":  {{1, 2}, {1}},
		"nan":     {{1, 2}, {float32(math.NaN()), 0}},
		"inf":     {{1, float32(math.Inf(1))}, {1, 0}},
	} {
		if _, err := FitPCA(rows); err == nil {
			t.Errorf("%s: FitPCA succeeded, want an error", name)
		}
	}
	if _, err := FitPCAFlat(make([]float32, 5), 2, 3); err == nil {
		t.Error("FitPCAFlat with a wrong length succeeded")
	}
}

func TestPCADeterministicAcrossCPUs(t *testing.T) {
	rows := lowRankRows(120, 3000, 3) // big enough to run in parallel
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	a, err := FitPCA(rows)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(7)
	b, err := FitPCA(rows)
	if err != nil {
		t.Fatal(err)
	}
	if a.Explained != b.Explained || !floats.Equal(a.Components[0], b.Components[0]) || !floats.Equal(a.Components[1], b.Components[1]) {
		t.Errorf("PCA differs between 1 and 7 CPUs: %v vs %v", a.Explained, b.Explained)
	}
}

func TestRowsAndFlat(t *testing.T) {
	z, _, _ := synthZoo(3, 4)
	a, err := FitPCAFlat(z.Weights, z.Runs*z.Checkpoints, z.Params)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FitPCA(Rows(z.Weights, z.Params))
	if err != nil {
		t.Fatal(err)
	}
	if a.Explained != b.Explained {
		t.Errorf("flat and row fits differ")
	}
	if got := len(Rows(z.Weights, z.Params)); got != z.Runs*z.Checkpoints {
		t.Errorf("Rows gave %d rows", got)
	}
}

// BenchmarkFitPCA is the zoo-sized case from the design: 50 runs × 20 checkpoints × 25,000
// weights.
func BenchmarkFitPCA(b *testing.B) {
	rows := zooRows(50, 20, 25000, 1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitPCA(rows); err != nil {
			b.Fatal(err)
		}
	}
}
