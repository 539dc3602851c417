package plot

import (
	"fmt"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// BarGroup is one series of a grouped bar chart: a value per category (its own color).
type BarGroup struct {
	Name   string
	Values []float64
}

// GroupedBars draws one cluster of bars per category, one bar per group, side by side, with the
// categories as x tick labels (e.g. accuracy per task with and without guidance).
// Options: WithTitle.
func GroupedBars(ylabel string, categories []string, groups []BarGroup, opts ...Option) (*gplot.Plot, error) {
	if len(categories) == 0 || len(groups) == 0 {
		return nil, fmt.Errorf("plot: grouped bars need ≥ 1 category and ≥ 1 group, got %d and %d", len(categories), len(groups))
	}
	c := newConfig(opts)
	p := newPlot(c.titleOr(""), "", ylabel)
	w := vg.Points(min(18, 300/float64(len(categories)*len(groups))))
	top := 0.0
	for i, g := range groups {
		if len(g.Values) != len(categories) {
			return nil, fmt.Errorf("plot: group %q has %d values for %d categories", g.Name, len(g.Values), len(categories))
		}
		for _, v := range g.Values {
			top = max(top, v)
		}
		b, err := plotter.NewBarChart(plotter.Values(g.Values), w)
		if err != nil {
			return nil, fmt.Errorf("plot: group %q: %w", g.Name, err)
		}
		b.Color, b.LineStyle.Width = SeriesColor(i), 0
		b.Offset = w * vg.Length(float64(i)-float64(len(groups)-1)/2)
		p.Add(b)
		p.Legend.Add(g.Name, b)
	}
	p.NominalX(categories...)
	p.X.Tick.Label.Rotation, p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = 0.5, -1, -0.5
	// Room for the outer bars of the first and last clusters, and for the legend above the bars.
	p.X.Min, p.X.Max = -0.5, float64(len(categories))-0.5
	p.Y.Min, p.Y.Max = 0, top*(1+0.08*float64(len(groups)+1))
	return p, nil
}
