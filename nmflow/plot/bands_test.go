package plot

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestBands(t *testing.T) {
	x := []float64{0.1, 0.2, 0.3, 0.4}
	series := []Band{
		{Name: "CFM", X: x, Mean: []float64{3, 4, 5, 4}, Std: []float64{0.3, 0.2, 0.4, 0.1}},
		{Name: "MMFM", X: x, Mean: []float64{1, 1.5, 1.2, math.NaN()}, Std: []float64{0.1, 0.1, 0.1, 0.1}},
		{Name: "training", X: x, Mean: []float64{2, 1.8, 1.7, 1.6}, Reference: true},
	}
	p, err := Bands("W1 per checkpoint", "t", "W1", series)
	if err != nil {
		t.Fatal(err)
	}
	if p.Y.Min > 0.9 || p.Y.Max < 5.4 {
		t.Errorf("y range [%v, %v] does not hold every band", p.Y.Min, p.Y.Max)
	}
	out := os.Getenv("NMFLOW_PLOT_OUT")
	if out == "" {
		out = t.TempDir()
	}
	if err := Save(p, DefaultWidth, DefaultHeight, filepath.Join(out, "bands.png")); err != nil {
		t.Fatal(err)
	}
	if _, err := Bands("", "", "", series, WithLogY()); err != nil {
		t.Error(err)
	}
	for name, s := range map[string][]Band{
		"none":      nil,
		"short":     {{Name: "a", X: x, Mean: []float64{1}}},
		"short std": {{Name: "a", X: x, Mean: []float64{1, 2, 3, 4}, Std: []float64{1}}},
		"all NaN":   {{Name: "a", X: x, Mean: []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()}}},
	} {
		if _, err := Bands("", "", "", s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
