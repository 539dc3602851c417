package spline

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// closeTo reports |got − want| ≤ tol·max(|want|, 1).
func closeTo(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1)
}

// randomKnots returns n strictly increasing knots with random gaps between 0.05 and 1.
func randomKnots(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	x[0] = rng.Float64()*2 - 1
	for i := 1; i < n; i++ {
		x[i] = x[i-1] + 0.05 + 0.95*rng.Float64()
	}
	return x
}

// Not-a-knot is exact on cubics: the cubic itself satisfies every condition of the system.
// randomSeries returns random knots, N(0,1) values and their interpolant of the given kind.
func randomSeries(t *testing.T, rng *rand.Rand, kind Kind, n int) (x, y []float64, b *Basis, s *Spline) {
	t.Helper()
	x = randomKnots(rng, n)
	y = make([]float64, n)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	b, err := NewBasis(kind, x)
	if err == nil {
		s, err = b.Spline(y)
	}
	if err != nil {
		t.Fatal(err)
	}
	return x, y, b, s
}

func TestCubicReproducesCubicPolynomial(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 4; n <= 12; n++ {
		x := randomKnots(rng, n)
		c := [4]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		p := func(t float64) float64 { return c[0] + t*(c[1]+t*(c[2]+t*c[3])) }
		dp := func(t float64) float64 { return c[1] + t*(2*c[2]+t*3*c[3]) }
		y := make([]float64, n)
		for i, xi := range x {
			y[i] = p(xi)
		}
		s, err := New(x, y)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := x[0], x[n-1]
		for j := range 101 {
			tt := lo - 0.1 + (hi-lo+0.2)*float64(j)/100
			if got, want := s.Eval(tt), p(tt); !closeTo(got, want, 1e-11) {
				t.Errorf("n=%d: Eval(%v) = %v, cubic gives %v", n, tt, got, want)
			}
			if got, want := s.Deriv(tt), dp(tt); !closeTo(got, want, 1e-10) {
				t.Errorf("n=%d: Deriv(%v) = %v, cubic gives %v", n, tt, got, want)
			}
		}
	}
}

type scipyCase struct {
	Name             string
	Knots, Values, T []float64
	Value, Deriv     []float64
}

func TestCubicMatchesScipy(t *testing.T) {
	raw, err := os.ReadFile("testdata/scipy.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		ScipyVersion string `json:"scipy_version"`
		Cases        []scipyCase
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 10 {
		t.Fatalf("testdata/scipy.json holds %d cases, want 10: regenerate it with gen_scipy.py", len(ref.Cases))
	}
	seen := map[int]bool{}
	for _, c := range ref.Cases {
		seen[len(c.Knots)] = true
		s, err := New(c.Knots, c.Values)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		b, err := NewBasis(Cubic, c.Knots)
		if err != nil {
			t.Fatal(err)
		}
		outside := 0
		w, dw := make([]float64, len(c.Knots)), make([]float64, len(c.Knots))
		for i, tt := range c.T {
			if tt < c.Knots[0] || tt > c.Knots[len(c.Knots)-1] {
				outside++
			}
			if got := s.Eval(tt); !closeTo(got, c.Value[i], 1e-10) {
				t.Errorf("%s: Eval(%v) = %.17g, scipy %s gives %.17g", c.Name, tt, got, ref.ScipyVersion, c.Value[i])
			}
			if got := s.Deriv(tt); !closeTo(got, c.Deriv[i], 1e-10) {
				t.Errorf("%s: Deriv(%v) = %.17g, scipy %s gives %.17g", c.Name, tt, got, ref.ScipyVersion, c.Deriv[i])
			}
			b.Weights(tt, w, dw)
			if got := dot(w, c.Values); !closeTo(got, c.Value[i], 1e-10) {
				t.Errorf("%s: Σ w_k(%v)·y_k = %.17g, scipy gives %.17g", c.Name, tt, got, c.Value[i])
			}
			if got := dot(dw, c.Values); !closeTo(got, c.Deriv[i], 1e-10) {
				t.Errorf("%s: Σ w'_k(%v)·y_k = %.17g, scipy gives %.17g", c.Name, tt, got, c.Deriv[i])
			}
		}
		if outside == 0 {
			t.Errorf("%s: no point outside the knots, extrapolation untested", c.Name)
		}
	}
	for _, n := range []int{2, 3, 4, 5, 11} {
		if !seen[n] {
			t.Errorf("testdata/scipy.json has no case with %d knots", n)
		}
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestDerivMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kind := range []Kind{Cubic, Linear} {
		for n := 2; n <= 9; n++ {
			x, _, b, s := randomSeries(t, rng, kind, n)
			const h = 1e-6
			for j := range 50 {
				tt := x[0] + (x[n-1]-x[0])*rng.Float64()
				// Keep the stencil inside one piece: across a knot the linear slope jumps.
				i, _, _ := b.segment(tt)
				if tt-h <= x[i] || tt+h >= x[i+1] {
					continue
				}
				fd := (s.Eval(tt+h) - s.Eval(tt-h)) / (2 * h)
				if got := s.Deriv(tt); !closeTo(got, fd, 1e-6) {
					t.Errorf("%v n=%d point %d: Deriv(%v) = %v, central difference %v", kind, n, j, tt, got, fd)
				}
			}
		}
	}
}

func TestTwoKnotsIsLine(t *testing.T) {
	x, y := []float64{-0.5, 1.5}, []float64{2, -1}
	slope := (y[1] - y[0]) / (x[1] - x[0])
	for _, kind := range []Kind{Cubic, Linear} {
		b, _ := NewBasis(kind, x)
		s, err := b.Spline(y)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []float64{-1, -0.5, 0, 0.7, 1.5, 2} {
			if got, want := s.Eval(tt), y[0]+slope*(tt-x[0]); !closeTo(got, want, 1e-14) {
				t.Errorf("%v: Eval(%v) = %v, line gives %v", kind, tt, got, want)
			}
			if got := s.Deriv(tt); !closeTo(got, slope, 1e-14) {
				t.Errorf("%v: Deriv(%v) = %v, line slope %v", kind, tt, got, slope)
			}
		}
	}
}

func TestThreeKnotsIsParabola(t *testing.T) {
	x, y := []float64{0, 0.1, 1}, []float64{1, 3, -2}
	// Lagrange form of the parabola through the three points.
	l := func(t float64) (v, d float64) {
		for i := range 3 {
			j, k := (i+1)%3, (i+2)%3
			den := (x[i] - x[j]) * (x[i] - x[k])
			v += y[i] * (t - x[j]) * (t - x[k]) / den
			d += y[i] * (2*t - x[j] - x[k]) / den
		}
		return v, d
	}
	s, err := New(x, y)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []float64{-0.2, 0, 0.05, 0.1, 0.5, 1, 1.3} {
		v, d := l(tt)
		if got := s.Eval(tt); !closeTo(got, v, 1e-13) {
			t.Errorf("Eval(%v) = %v, parabola gives %v", tt, got, v)
		}
		if got := s.Deriv(tt); !closeTo(got, d, 1e-12) {
			t.Errorf("Deriv(%v) = %v, parabola gives %v", tt, got, d)
		}
	}
}

func TestWeightsPartitionOfUnity(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kind := range []Kind{Cubic, Linear} {
		for n := 2; n <= 12; n++ {
			x, y, b, s := randomSeries(t, rng, kind, n)
			w, dw := make([]float64, n), make([]float64, n)
			for range 40 {
				tt := x[0] - 0.2 + (x[n-1]-x[0]+0.4)*rng.Float64()
				b.Weights(tt, w, dw)
				var sw, sdw, adw float64
				for k := range n {
					sw, sdw, adw = sw+w[k], sdw+dw[k], adw+math.Abs(dw[k])
				}
				if math.Abs(sw-1) > 1e-12 {
					t.Errorf("%v n=%d t=%v: Σ w_k = %v, want 1", kind, n, tt, sw)
				}
				if math.Abs(sdw) > 1e-12*adw {
					t.Errorf("%v n=%d t=%v: Σ w'_k = %v, want 0 (Σ|w'_k| = %v)", kind, n, tt, sdw, adw)
				}
				if got, want := dot(w, y), s.Eval(tt); !closeTo(got, want, 1e-12) {
					t.Errorf("%v n=%d t=%v: Σ w_k·y_k = %v, Eval = %v", kind, n, tt, got, want)
				}
				if got, want := dot(dw, y), s.Deriv(tt); !closeTo(got, want, 1e-11) {
					t.Errorf("%v n=%d t=%v: Σ w'_k·y_k = %v, Deriv = %v", kind, n, tt, got, want)
				}
				b.Weights(tt, w, nil) // dw is optional
				if got := dot(w, y); !closeTo(got, s.Eval(tt), 1e-12) {
					t.Errorf("%v n=%d: Weights without dw gives value %v, want %v", kind, n, got, s.Eval(tt))
				}
			}
		}
	}
}

// P spans several of combine's blocks with a partial last one; 5 knots leave an odd anchor out of
// the pairs, 6 do not, and Linear uses only two anchors.
func TestFillMatchesPerSeries(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const p = 1100
	for _, n := range []int{5, 6} {
		x := randomKnots(rng, n)
		anchors := make([][]float32, n)
		for k := range anchors {
			anchors[k] = make([]float32, p)
			for j := range p {
				anchors[k][j] = float32(rng.NormFloat64())
			}
		}
		for _, kind := range []Kind{Cubic, Linear} {
			b, _ := NewBasis(kind, x)
			xt, dxt := make([]float32, p), make([]float32, p)
			for _, tt := range []float64{x[0] - 0.1, x[0], (x[1] + x[2]) / 2, x[3], x[n-1], x[n-1] + 0.1} {
				if err := b.Fill(anchors, tt, xt, dxt); err != nil {
					t.Fatal(err)
				}
				bad := 0
				y := make([]float64, n)
				for j := range p {
					for k := range n {
						y[k] = float64(anchors[k][j])
					}
					s, _ := b.Spline(y)
					// float32 outputs of float64 sums: equal up to the final rounding.
					if !closeTo(float64(xt[j]), s.Eval(tt), 1e-6) || !closeTo(float64(dxt[j]), s.Deriv(tt), 1e-6) {
						if bad++; bad <= 3 {
							t.Errorf("%v n=%d t=%v coordinate %d: Fill gives %v, %v; Eval, Deriv give %v, %v",
								kind, n, tt, j, xt[j], dxt[j], s.Eval(tt), s.Deriv(tt))
						}
					}
				}
				xOnly := make([]float32, p)
				if err := b.Fill(anchors, tt, xOnly, nil); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(xOnly, xt) {
					t.Errorf("%v n=%d t=%v: Fill without dx gives other values", kind, n, tt)
				}
			}
		}
	}
}

func TestLinear(t *testing.T) {
	x, y := []float64{0, 0.3, 0.4, 1}, []float64{1, -2, 5, 0}
	s, err := NewLinear(x, y)
	if err != nil {
		t.Fatal(err)
	}
	for k := range x {
		if got := s.Eval(x[k]); got != y[k] {
			t.Errorf("Eval at knot %d = %v, want %v exactly", k, got, y[k])
		}
	}
	slope := func(i int) float64 { return (y[i+1] - y[i]) / (x[i+1] - x[i]) }
	// Inside piece i, and at knot i < n−1, the slope is that of piece i; the last knot takes the last piece.
	for i := range len(x) - 1 {
		for _, tt := range []float64{x[i], (x[i] + x[i+1]) / 2} {
			if got := s.Deriv(tt); !closeTo(got, slope(i), 1e-14) {
				t.Errorf("Deriv(%v) = %v, want slope of piece %d = %v", tt, got, i, slope(i))
			}
		}
	}
	if got := s.Deriv(x[3]); !closeTo(got, slope(2), 1e-14) {
		t.Errorf("Deriv at the last knot = %v, want last piece's slope %v", got, slope(2))
	}
	// Outside, the end pieces extend.
	if got, want := s.Eval(-0.1), y[0]-0.1*slope(0); !closeTo(got, want, 1e-14) {
		t.Errorf("Eval(-0.1) = %v, want %v", got, want)
	}
	if got, want := s.Eval(1.5), y[3]+0.5*slope(2); !closeTo(got, want, 1e-14) {
		t.Errorf("Eval(1.5) = %v, want %v", got, want)
	}
}

func TestBadInput(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name          string
		knots, values []float64
		want          string
	}{
		{"no knots", nil, nil, "at least 2 knots, got 0"},
		{"one knot", []float64{0}, []float64{1}, "at least 2 knots, got 1"},
		{"equal knots", []float64{0, 0.5, 0.5, 1}, []float64{1, 2, 3, 4}, "strictly increasing"},
		{"decreasing knots", []float64{1, 0}, []float64{1, 2}, "strictly increasing"},
		{"NaN knot", []float64{0, nan, 1}, []float64{1, 2, 3}, "knots[1] = NaN"},
		{"Inf knot", []float64{0, 1, math.Inf(1)}, []float64{1, 2, 3}, "must be finite"},
		{"NaN value", []float64{0, 1, 2}, []float64{1, nan, 3}, "values[1] = NaN"},
		{"too few values", []float64{0, 1, 2}, []float64{1, 2}, "got 2 values for 3 knots"},
	} {
		for _, kind := range []Kind{Cubic, Linear} {
			b, err := NewBasis(kind, c.knots)
			if err == nil {
				_, err = b.Spline(c.values)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s (%v): error %v, want one saying %q", c.name, kind, err, c.want)
			}
		}
	}
	if _, err := NewBasis(Kind(7), []float64{0, 1}); err == nil {
		t.Error("NewBasis accepted Kind(7)")
	}
	if _, err := ParseKind("quadratic"); err == nil {
		t.Error("ParseKind accepted \"quadratic\"")
	}
	for _, k := range []Kind{Cubic, Linear} {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}

	b, _ := NewBasis(Cubic, []float64{0, 0.5, 1})
	x := make([]float32, 4)
	ok := [][]float32{make([]float32, 4), make([]float32, 4), make([]float32, 4)}
	for _, c := range []struct {
		name    string
		anchors [][]float32
		dx      []float32
		want    string
	}{
		{"anchor count", ok[:2], nil, "2 anchors for 3 knots"},
		{"anchor length", [][]float32{ok[0], ok[1], make([]float32, 3)}, nil, "anchor 2 has length 3"},
		{"dx length", ok, make([]float32, 5), "len(dx) = 5"},
	} {
		if err := b.Fill(c.anchors, 0.3, x, c.dx); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Fill with wrong %s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("Weights with a short w did not panic")
		}
	}()
	b.Weights(0.3, make([]float64, 2), nil)
}

// The piece that evaluates t: right-closed at interior knots, end pieces outside, NaN stays NaN.
func TestSegment(t *testing.T) {
	x := []float64{0, 0.25, 0.5, 1}
	b, _ := NewBasis(Linear, x)
	for _, c := range []struct {
		t    float64
		want int
	}{{-1, 0}, {0, 0}, {0.1, 0}, {0.25, 1}, {0.6, 2}, {1, 2}, {3, 2}} {
		if i, _, _ := b.segment(c.t); i != c.want {
			t.Errorf("segment(%v) = %d, want %d", c.t, i, c.want)
		}
	}
	if !slices.Equal(b.Knots(), x) || b.NumKnots() != 4 || b.Kind() != Linear {
		t.Errorf("accessors: Knots %v, NumKnots %d, Kind %v", b.Knots(), b.NumKnots(), b.Kind())
	}
	s, _ := New(x, []float64{1, 2, 3, 4})
	if v := s.Eval(math.NaN()); !math.IsNaN(v) {
		t.Errorf("Eval(NaN) = %v, want NaN", v)
	}
}
