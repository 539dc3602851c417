package plot

import (
	"math"
	"testing"

	gplot "gonum.org/v1/plot"
)

func TestLines(t *testing.T) {
	nfe := []float64{1, 2, 4, 8, 16}
	err1, err4 := make([]float64, len(nfe)), make([]float64, len(nfe))
	for i, n := range nfe {
		err1[i], err4[i] = 1/n, math.Pow(n, -4)
	}
	err4[0] = 0 // not drawable on a log axis: skipped
	p, err := Lines("evaluations", "error", true, true, []Series{
		{Name: "euler", X: nfe, Y: err1},
		{Name: "rk4", X: nfe, Y: err4, Dashed: true},
	}, WithTitle("convergence"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.X.Scale.(gplot.LogScale); !ok {
		t.Error("x axis is not logarithmic")
	}
	if p.Y.Min > math.Pow(16, -4) || p.Y.Max < 1 {
		t.Errorf("y range [%g, %g] misses the data", p.Y.Min, p.Y.Max)
	}
	b, err := Render(p, DefaultWidth, DefaultHeight, "png")
	if err != nil {
		t.Fatal(err)
	}
	mustPNG(t, b, 5*DefaultDPI, int(3.5*DefaultDPI))

	if _, err := Lines("x", "y", false, false, nil); err == nil {
		t.Error("no series accepted")
	}
	if _, err := Lines("x", "y", false, false, []Series{{X: []float64{1}, Y: nil}}); err == nil {
		t.Error("mismatched lengths accepted")
	}
	if _, err := Lines("x", "y", true, false, []Series{{X: []float64{-1, 0}, Y: []float64{1, 2}}}); err == nil {
		t.Error("a series with no drawable point accepted")
	}
}
