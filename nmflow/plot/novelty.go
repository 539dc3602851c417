package plot

import (
	"fmt"
	"image/color"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nmflow/nmflow/nmflow/eval"
)

// NoveltyAccuracy draws one generator's nets against the noise-addition baseline (Zeng et al.
// 2025; METHODS.md §9): test accuracy against distance to the nearest trained net, the row's
// nets as points with a diamond at (median distance, mean accuracy), the comparison's noise curve
// (trained nets plus noise of growing size, eval.Comparison.NoveltyCurve) as a line with a ±1
// standard-error band, the independent zoo (when the comparison has one) as a triangle — what a
// perfect generator scores — and a dotted vertical line at the median distance between trained
// nets. The title carries eval.BeatsNoise's verdict: a generator may be called "not copies" only
// above the curve. Options: WithTitle, WithColor.
func NoveltyAccuracy(c *eval.Comparison, row string, opts ...Option) (*gplot.Plot, error) {
	cfg := newConfig(opts)
	r := c.Row(row)
	if r == nil {
		return nil, fmt.Errorf("plot: the comparison has no row %q", row)
	}
	if len(r.NearestDist) != len(r.NetAccuracy) || len(r.NearestDist) == 0 {
		return nil, fmt.Errorf("plot: row %q has %d distances and %d accuracies; want one of each per net (a Comparison from eval.Compare)", row, len(r.NearestDist), len(r.NetAccuracy))
	}
	curve := c.NoveltyCurve()
	if len(curve) < 2 {
		return nil, fmt.Errorf("plot: the comparison has no noise curve (no noise rows)")
	}
	v := eval.BeatsNoise(curve, *r)
	verdict := "no better than noise"
	switch {
	case !v.InRange:
		verdict = "beyond the noise curve"
	case v.NotCopies:
		verdict = "beats the noise curve"
	}
	col := cfg.color
	if col == nil {
		col = SeriesColor(0)
	}
	p := newPlot(cfg.titleOr(fmt.Sprintf("%s: accuracy vs novelty (%s)", row, verdict)),
		fmt.Sprintf("distance to the nearest trained net (%s)", c.Space), "test accuracy")

	var mid, lo, hi plotter.XYs
	for _, q := range curve {
		mid = append(mid, plotter.XY{X: q.Distance, Y: q.Accuracy})
		lo = append(lo, plotter.XY{X: q.Distance, Y: q.Accuracy - q.Stderr})
		hi = append(hi, plotter.XY{X: q.Distance, Y: q.Accuracy + q.Stderr})
	}
	grey := color.Gray{Y: 0x50}
	poly, err := band(lo, hi, withAlpha(grey, 0.18))
	if err != nil {
		return nil, err
	}
	line, err := plotter.NewLine(mid)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	line.LineStyle = draw.LineStyle{Color: grey, Width: vg.Points(1.6), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
	knots, _ := plotter.NewScatter(mid)
	knots.GlyphStyle = draw.GlyphStyle{Color: grey, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
	p.Add(poly, line, knots)

	var nets plotter.XYs
	for i, d := range r.NearestDist {
		if a := float64(r.NetAccuracy[i]); finite(d) && finite(a) {
			nets = append(nets, plotter.XY{X: d, Y: a})
		}
	}
	if len(nets) == 0 {
		return nil, fmt.Errorf("plot: row %q has no finite (distance, accuracy) pair", row)
	}
	pts, err := plotter.NewScatter(nets)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	pts.GlyphStyle = draw.GlyphStyle{Color: withAlpha(col, 0.55), Radius: vg.Points(2.4), Shape: draw.CircleGlyph{}}
	centre, _ := plotter.NewScatter(plotter.XYs{{X: v.Distance, Y: v.Accuracy}})
	centre.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(5), Shape: diamondGlyph{}}
	p.Add(pts, centre)
	addLegend(p, true, fmt.Sprintf("%s nets (%d)", row, len(nets)), pts)
	p.Legend.Add("median distance, mean accuracy", centre)
	p.Legend.Add("trained + noise (Zeng et al.) ±1 se", line, poly)
	entries := 3
	marks := plotter.XYs{{X: v.Distance, Y: v.Accuracy}}
	if ind := c.Row(eval.RowIndependent); ind != nil && row != eval.RowIndependent {
		xy := plotter.XYs{{X: ind.Nearest.Median, Y: ind.Accuracy.Mean}}
		star, _ := plotter.NewScatter(xy)
		star.GlyphStyle = draw.GlyphStyle{Color: SeriesColor(2), Radius: vg.Points(5.5), Shape: draw.PyramidGlyph{}}
		p.Add(star)
		p.Legend.Add("independent zoo (perfect generator)", star)
		marks = append(marks, xy...)
		entries++
	}
	p.Y.Min, p.Y.Max = min(p.Y.Min, 0), max(p.Y.Max, 1) // accuracy on its whole scale
	if c.NNDist > 0 {
		nn := plotter.XYs{{X: c.NNDist, Y: p.Y.Min}, {X: c.NNDist, Y: p.Y.Max}}
		vl, err := plotter.NewLine(nn)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		vl.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x90}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(1.5), vg.Points(2.5)}}
		p.Add(vl)
		p.Legend.Add("between trained nets (median)", vl)
		entries++
	}
	placeLegend(p, normalizePoints(p, []plotter.XYs{lo, hi, mid}, append(nets, marks...)), entries)
	return p, nil
}
