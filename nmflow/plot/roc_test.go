package plot

import "testing"

// ROC curves render on the unit square; mismatched rates are refused.
func TestROC(t *testing.T) {
	p, err := ROC([]Series{{Name: "detectron", X: []float64{0, 0, 0.5, 1}, Y: []float64{0, 0.6, 0.9, 1}}}, WithTitle("|Q| = 20"))
	if err != nil {
		t.Fatal(err)
	}
	if p.X.Min != 0 || p.X.Max != 1 || p.Y.Min != 0 || p.Y.Max < 1 {
		t.Errorf("axes [%g,%g]×[%g,%g], want the unit square", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
	b, err := Render(p, DefaultWidth, DefaultHeight, "png")
	if err != nil {
		t.Fatal(err)
	}
	mustPNG(t, b, 5*DefaultDPI, int(3.5*DefaultDPI))
	if _, err := ROC([]Series{{X: []float64{0, 1}, Y: []float64{0}}}); err == nil {
		t.Error("mismatched rates accepted")
	}
}
