package plot

import (
	"fmt"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Band is one series of a comparison plot: a mean curve over X with an optional ±Std band.
type Band struct {
	Name      string
	X, Mean   []float64
	Std       []float64 // nil: no band
	Reference bool      // drawn as a dashed grey line (e.g. the real training curve)
}

// Bands draws several mean ± std curves on one axis, one colour each, with markers at the
// points: the form of the paper's Figures 2 and 3 (a metric per method along time).
func Bands(title, xlabel, ylabel string, series []Band, opts ...Option) (*gplot.Plot, error) {
	cfg := newConfig(opts)
	if len(series) == 0 {
		return nil, fmt.Errorf("plot: no series")
	}
	p := newPlot(cfg.titleOr(title), xlabel, ylabel)
	if cfg.logY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	var lines []plotter.XYs
	colour := 0
	for i, s := range series {
		if len(s.X) == 0 || len(s.Mean) != len(s.X) || (s.Std != nil && len(s.Std) != len(s.X)) {
			return nil, fmt.Errorf("plot: series %d (%q) has %d x, %d means and %d stds; want one of each per x", i, s.Name, len(s.X), len(s.Mean), len(s.Std))
		}
		var mean, lo, hi plotter.XYs
		for j, x := range s.X {
			m := s.Mean[j]
			if !finite(x) || !finite(m) || (cfg.logY && m <= 0) {
				continue
			}
			d := 0.0
			if s.Std != nil && finite(s.Std[j]) {
				d = math.Abs(s.Std[j])
			}
			mean = append(mean, plotter.XY{X: x, Y: m})
			low := m - d
			if cfg.logY {
				low = math.Max(low, m/20)
			}
			lo, hi = append(lo, plotter.XY{X: x, Y: low}), append(hi, plotter.XY{X: x, Y: m + d})
		}
		if len(mean) == 0 {
			return nil, fmt.Errorf("plot: series %q has no finite point", s.Name)
		}
		line, err := plotter.NewLine(mean)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		thumbs := []gplot.Thumbnailer{line}
		if s.Reference {
			line.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x30}, Width: vg.Points(1.4), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
			p.Add(line)
		} else {
			col := SeriesColor(colour)
			colour++
			line.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.6)}
			if s.Std != nil {
				poly, err := band(lo, hi, withAlpha(col, 0.18))
				if err != nil {
					return nil, err
				}
				p.Add(poly)
			}
			sc, err := plotter.NewScatter(mean)
			if err != nil {
				return nil, fmt.Errorf("plot: %w", err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}
			p.Add(line, sc)
			thumbs = append(thumbs, sc)
		}
		addLegend(p, i == 0, s.Name, thumbs...)
		lines = append(lines, lo, hi, mean)
	}
	placeLegend(p, normalizePoints(p, lines, nil), len(series))
	return p, nil
}
