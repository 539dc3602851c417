package plot

import (
	"bytes"
	"math"
	"testing"

	"gonum.org/v1/plot/vg"
)

func TestLandscapeRenders(t *testing.T) {
	bowl := func(x, y float64) float64 { return x*x + 2*y*y + math.Exp(-x*x-(y-1)*(y-1)) }
	p, err := Landscape("loss", -2, 2, -1, 3, 40, bowl, WithTitle("a bowl with a bump"))
	if err != nil {
		t.Fatal(err)
	}
	if p.X.Min != -2 || p.X.Max != 2 || p.Y.Min != -1 || p.Y.Max != 3 {
		t.Errorf("axes [%g,%g]×[%g,%g], want the box [-2,2]×[-1,3]", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
	if _, err := AddPoints2D(p, []float32{0, 0, 1, 1}, "points"); err != nil {
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
	flat, err := Landscape("constant", 0, 1, 0, 1, 5, func(x, y float64) float64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(flat, 3*vg.Inch, 3*vg.Inch, "png"); err != nil {
		t.Errorf("a constant landscape should render (no heat map, no contours): %v", err)
	}
}

func TestLandscapeRejects(t *testing.T) {
	f := func(x, y float64) float64 { return x }
	for name, call := range map[string]func() error{
		"n < 2":     func() error { _, err := Landscape("f", 0, 1, 0, 1, 1, f); return err },
		"empty box": func() error { _, err := Landscape("f", 1, 1, 0, 1, 5, f); return err },
		"nil f":     func() error { _, err := Landscape("f", 0, 1, 0, 1, 5, nil); return err },
		"NaN value": func() error {
			_, err := Landscape("f", 0, 1, 0, 1, 5, func(x, y float64) float64 { return math.NaN() })
			return err
		},
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
