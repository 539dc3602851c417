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
	Std       []float64   // nil: no band
	Reference bool        // drawn as a dashed grey line without markers (e.g. the real training curve)
	Color     color.Color // nil: the package's next series colour
	Dashed    bool
}

// Bands draws several mean ± std curves on one axis, one colour each, with markers at the
// points: the form of the paper's Figures 2 and 3 (a metric per method along time). WithLogX and
// WithLogY put an axis on a log scale; points that cannot be drawn there (≤ 0) or are not finite
// are skipped. Series without a name get no legend entry.
func Bands(title, xlabel, ylabel string, series []Band, opts ...Option) (*gplot.Plot, error) {
	cfg := newConfig(opts)
	if len(series) == 0 {
		return nil, fmt.Errorf("plot: no series to draw")
	}
	p := newPlot(cfg.titleOr(title), xlabel, ylabel)
	if cfg.logX {
		p.X.Scale, p.X.Tick.Marker = gplot.LogScale{}, logTicks{}
	}
	if cfg.logY {
		p.Y.Scale, p.Y.Tick.Marker = gplot.LogScale{}, logTicks{}
	}
	entries := 0
	var lines []plotter.XYs
	colour := 0
	for i, s := range series {
		if len(s.X) == 0 || len(s.Mean) != len(s.X) || (s.Std != nil && len(s.Std) != len(s.X)) {
			return nil, fmt.Errorf("plot: series %d (%q) has %d x, %d means and %d stds; want one of each per x", i, s.Name, len(s.X), len(s.Mean), len(s.Std))
		}
		var mean, lo, hi plotter.XYs
		for j, x := range s.X {
			m := s.Mean[j]
			if !finite(x) || !finite(m) || (cfg.logY && m <= 0) || (cfg.logX && x <= 0) {
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
			return nil, fmt.Errorf("plot: series %q has no point that can be drawn", s.Name)
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
			col := s.Color
			if col == nil {
				col = SeriesColor(colour)
			}
			colour++
			line.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.6)}
			if s.Dashed {
				line.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(2.5)}
			}
			if s.Std != nil {
				poly, err := band(lo, hi, withAlpha(col, 0.18))
				if err != nil {
					return nil, err
				}
				p.Add(poly)
			}
			sc, err := dots(mean, col, 2.2)
			if err != nil {
				return nil, err
			}
			p.Add(line, sc)
			thumbs = append(thumbs, sc)
		}
		if s.Name != "" {
			addLegend(p, entries == 0, s.Name, thumbs...)
			entries++
		}
		lines = append(lines, lo, hi, mean)
	}
	placeLegend(p, normalizePoints(p, lines, nil), entries)
	return p, nil
}

// Series is one named curve of Lines: points (X[i], Y[i]) joined in order.
type Series struct {
	Name   string
	X, Y   []float64
	Color  color.Color // nil: the package's i-th series colour
	Dashed bool
}

// Lines draws curves with a marker at each point and a legend, e.g. a solver's error against its
// number of velocity evaluations: Bands without spread. logX and logY put an axis on a log scale.
// Options: WithTitle.
func Lines(xlabel, ylabel string, logX, logY bool, series []Series, opts ...Option) (*gplot.Plot, error) {
	bands := make([]Band, len(series))
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		bands[i] = Band{Name: s.Name, X: s.X, Mean: s.Y, Color: s.Color, Dashed: s.Dashed}
	}
	if logX {
		opts = append(opts, WithLogX())
	}
	if logY {
		opts = append(opts, WithLogY())
	}
	return Bands("", xlabel, ylabel, bands, opts...)
}
