package plot

import (
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/eval"
)

// handComparison is a comparison as eval.Compare returns it: a generator of 6 nets at distance
// about 2 and accuracy about 0.85, a noise curve falling from 0.9 to 0.5 by distance 4, and an
// independent zoo.
func handComparison(genAcc float32) *eval.Comparison {
	noise := func(level, dist, acc float64) eval.Row {
		return eval.Row{Name: eval.RowNoise, Level: level, Nearest: eval.Summary{Median: dist}, Accuracy: eval.Summary{Mean: acc}, AccuracyStderr: 0.01}
	}
	gen := eval.Row{Name: eval.RowGenerated, NearestDist: []float64{1.8, 1.9, 2, 2, 2.1, 2.2}, NearestRun: []int{0, 1, 2, 0, 1, 2},
		NetAccuracy: []float32{genAcc - 0.02, genAcc - 0.01, genAcc, genAcc, genAcc + 0.01, genAcc + 0.02}}
	gen.Nearest = eval.Summarize(gen.NearestDist)
	gen.Accuracy = eval.Summarize(gen.NetAccuracy)
	gen.AccuracyStderr = 0.005
	return &eval.Comparison{Space: "aligned", NNDist: 4, Rows: []eval.Row{
		gen,
		{Name: eval.RowReference, Accuracy: eval.Summary{Mean: 0.9}, AccuracyStderr: 0.01},
		{Name: eval.RowIndependent, Nearest: eval.Summary{Median: 4.1}, Accuracy: eval.Summary{Mean: 0.9}},
		noise(0.25, 1, 0.88), noise(0.5, 2, 0.8), noise(1, 4, 0.5),
	}}
}

func TestNoveltyAccuracy(t *testing.T) {
	for _, tc := range []struct {
		acc  float32
		want string
	}{{0.85, "beats the noise curve"}, {0.8, "no better than noise"}} {
		p, err := NoveltyAccuracy(handComparison(tc.acc), eval.RowGenerated)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.Title.Text, tc.want) || p.Y.Min != 0 || p.Y.Max != 1 {
			t.Errorf("accuracy %v: title %q, y %v..%v", tc.acc, p.Title.Text, p.Y.Min, p.Y.Max)
		}
		b, err := Render(p, DefaultWidth, DefaultHeight, "png")
		if err != nil {
			t.Fatal(err)
		}
		mustPNG(t, b, 720, 504)
	}
	c := handComparison(0.85)
	c.Rows[0].NearestDist[0] = 9 // median still 2
	if _, err := NoveltyAccuracy(c, eval.RowMean); err == nil || !strings.Contains(err.Error(), "no row") {
		t.Errorf("a missing row: %v", err)
	}
	c.Rows = c.Rows[:3]
	if _, err := NoveltyAccuracy(c, eval.RowGenerated); err == nil || !strings.Contains(err.Error(), "noise curve") {
		t.Errorf("no noise rows: %v", err)
	}
	c = handComparison(0.85)
	c.Rows[0].NetAccuracy = nil
	if _, err := NoveltyAccuracy(c, eval.RowGenerated); err == nil {
		t.Error("a row without per-net accuracies was drawn")
	}
}
