package plot

import (
	"fmt"
	"image/color"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// PCATrajectories draws every run of z in the plane of its two leading principal components:
// each run's path as a thin grey line, its checkpoints coloured by training time t = k/K,
// inits as circles and finals as triangles. It returns the projection too, so that other
// weights (generated samples, another zoo) can be overlaid with AddPoints and AddPath.
// Options: WithPCA (reuse a projection), WithColorMap, WithPaths, WithTitle.
func PCATrajectories(z *traj.Zoo, opts ...Option) (*gplot.Plot, *PCA, error) {
	if err := checkZoo(z); err != nil {
		return nil, nil, err
	}
	cfg := newConfig(opts)
	pca := cfg.pca
	if pca == nil {
		var err error
		if pca, err = FitPCAZoo(z); err != nil {
			return nil, nil, err
		}
	} else if len(pca.Mean) != z.Params {
		return nil, nil, fmt.Errorf("plot: PCA has P=%d, zoo has P=%d", len(pca.Mean), z.Params)
	}
	cm := cfg.cmap
	if cm == nil {
		cm = Viridis()
	}
	cm.SetMin(0)
	cm.SetMax(1)

	K := z.Checkpoints - 1
	p := newPlot(cfg.titleOr(fmt.Sprintf("weight trajectories in PCA plane %s", describe(z))),
		pcLabel(1, pca.Explained[0]), pcLabel(2, pca.Explained[1]))

	tOf := func(k int) float64 {
		if K == 0 {
			return 0
		}
		return float64(k) / float64(K)
	}
	paths := make([]plotter.XYs, z.Runs)
	var mid, inits, finals plotter.XYs
	var midT []float64
	for r := 0; r < z.Runs; r++ {
		paths[r] = make(plotter.XYs, z.Checkpoints)
		for k := 0; k < z.Checkpoints; k++ {
			x, y := pca.Project(z.At(r, k))
			paths[r][k] = plotter.XY{X: x, Y: y}
			switch {
			case k == 0:
				inits = append(inits, paths[r][k])
			case k == K:
				finals = append(finals, paths[r][k])
			default:
				mid = append(mid, paths[r][k])
				midT = append(midT, tOf(k))
			}
		}
	}

	pathStyle := draw.LineStyle{Color: color.Gray{Y: 0xa0}, Width: vg.Points(0.6)}
	var pathLine *plotter.Line
	if !cfg.pathsSet || cfg.paths {
		var err error
		if pathLine, err = addPaths(p, paths, pathStyle); err != nil {
			return nil, nil, err
		}
	}
	if len(mid) > 0 {
		sc, err := plotter.NewScatter(mid)
		if err != nil {
			return nil, nil, fmt.Errorf("plot: %w", err)
		}
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle {
			return draw.GlyphStyle{Color: colorAt(cm, midT[i]), Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
		}
		p.Add(sc)
	}
	initGlyph := draw.GlyphStyle{Color: colorAt(cm, 0), Radius: vg.Points(3.5),
		Shape: outlined{fill: draw.CircleGlyph{}, edge: draw.RingGlyph{}}}
	finalGlyph := draw.GlyphStyle{Color: colorAt(cm, 1), Radius: vg.Points(4.5),
		Shape: outlined{fill: draw.PyramidGlyph{}, edge: draw.TriangleGlyph{}}}
	initSc, err := plotter.NewScatter(inits)
	if err != nil {
		return nil, nil, fmt.Errorf("plot: %w", err)
	}
	initSc.GlyphStyle = initGlyph
	p.Add(initSc)
	entries := 1
	if K > 0 {
		finalSc, err := plotter.NewScatter(finals)
		if err != nil {
			return nil, nil, fmt.Errorf("plot: %w", err)
		}
		finalSc.GlyphStyle = finalGlyph
		p.Add(finalSc)
		addLegend(p, true, "init (k=0)", initSc)
		p.Legend.Add(fmt.Sprintf("final (k=%d)", K), finalSc)
		p.Legend.Add("t = k/K: 0 → 1", gradient{cm})
		entries += 2
	} else {
		addLegend(p, true, "k=0", initSc)
	}
	if pathLine != nil {
		p.Legend.Add("run path", pathLine)
		entries++
	}
	pts := append(append(append(plotter.XYs(nil), inits...), finals...), mid...)
	// Room for one more entry: the usual next step is AddPoints with generated weights.
	placeLegend(p, normalizePoints(p, paths, pts), entries+1)
	return p, pca, nil
}

// AddPoints projects weights onto pca and adds them to p as a scatter with a legend entry
// (e.g. generated samples over the training trajectories). Default style: red crosses;
// WithColor changes the colour. The scatter is returned for further styling.
func AddPoints(p *gplot.Plot, pca *PCA, weights [][]float32, label string, opts ...Option) (*plotter.Scatter, error) {
	if p == nil {
		return nil, fmt.Errorf("plot: nil plot")
	}
	if len(weights) == 0 {
		return nil, fmt.Errorf("plot: no weights to add")
	}
	if err := pca.checkDims(weights); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	col := cfg.color
	if col == nil {
		col = SeriesColor(3)
	}
	sc, err := plotter.NewScatter(pca.ProjectAll(weights))
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(3.5), Shape: boldCross{}}
	p.Add(sc)
	if label != "" {
		p.Legend.Add(label, sc)
	}
	return sc, nil
}

// AddPath projects a sequence of weights (e.g. one ODE solution from noise to weights) onto
// pca and adds it to p as a line, with a legend entry if label is not empty.
func AddPath(p *gplot.Plot, pca *PCA, path [][]float32, label string, opts ...Option) (*plotter.Line, error) {
	if p == nil {
		return nil, fmt.Errorf("plot: nil plot")
	}
	if len(path) == 0 {
		return nil, fmt.Errorf("plot: empty path")
	}
	if err := pca.checkDims(path); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	col := cfg.color
	if col == nil {
		col = SeriesColor(3)
	}
	l, err := plotter.NewLine(pca.ProjectAll(path))
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.2)}
	p.Add(l)
	if label != "" {
		p.Legend.Add(label, l)
	}
	return l, nil
}

func pcLabel(i int, explained float64) string {
	return fmt.Sprintf("PC%d (%.1f%% var)", i, 100*explained)
}

// outlined draws a filled glyph with a thin dark edge, so markers coloured near the light end
// of the colour map still stand out on white.
type outlined struct{ fill, edge draw.GlyphDrawer }

func (o outlined) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	o.fill.DrawGlyph(c, sty, pt)
	edge := sty
	edge.Color = color.Gray{Y: 0x20}
	o.edge.DrawGlyph(c, edge, pt)
}

// gradient is a legend thumbnail showing the colour map, standing in for a colour bar.
type gradient struct{ cm palette.ColorMap }

func (g gradient) Thumbnail(c *draw.Canvas) {
	const n = 24
	w := (c.Max.X - c.Min.X) / n
	y0, y1 := c.Min.Y+0.15*(c.Max.Y-c.Min.Y), c.Max.Y-0.15*(c.Max.Y-c.Min.Y)
	for i := 0; i < n; i++ {
		x0 := c.Min.X + vg.Length(i)*w
		rect := []vg.Point{{X: x0, Y: y0}, {X: x0 + w + 0.3, Y: y0}, {X: x0 + w + 0.3, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(colorAt(g.cm, (float64(i)+0.5)/n), rect)
	}
}

// boldCross is an × thick enough to read over the coloured trajectory points.
type boldCross struct{}

func (boldCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)})
	r := sty.Radius * 0.8
	var a, b vg.Path
	a.Move(vg.Point{X: pt.X - r, Y: pt.Y - r})
	a.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
	b.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
	b.Line(vg.Point{X: pt.X + r, Y: pt.Y - r})
	c.Stroke(a)
	c.Stroke(b)
}

// addPaths draws each path of two or more points as a line in style and returns the last line
// drawn (nil if none), for a legend entry.
func addPaths(p *gplot.Plot, paths []plotter.XYs, style draw.LineStyle) (*plotter.Line, error) {
	var last *plotter.Line
	for _, xy := range paths {
		if len(xy) < 2 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		l.LineStyle = style
		p.Add(l)
		last = l
	}
	return last, nil
}
