package plot

import "testing"

// Grouped bars render, start at zero, and refuse a group with the wrong number of values.
func TestGroupedBars(t *testing.T) {
	p, err := GroupedBars("accuracy", []string{"mnist", "fashion-mnist"}, []BarGroup{{Name: "w = 0", Values: []float64{0.4, 0.2}}, {Name: "w = 1", Values: []float64{0.8, 0.6}}}, WithTitle("per task"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Y.Min != 0 || p.Y.Max < 0.8 || p.Title.Text != "per task" {
		t.Errorf("y axis [%g,%g], title %q; want it from 0 past 0.8, titled", p.Y.Min, p.Y.Max, p.Title.Text)
	}
	b, err := Render(p, DefaultWidth, DefaultHeight, "png")
	if err != nil {
		t.Fatal(err)
	}
	mustPNG(t, b, 5*DefaultDPI, int(3.5*DefaultDPI))
	if _, err := GroupedBars("y", []string{"a", "b"}, []BarGroup{{Name: "short", Values: []float64{1}}}); err == nil {
		t.Error("a group with 1 value for 2 categories was accepted")
	}
}
