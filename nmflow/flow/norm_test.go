package flow

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// TestNormalizerStatistics checks μ and s of every mode on a hand-computed example.
func TestNormalizerStatistics(t *testing.T) {
	l := arch.NewLayout(
		arch.Segment{Name: "a", Shape: []int{2}, FanIn: 1, Kind: arch.Weight},
		arch.Segment{Name: "b", Shape: []int{3}, FanIn: 1, Kind: arch.Bias},
	)
	rows := [][]float32{{1, 3, 0, 0, 6}, {3, 5, 0, 3, 3}}
	// Segment a holds {1,3,3,5}: mean 3, variance 2. Segment b holds {0,0,6,0,3,3}: mean 2,
	// variance 5. Per parameter: (2, 1), (4, 1), (0, 0 → floored at 1e-3·√5), (1.5, 1.5), (4.5, 1.5).
	r2, r5 := float32(math.Sqrt(2)), float32(math.Sqrt(5))
	for _, tc := range []struct {
		mode      string
		mean, std []float32
	}{
		{NormNone, []float32{0, 0, 0, 0, 0}, []float32{1, 1, 1, 1, 1}},
		{NormLayer, []float32{3, 3, 2, 2, 2}, []float32{r2, r2, r5, r5, r5}},
		{NormParam, []float32{2, 4, 0, 1.5, 4.5}, []float32{1, 1, 1e-3 * r5, 1.5, 1.5}},
	} {
		n, err := FitNormalizer(tc.mode, l, rows)
		if err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		if n.Mode != tc.mode {
			t.Errorf("%s: mode %q", tc.mode, n.Mode)
		}
		for i := range tc.mean {
			if !close32(n.Mean[i], tc.mean[i], 1e-6) || !close32(n.Std[i], tc.std[i], 1e-6) {
				t.Errorf("%s: parameter %d has (μ, s) = (%v, %v), want (%v, %v)", tc.mode, i, n.Mean[i], n.Std[i], tc.mean[i], tc.std[i])
			}
		}
		if err := n.check(l.Size()); err != nil {
			t.Errorf("%s: fitted normalizer fails its own check: %v", tc.mode, err)
		}
		// The normalized rows have, per segment (layer) or per parameter, mean 0 and std 1.
		if tc.mode == NormLayer {
			z := append(append([]float32(nil), rows[0]...), rows[1]...)
			n.Forward(z)
			for _, s := range l.Segments {
				var vals []float32
				for r := 0; r < 2; r++ {
					vals = append(vals, z[r*5+s.Offset:r*5+s.Offset+s.Size()]...)
				}
				m, sd := moments(vals, len(vals), 1)
				if math.Abs(m[0]) > 1e-6 || math.Abs(sd[0]-1) > 1e-6 {
					t.Errorf("layer mode: segment %s normalizes to mean %v std %v", s.Name, m[0], sd[0])
				}
			}
		}
	}
	// A constant segment gets s = 1 in layer mode instead of a division by zero.
	n, err := FitNormalizer(NormLayer, l, [][]float32{{1, 3, 7, 7, 7}, {3, 5, 7, 7, 7}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Mean[2] != 7 || n.Std[2] != 1 {
		t.Errorf("constant segment: (μ, s) = (%v, %v), want (7, 1)", n.Mean[2], n.Std[2])
	}
}

// TestNormalizerRoundTrip: Inverse undoes Forward to float32 rounding, on [N,P] matrices, in all modes.
func TestNormalizerRoundTrip(t *testing.T) {
	l := tinyLayout()
	p := l.Size()
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float32, 40)
	for i := range rows {
		rows[i] = make([]float32, p)
		for j := range rows[i] {
			rows[i][j] = float32(3*rng.NormFloat64() + float64(j%5) - 2)
		}
	}
	rows[0][5] = 1e4 // an outlier far from the mean
	for j := range rows {
		rows[j][p-1] = 0.25 // a parameter that never moves (NormParam floors its std)
	}
	for _, mode := range []string{NormNone, NormLayer, NormParam} {
		n, err := FitNormalizer(mode, l, rows)
		if err != nil {
			t.Fatal(err)
		}
		var w []float32
		for _, r := range rows {
			w = append(w, r...)
		}
		z := append([]float32(nil), w...)
		n.Forward(z)
		if mode != NormNone && equalFloats(z, w) {
			t.Fatalf("%s: Forward changed nothing", mode)
		}
		n.Inverse(z)
		for i := range w {
			j := i % p
			scale := math.Max(math.Abs(float64(w[i])), math.Abs(float64(n.Mean[j])))
			if d := math.Abs(float64(z[i] - w[i])); d > 1e-6*math.Max(scale, 1e-3) {
				t.Fatalf("%s: value %d: %v → %v after Forward∘Inverse (error %.3g)", mode, i, w[i], z[i], d)
			}
		}
		// And Forward undoes Inverse in normalized space.
		u := make([]float32, 3*p)
		for i := range u {
			u[i] = float32(rng.NormFloat64())
		}
		v := append([]float32(nil), u...)
		n.Inverse(v)
		n.Forward(v)
		for i := range u {
			if d := math.Abs(float64(v[i] - u[i])); d > 1e-4*math.Max(1, math.Abs(float64(u[i]))) && !(mode == NormParam && i%p == p-1) {
				t.Fatalf("%s: normalized value %d: %v → %v after Inverse∘Forward", mode, i, u[i], v[i])
			}
		}
	}
}

func TestNormalizerErrors(t *testing.T) {
	l := tinyLayout()
	p := l.Size()
	ok := [][]float32{make([]float32, p), make([]float32, p)}
	for name, tc := range map[string]struct {
		mode string
		rows [][]float32
		want string
	}{
		"one row":      {NormLayer, ok[:1], "at least 2"},
		"short row":    {NormLayer, [][]float32{make([]float32, p), make([]float32, p-1)}, "vector 1"},
		"unknown mode": {"batch", ok, "unknown normalization"},
	} {
		if _, err := FitNormalizer(tc.mode, l, tc.rows); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
	n, err := FitNormalizer(NormLayer, l, ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.check(p + 1); err == nil {
		t.Error("check accepted a normalizer of the wrong size")
	}
	n.Std[3] = 0
	if err := n.check(p); err == nil {
		t.Error("check accepted a zero std")
	}
	n.Std[3], n.Mean[4] = 1, float32(math.NaN())
	if err := n.check(p); err == nil {
		t.Error("check accepted a NaN mean")
	}
}

func close32(a, b float32, rel float64) bool {
	return math.Abs(float64(a-b)) <= rel*math.Max(1e-30, math.Max(math.Abs(float64(a)), math.Abs(float64(b))))
}
