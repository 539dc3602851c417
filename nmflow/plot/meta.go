package plot

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// Figures of meta-models (package flow) and of the weights they generate.

// LossHistory plots a meta-model's training loss against optimizer step (flow.Model.History):
// every step's loss as a thin light line and a trailing moving average as a bold one, on a log
// axis when all losses are positive. The window is about 4% of the steps (at most 500).
// Non-finite losses are skipped. Options: WithTitle, WithColor, WithLogY (fails on losses ≤ 0).
func LossHistory(history []float32, opts ...Option) (*gplot.Plot, error) {
	cfg := newConfig(opts)
	var raw plotter.XYs
	allPos := true
	for i, v := range history {
		if f := float64(v); finite(f) {
			raw = append(raw, plotter.XY{X: float64(i + 1), Y: f})
			allPos = allPos && f > 0
		}
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("plot: loss history has no finite values (%d steps)", len(history))
	}
	if cfg.logY && !allPos {
		return nil, fmt.Errorf("plot: loss history has values ≤ 0, cannot use a log axis")
	}
	col := cfg.color
	if col == nil {
		col = SeriesColor(0)
	}
	p := newPlot(cfg.titleOr("meta-model training loss"), "optimizer step", "flow-matching loss")
	if allPos {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	lines := []plotter.XYs{raw}
	rawLine, err := plotter.NewLine(raw)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	rawLine.LineStyle = draw.LineStyle{Color: withAlpha(col, 0.35), Width: vg.Points(0.6)}
	p.Add(rawLine)
	if len(raw) == 1 {
		sc, _ := dots(raw, col, 3)
		p.Add(sc)
	}
	entries := 1
	w := min(500, len(raw)/25)
	if w >= 2 {
		avg := movingAverage(raw, w)
		line, err := meanLine(avg, col)
		if err != nil {
			return nil, err
		}
		p.Add(line)
		addLegend(p, true, "loss per step", rawLine)
		p.Legend.Add(fmt.Sprintf("mean of last %d steps", w), line)
		lines = append(lines, avg)
		entries++
	} else {
		addLegend(p, true, "loss per step", rawLine)
	}
	p.X.Min = math.Min(p.X.Min, 0)
	placeLegend(p, normalizePoints(p, lines, nil), entries)
	return p, nil
}

// movingAverage is the trailing mean of the last w points (fewer at the start).
func movingAverage(xy plotter.XYs, w int) plotter.XYs {
	out := make(plotter.XYs, len(xy))
	var sum float64
	for i := range xy {
		sum += xy[i].Y
		if i >= w {
			sum -= xy[i-w].Y
		}
		out[i] = plotter.XY{X: xy[i].X, Y: sum / float64(min(i+1, w))}
	}
	return out
}

// Named is a labelled set of values, e.g. the test accuracies of one set of nets.
type Named struct {
	Name   string
	Values []float32
}

// AccuracyHistograms overlays histograms of several sets of values on shared bins, e.g. the test
// accuracy of inits, of the zoo's trained nets and of generated nets, in the order given, each
// with its own colour, a dashed line at its mean and a legend entry "name (n, mean)". Heights
// are the fraction of each set's nets per bin, so sets of different sizes compare directly. Bins
// span the data (NaNs skipped); their width follows the narrowest set (Freedman–Diaconis), 10 to
// 80 bins, unless WithBins sets the count. Options: WithTitle, WithBins.
func AccuracyHistograms(groups []Named, opts ...Option) (*gplot.Plot, error) {
	cfg := newConfig(opts)
	if len(groups) == 0 {
		return nil, fmt.Errorf("plot: no sets of values to draw")
	}
	if cfg.binsSet && cfg.bins <= 0 {
		return nil, fmt.Errorf("plot: need a positive number of bins, got %d", cfg.bins)
	}
	vals := make([][]float64, len(groups))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, g := range groups {
		for _, v := range g.Values {
			if f := float64(v); finite(f) {
				vals[i] = append(vals[i], f)
				lo, hi = math.Min(lo, f), math.Max(hi, f)
			}
		}
		if len(vals[i]) == 0 {
			return nil, fmt.Errorf("plot: set %q has no finite values", g.Name)
		}
		sort.Float64s(vals[i])
	}
	span := hi - lo
	nb := cfg.bins
	if !cfg.binsSet {
		width := math.Inf(1)
		for _, v := range vals {
			if iqr := quantile(v, 0.75) - quantile(v, 0.25); iqr > 0 && len(v) >= 4 {
				width = math.Min(width, 2*iqr/math.Cbrt(float64(len(v))))
			}
		}
		nb = 10
		if span > 0 && !math.IsInf(width, 1) {
			nb = int(math.Max(10, math.Min(80, math.Ceil(span/width))))
		}
	}
	if span == 0 { // one value everywhere: a bar of some width around it
		span = math.Max(math.Abs(lo)*0.02, 0.01)
		lo -= span / 2
	}
	// Half a bin of margin on each side keeps the extreme bars off the axes.
	width := span / float64(nb)
	lo -= width / 2
	nb++
	hi = lo + float64(nb)*width

	p := newPlot(cfg.titleOr("test accuracy of base nets"), "test accuracy", "fraction of nets")
	var outlines []plotter.XYs
	var top float64
	hists := make([]*plotter.Histogram, len(groups))
	steps := make([]plotter.XYs, len(groups))
	for i, v := range vals {
		counts := make([]float64, nb)
		for _, x := range v {
			counts[min(int((x-lo)/width), nb-1)]++
		}
		col := SeriesColor(i)
		h := &plotter.Histogram{Width: width, FillColor: withAlpha(col, 0.28)}
		h.LineStyle.Width = 0
		step := plotter.XYs{{X: lo, Y: 0}}
		for b, c := range counts {
			f := c / float64(len(v))
			x0 := lo + float64(b)*width
			h.Bins = append(h.Bins, plotter.HistogramBin{Min: x0, Max: x0 + width, Weight: f})
			step = append(step, plotter.XY{X: x0, Y: f}, plotter.XY{X: x0 + width, Y: f})
			top = math.Max(top, f)
		}
		step = append(step, plotter.XY{X: hi, Y: 0})
		hists[i], steps[i] = h, step
		outlines = append(outlines, step)
	}
	for i := range vals {
		col := SeriesColor(i)
		outline, err := plotter.NewLine(steps[i])
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		outline.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.2)}
		mean := 0.0
		for _, x := range vals[i] {
			mean += x / float64(len(vals[i]))
		}
		ml, err := plotter.NewLine(plotter.XYs{{X: mean, Y: 0}, {X: mean, Y: top * 1.04}})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		ml.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(4), vg.Points(2.5)}}
		p.Add(hists[i], outline, ml)
		name := fmt.Sprintf("%s (n=%d, mean %s)", groups[i].Name, len(vals[i]), formatAcc(mean))
		addLegend(p, i == 0, name, box{fill: hists[i].FillColor, edge: col})
		outlines = append(outlines, plotter.XYs{{X: mean, Y: 0}, {X: mean, Y: top * 1.04}})
	}
	p.Y.Min = 0
	placeLegend(p, normalizePoints(p, outlines, nil), len(groups))
	return p, nil
}

// formatAcc writes an accuracy in [0,1] as a percentage, anything else as a plain number.
func formatAcc(v float64) string {
	if v >= 0 && v <= 1 {
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.3g", v)
}

// quantile interpolates the q-quantile of sorted, non-empty v.
func quantile(v []float64, q float64) float64 {
	h := q * float64(len(v)-1)
	i := int(math.Floor(h))
	if i >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[i] + (h-float64(i))*(v[i+1]-v[i])
}

// PCAWithGenerated is the meta-model's signature figure: the zoo's training trajectories in the
// plane of their two leading principal components (as PCATrajectories draws them, with the same
// options) and, over them, the ODE paths of the first n generated nets (n ≤ 0: all) through the
// snapshots of a sampling path (flow.Samples.Path: each a flat [N,P] matrix of raw weights, t = 0
// first), each net's end marked with a diamond. WithColor sets the generated nets' colour
// (default red). It returns the zoo's PCA too.
func PCAWithGenerated(z *traj.Zoo, paths [][]float32, n int, opts ...Option) (*gplot.Plot, *PCA, error) {
	if err := checkZoo(z); err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("plot: no path snapshots")
	}
	size := len(paths[0])
	if size == 0 || size%z.Params != 0 {
		return nil, nil, fmt.Errorf("plot: path snapshot 0 has %d values, not a positive multiple of the zoo's P=%d", size, z.Params)
	}
	for k, s := range paths {
		if len(s) != size {
			return nil, nil, fmt.Errorf("plot: path snapshot %d has %d values, snapshot 0 has %d", k, len(s), size)
		}
	}
	total := size / z.Params
	if n <= 0 || n > total {
		n = total
	}
	cfg := newConfig(opts)
	p, pca, err := PCATrajectories(z, opts...)
	if err != nil {
		return nil, nil, err
	}
	if cfg.title == nil {
		p.Title.Text = fmt.Sprintf("zoo and generated paths in PCA plane %s", describe(z))
	}
	col := cfg.color
	if col == nil {
		col = SeriesColor(3)
	}

	// Generated paths: thin translucent lines, drawn over the zoo; ends as outlined diamonds.
	genLines := make([]plotter.XYs, n)
	ends := make(plotter.XYs, n)
	pathStyle := draw.LineStyle{Color: withAlpha(col, 0.7), Width: vg.Points(0.9)}
	for i := 0; i < n; i++ {
		xy := make(plotter.XYs, len(paths))
		for k, s := range paths {
			x, y := pca.Project(s[i*z.Params : (i+1)*z.Params])
			xy[k] = plotter.XY{X: x, Y: y}
		}
		genLines[i], ends[i] = xy, xy[len(xy)-1]
	}
	genLine, err := addPaths(p, genLines, pathStyle)
	if err != nil {
		return nil, nil, err
	}
	endSc, err := plotter.NewScatter(ends)
	if err != nil {
		return nil, nil, fmt.Errorf("plot: %w", err)
	}
	endSc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(4), Shape: outlined{fill: diamondGlyph{}, edge: diamondEdge{}}}
	p.Add(endSc)

	// A legend of our own: the zoo's entries, renamed to read against the generated ones.
	zooPts, zooLines := zooProjection(z, pca)
	old := p.Legend
	p.Legend = gplot.NewLegend()
	p.Legend.TextStyle, p.Legend.Padding, p.Legend.ThumbnailWidth = old.TextStyle, old.Padding, old.ThumbnailWidth
	cm := cfg.cmap
	if cm == nil {
		cm = Viridis()
	}
	cm.SetMin(0)
	cm.SetMax(1)
	K := z.Checkpoints - 1
	initThumb := glyphThumb{draw.GlyphStyle{Color: colorAt(cm, 0), Radius: vg.Points(3.5), Shape: outlined{fill: draw.CircleGlyph{}, edge: draw.RingGlyph{}}}}
	finalThumb := glyphThumb{draw.GlyphStyle{Color: colorAt(cm, 1), Radius: vg.Points(4.5), Shape: outlined{fill: draw.PyramidGlyph{}, edge: draw.TriangleGlyph{}}}}
	entries := 0
	if K > 0 {
		addLegend(p, true, fmt.Sprintf("zoo trajectories (k = 0…%d)", K), gradient{cm})
		p.Legend.Add("zoo init (k=0) / final (k="+fmt.Sprint(K)+")", pairThumb{initThumb, finalThumb})
		entries += 2
	} else {
		addLegend(p, true, "zoo inits", initThumb)
		entries++
	}
	if genLine != nil {
		p.Legend.Add("generated paths (ODE)", lineThumb{draw.LineStyle{Color: col, Width: vg.Points(1.2)}})
		entries++
	}
	p.Legend.Add(fmt.Sprintf("generated nets (%d)", n), endSc)
	entries++

	// Axes: exactly the data (the zoo's figure grew its range for its own legend), then make
	// room for ours.
	all := append(append(plotter.XYs(nil), zooPts...), ends...)
	for _, l := range genLines {
		all = append(all, l...)
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, q := range all {
		xmin, xmax = math.Min(xmin, q.X), math.Max(xmax, q.X)
		ymin, ymax = math.Min(ymin, q.Y), math.Max(ymax, q.Y)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
	placeLegend(p, normalizePoints(p, append(zooLines, genLines...), all), entries)
	return p, pca, nil
}

// zooProjection projects every checkpoint of every run: all points, and one polyline per run.
func zooProjection(z *traj.Zoo, pca *PCA) (plotter.XYs, []plotter.XYs) {
	var pts plotter.XYs
	lines := make([]plotter.XYs, z.Runs)
	for r := 0; r < z.Runs; r++ {
		for k := 0; k < z.Checkpoints; k++ {
			x, y := pca.Project(z.At(r, k))
			lines[r] = append(lines[r], plotter.XY{X: x, Y: y})
		}
		pts = append(pts, lines[r]...)
	}
	return pts, lines
}

// PathLossCurve plots the base nets' test loss along the sampling ODE (eval.PathLoss): the mean
// over generated nets against time t with a ±1 std band, and a dashed horizontal reference line
// at ref (the zoo's final checkpoints' mean test loss; NaN leaves it out). Times must increase;
// points with a non-finite mean are skipped. Options: WithTitle, WithColor, WithLogY.
func PathLossCurve(times, meanLoss, stdLoss []float64, ref float64, opts ...Option) (*gplot.Plot, error) {
	cfg := newConfig(opts)
	if len(times) == 0 {
		return nil, fmt.Errorf("plot: no times")
	}
	if len(meanLoss) != len(times) || (stdLoss != nil && len(stdLoss) != len(times)) {
		return nil, fmt.Errorf("plot: %d times, %d means and %d stds; want one of each per time", len(times), len(meanLoss), len(stdLoss))
	}
	for i, t := range times {
		if !finite(t) || (i > 0 && t <= times[i-1]) {
			return nil, fmt.Errorf("plot: times must be finite and increasing (time %d is %v)", i, t)
		}
	}
	var mean, lo, hi plotter.XYs
	for i, t := range times {
		m := meanLoss[i]
		if !finite(m) {
			continue
		}
		s := 0.0
		if stdLoss != nil && finite(stdLoss[i]) {
			if stdLoss[i] < 0 {
				return nil, fmt.Errorf("plot: std %d is negative (%v)", i, stdLoss[i])
			}
			s = stdLoss[i]
		}
		mean = append(mean, plotter.XY{X: t, Y: m})
		low := m - s
		if cfg.logY {
			low = math.Max(low, m/20) // a log axis cannot show ≤ 0; the band is cut off instead
		}
		lo = append(lo, plotter.XY{X: t, Y: low})
		hi = append(hi, plotter.XY{X: t, Y: m + s})
	}
	if len(mean) == 0 {
		return nil, fmt.Errorf("plot: no finite mean loss")
	}
	if cfg.logY {
		for _, q := range mean {
			if q.Y <= 0 {
				return nil, fmt.Errorf("plot: mean loss ≤ 0, cannot use a log axis")
			}
		}
		if finite(ref) && ref <= 0 {
			return nil, fmt.Errorf("plot: reference loss %v ≤ 0, cannot use a log axis", ref)
		}
	}
	col := cfg.color
	if col == nil {
		col = SeriesColor(0)
	}
	p := newPlot(cfg.titleOr("test loss along the sampling ODE"), "ODE time t", "test loss")
	if cfg.logY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	bandPoly, err := band(lo, hi, withAlpha(col, 0.25))
	if err != nil {
		return nil, err
	}
	line, err := meanLine(mean, col)
	if err != nil {
		return nil, err
	}
	p.Add(bandPoly, line)
	thumbs := []gplot.Thumbnailer{line}
	if len(mean) <= 25 { // a short path: mark the snapshots
		sc, _ := dots(mean, col, 2.2)
		p.Add(sc)
		thumbs = append(thumbs, sc)
	}
	addLegend(p, true, "generated nets (mean)", thumbs...)
	p.Legend.Add("±1 std", bandPoly)
	lines := []plotter.XYs{lo, hi, mean}
	entries := 2
	if finite(ref) {
		rl, err := plotter.NewLine(plotter.XYs{{X: times[0], Y: ref}, {X: times[len(times)-1], Y: ref}})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		rl.LineStyle = draw.LineStyle{Color: color.Gray{Y: 0x30}, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		p.Add(rl)
		p.Legend.Add(fmt.Sprintf("zoo final nets (mean %.3g)", ref), rl)
		lines = append(lines, plotter.XYs{{X: times[0], Y: ref}, {X: times[len(times)-1], Y: ref}})
		entries++
	}
	// A little air below and above, so a reference line at the lowest loss clears the axis.
	if p.Y.Max > p.Y.Min {
		if cfg.logY {
			r := math.Pow(p.Y.Max/p.Y.Min, 0.04)
			p.Y.Min, p.Y.Max = p.Y.Min/r, p.Y.Max*r
		} else {
			d := 0.04 * (p.Y.Max - p.Y.Min)
			p.Y.Min, p.Y.Max = p.Y.Min-d, p.Y.Max+d
		}
	}
	placeLegend(p, normalizePoints(p, lines, nil), entries)
	return p, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// diamondGlyph is a filled diamond (a square on its corner); diamondEdge its outline.
type diamondGlyph struct{}

func (diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetColor(sty.Color)
	c.Fill(diamondPath(sty.Radius, pt))
}

type diamondEdge struct{}

func (diamondEdge) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.6)})
	c.Stroke(diamondPath(sty.Radius, pt))
}

func diamondPath(r vg.Length, pt vg.Point) vg.Path {
	r *= 1.25 // a diamond of the same radius looks smaller than a circle
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r*0.75, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r*0.75, Y: pt.Y})
	p.Close()
	return p
}

// glyphThumb is a legend thumbnail showing one glyph in the middle.
type glyphThumb struct{ sty draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2})
}

// pairThumb shows two glyphs side by side.
type pairThumb struct{ a, b glyphThumb }

func (t pairThumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	w := c.Max.X - c.Min.X
	c.DrawGlyph(t.a.sty, vg.Point{X: c.Min.X + w*0.22, Y: y})
	c.DrawGlyph(t.b.sty, vg.Point{X: c.Min.X + w*0.78, Y: y})
}

// lineThumb is a horizontal line through the middle of the thumbnail.
type lineThumb struct{ sty draw.LineStyle }

func (l lineThumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(l.sty, c.Min.X, y, c.Max.X, y)
}
