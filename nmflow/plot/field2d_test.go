package plot

import (
	"bytes"
	"image/color"
	"math"
	"sort"
	"testing"

	"gonum.org/v1/plot/vg"
)

// rotation is the field v(x, y) = (−y, x), evaluated on a flat [N,2] batch.
func rotation(pts []float32) []float32 {
	out := make([]float32, len(pts))
	for i := 0; i < len(pts); i += 2 {
		out[i], out[i+1] = -pts[i+1], pts[i]
	}
	return out
}

func TestGridArrows(t *testing.T) {
	arrows, err := GridArrows(-1, 1, 0, 2, 3, 2, rotation)
	if err != nil {
		t.Fatal(err)
	}
	if len(arrows) != 6 {
		t.Fatalf("got %d arrows, want 6", len(arrows))
	}
	// Row-major from (xmin, ymin): the last point is (1, 2), with velocity (−2, 1).
	if a := arrows[5]; a != (Arrow{X: 1, Y: 2, U: -2, V: 1}) {
		t.Errorf("last arrow %+v, want {1 2 -2 1}", a)
	}
	if a := arrows[1]; a.X != 0 || a.Y != 0 {
		t.Errorf("second arrow at (%g, %g), want (0, 0)", a.X, a.Y)
	}
	if _, err := GridArrows(0, 1, 0, 1, 1, 4, rotation); err == nil {
		t.Error("nx = 1 accepted")
	}
	if _, err := GridArrows(0, 1, 0, 1, 2, 2, func([]float32) []float32 { return nil }); err == nil {
		t.Error("a field returning no values accepted")
	}
}

func TestQuiverScaleAndRange(t *testing.T) {
	arrows, err := GridArrows(-2, 2, -2, 2, 5, 5, rotation)
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQuiver(arrows)
	if err != nil {
		t.Fatal(err)
	}
	// Grid spacing 1; the 90th percentile of the speeds |(x, y)| sets the scale, the fastest
	// arrows (2√2) are capped at 1.4 spacings.
	speeds := make([]float64, 0, len(arrows))
	for _, a := range arrows {
		speeds = append(speeds, math.Hypot(a.U, a.V))
	}
	sort.Float64s(speeds)
	if want := 0.9 / quantile(speeds, 0.9); math.Abs(q.Scale-want) > 1e-12 {
		t.Errorf("scale %g, want %g", q.Scale, want)
	}
	if q.Fastest != 2*math.Sqrt2 || q.MaxLength != 1.4 {
		t.Errorf("fastest %g, max length %g; want 2√2, 1.4", q.Fastest, q.MaxLength)
	}
	xmin, xmax, ymin, ymax := q.DataRange()
	if xmin > -2 || xmax < 2 || ymin > -2 || ymax < 2 || xmax > 2+1.4 {
		t.Errorf("data range [%g,%g]×[%g,%g] does not cover the grid tightly", xmin, xmax, ymin, ymax)
	}
	for _, a := range arrows {
		if dx, dy := q.delta(a); math.Hypot(dx, dy) > 1.4+1e-9 {
			t.Errorf("arrow at (%g, %g) is %g long, over the cap", a.X, a.Y, math.Hypot(dx, dy))
		}
	}
	if _, err := NewQuiver(nil); err == nil {
		t.Error("no arrows accepted")
	}
	if _, err := NewQuiver([]Arrow{{X: math.NaN()}}); err == nil {
		t.Error("NaN arrow accepted")
	}
	still, err := NewQuiver([]Arrow{{X: 0, Y: 0}, {X: 1, Y: 0}})
	if err != nil || still.Scale != 0 {
		t.Errorf("a still field: scale %g, err %v", still.Scale, err)
	}
}

func TestVectorFieldRenders(t *testing.T) {
	arrows, err := GridArrows(-2, 2, -2, 2, 9, 9, rotation)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]Option{nil, {WithColor(color.Black), WithTitle("rotation")}} {
		p, _, err := VectorField(arrows, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := AddPoints2D(p, []float32{0, 0, 1, 1, -1, 0.5}, "points"); err != nil {
			t.Fatal(err)
		}
		snaps := [][]float32{{0, 0, 1, 1}, {0.5, 0.2, 1.2, 0.8}, {1, 0.5, 1.3, 0.5}}
		if _, err := AddPaths2D(p, snaps, 1, "paths"); err != nil {
			t.Fatal(err)
		}
		b, err := Render(p, 4*vg.Inch, 4*vg.Inch, "png")
		if err != nil {
			t.Fatal(err)
		}
		mustPNG(t, b, 4*DefaultDPI, 4*DefaultDPI)
		b2, _ := Render(p, 4*vg.Inch, 4*vg.Inch, "png")
		if !bytes.Equal(b, b2) {
			t.Error("rendering twice gave different bytes")
		}
	}
}

func TestPlaneHelpersReject(t *testing.T) {
	p := Plane(WithTitle("empty"))
	if p.Title.Text != "empty" {
		t.Errorf("title %q", p.Title.Text)
	}
	if _, err := AddPoints2D(p, []float32{1, 2, 3}, ""); err == nil {
		t.Error("odd-length points accepted")
	}
	if _, err := AddPoints2D(nil, []float32{1, 2}, ""); err == nil {
		t.Error("nil plot accepted")
	}
	if _, err := AddPaths2D(p, [][]float32{{0, 0}}, 0, ""); err == nil {
		t.Error("a one-snapshot path accepted")
	}
	if _, err := AddPaths2D(p, [][]float32{{0, 0}, {0, 0, 1, 1}}, 0, ""); err == nil {
		t.Error("ragged snapshots accepted")
	}
}
