package plot

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// Default figure size: readable in a notebook cell and in a paper column.
const (
	DefaultWidth  = 5 * vg.Inch
	DefaultHeight = 3.5 * vg.Inch
	// DefaultDPI is the PNG resolution used by Render; 144 keeps text crisp on high-DPI screens.
	DefaultDPI = 144
)

// sans is the plot font: Liberation Sans ships with gonum/plot, so output needs no system fonts.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// Series colours (Tableau 10), in the order series are added.
var seriesColors = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x7f, 0x7f, 0x7f, 0xff}, // grey
	{0xbc, 0xbd, 0x22, 0xff}, // olive
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
}

// SeriesColor returns the i-th colour of the package's categorical palette (cycling).
func SeriesColor(i int) color.Color {
	if i < 0 {
		i = -i
	}
	return seriesColors[i%len(seriesColors)]
}

// withAlpha returns c with opacity a in [0,1] (non-premultiplied, so it blends as expected).
func withAlpha(c color.Color, a float64) color.Color {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	n.A = uint8(math.Round(a * 255))
	return n
}

// Viridis returns a perceptually uniform, colour-blind friendly sequential colour map on [0,1]
// (dark purple → green → yellow). Unlike a diverging map its middle is not pale, so
// mid-training points stay visible on a white background.
func Viridis() palette.ColorMap {
	anchors := []color.Color{
		color.NRGBA{0x44, 0x01, 0x54, 0xff},
		color.NRGBA{0x48, 0x28, 0x78, 0xff},
		color.NRGBA{0x3e, 0x49, 0x89, 0xff},
		color.NRGBA{0x31, 0x68, 0x8e, 0xff},
		color.NRGBA{0x26, 0x82, 0x8e, 0xff},
		color.NRGBA{0x1f, 0x9e, 0x89, 0xff},
		color.NRGBA{0x35, 0xb7, 0x79, 0xff},
		color.NRGBA{0x6e, 0xce, 0x58, 0xff},
		color.NRGBA{0xb5, 0xde, 0x2b, 0xff},
		color.NRGBA{0xfd, 0xe7, 0x25, 0xff},
	}
	cm, err := moreland.NewLuminance(anchors)
	if err != nil { // the anchors are fixed and increase in luminance
		panic(err)
	}
	cm.SetMin(0)
	cm.SetMax(1)
	return cm
}

// colorAt evaluates cm at v, clamping v into the map's range so rounding never yields an error.
func colorAt(cm palette.ColorMap, v float64) color.Color {
	v = math.Max(cm.Min(), math.Min(cm.Max(), v))
	c, err := cm.At(v)
	if err != nil {
		return color.Black
	}
	return c
}

// newPlot returns a plot with the package's style: sans fonts, light grid, legend at top right.
func newPlot(title, xlabel, ylabel string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 13)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*gplot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 9)
		a.Tick.Length = vg.Points(4)
		a.Padding = vg.Points(3)
	}
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.TextStyle.Font = font.From(sans, 9)
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = vg.Points(16)
	p.Legend.Padding = vg.Points(1)
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{}
	g := plotter.NewGrid()
	g.Vertical = draw.LineStyle{Color: color.Gray{Y: 0xe4}, Width: vg.Points(0.5)}
	g.Horizontal = g.Vertical
	p.Add(g)
	return p
}

// corner is a legend position.
type corner struct{ top, left bool }

// placeLegend puts the legend in the corner of the data area where it hides the least data:
// a corner whose box (about a legend's size) holds no points wins, in the order top right,
// top left, bottom right, bottom left. If every corner holds data, the corner needing the
// least extra y range is chosen and the range grows just enough for a legend of the given
// number of entries (at the default size) to clear the data below (or above) it.
// pts are normalized axis coordinates, see normalizePoints.
func placeLegend(p *gplot.Plot, pts []vg.Point, entries int) {
	const bw = 0.40                                 // legend width, fraction of the data area
	h := math.Min(0.5, 0.055*float64(entries)+0.06) // a 9 pt entry ≈ 5.5% of the height, + inset
	corners := []corner{{true, false}, {true, true}, {false, false}, {false, true}}
	best, bestGrow := corners[0], math.Inf(1)
	for _, c := range corners {
		// The furthest any point under the legend's columns reaches towards its edge.
		reach := math.Inf(-1)
		for _, q := range pts {
			inX := float64(q.X) >= 1-bw
			if c.left {
				inX = float64(q.X) <= bw
			}
			if !inX {
				continue
			}
			if c.top {
				reach = math.Max(reach, float64(q.Y))
			} else {
				reach = math.Max(reach, 1-float64(q.Y))
			}
		}
		// Growing the range by g (in units of the old range) moves that point to reach/(1+g);
		// it must end up at most 1-h.
		grow := math.Max(0, reach/(1-h)-1)
		if grow < bestGrow {
			best, bestGrow = c, grow
		}
	}
	p.Legend.Top, p.Legend.Left = best.top, best.left
	// Inset the legend so that its background box clears the axes.
	p.Legend.XOffs, p.Legend.YOffs = -legendInset, -legendInset
	if best.left {
		p.Legend.XOffs = legendInset
	}
	if !best.top {
		p.Legend.YOffs = legendInset
	}
	if bestGrow > 0 && p.Y.Max > p.Y.Min {
		lo, hi := p.Y.Min, p.Y.Max
		_, logY := p.Y.Scale.(gplot.LogScale)
		if logY && lo > 0 {
			lo, hi = math.Log(lo), math.Log(hi)
		}
		grow := (hi - lo) * bestGrow
		if best.top {
			hi += grow
		} else {
			lo -= grow
		}
		if logY && p.Y.Min > 0 {
			lo, hi = math.Exp(lo), math.Exp(hi)
		}
		p.Y.Min, p.Y.Max = lo, hi
	}
}

const legendInset = 5 // points between the legend and the data area's edges

// legendBackground paints a translucent box behind the whole legend so entries stay readable
// over data. gonum/plot legends have no background, and anything added as a plotter would be
// drawn before later overlays; a thumbnail is drawn with the legend itself, after all data.
// It must be the first thumbnail of the first entry: it then sits at the legend's top corner
// and reads the legend's final size (including entries added later) when drawn.
type legendBackground struct{ l *gplot.Legend }

func (b legendBackground) Thumbnail(c *draw.Canvas) {
	size := b.l.Rectangle(*c).Size()
	const m = 3 // margin, points
	x0, x1 := c.Max.X-size.X-m, c.Max.X+m
	if b.l.Left {
		x0, x1 = c.Min.X-m, c.Min.X+size.X+m
	}
	y0, y1 := c.Max.Y-size.Y-m, c.Max.Y+m
	box := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
	c.FillPolygon(color.NRGBA{R: 255, G: 255, B: 255, A: 217}, box)
	c.StrokeLines(draw.LineStyle{Color: color.Gray{Y: 0xcc}, Width: vg.Points(0.5)}, append(box, box[0]))
}

// addLegend adds a legend entry; the plot's first entry also carries the legend background.
func addLegend(p *gplot.Plot, first bool, name string, thumbs ...gplot.Thumbnailer) {
	if first {
		thumbs = append([]gplot.Thumbnailer{legendBackground{&p.Legend}}, thumbs...)
	}
	p.Legend.Add(name, thumbs...)
}

// normalizePoints maps data points into [0,1]² axis coordinates (after the axes' scales),
// inserting points along each polyline so that segments crossing a corner count too.
func normalizePoints(p *gplot.Plot, lines []plotter.XYs, points plotter.XYs) []vg.Point {
	xmin, xmax, ymin, ymax := p.X.Min, p.X.Max, p.Y.Min, p.Y.Max
	norm := func(x, y float64) vg.Point {
		nx, ny := 0.5, 0.5
		if xmax > xmin {
			nx = p.X.Scale.Normalize(xmin, xmax, x)
		}
		if ymax > ymin {
			ny = p.Y.Scale.Normalize(ymin, ymax, y)
		}
		return vg.Point{X: vg.Length(nx), Y: vg.Length(ny)}
	}
	var out []vg.Point
	for _, l := range lines {
		for i := range l {
			out = append(out, norm(l[i].X, l[i].Y))
			if i+1 < len(l) {
				const sub = 16
				for s := 1; s < sub; s++ {
					f := float64(s) / sub
					out = append(out, norm(l[i].X+f*(l[i+1].X-l[i].X), l[i].Y+f*(l[i+1].Y-l[i].Y)))
				}
			}
		}
	}
	for _, q := range points {
		out = append(out, norm(q.X, q.Y))
	}
	return out
}

// MetricLabel turns a metric tensor name into an axis label: "test_acc" → "test accuracy".
func MetricLabel(name string) string {
	parts := strings.Split(name, "_")
	for i, s := range parts {
		switch s {
		case "acc":
			parts[i] = "accuracy"
		case "err":
			parts[i] = "error"
		}
	}
	return strings.Join(parts, " ")
}

// checkZoo rejects zoos that cannot be drawn; traj.Zoo.Check does the size bookkeeping.
func checkZoo(z *traj.Zoo) error {
	if z == nil {
		return fmt.Errorf("plot: nil zoo")
	}
	if err := z.Check(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// metricNames lists a zoo's metrics, sorted, for error messages.
func metricNames(z *traj.Zoo) string {
	names := make([]string, 0, len(z.Metrics))
	for n := range z.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// describe returns a short "(mnist, mlp, R=5)" suffix for titles from whatever Meta holds.
func describe(z *traj.Zoo) string {
	var parts []string
	if n := z.Meta.Dataset.Name; n != "" {
		parts = append(parts, n)
	}
	if k := z.Meta.Arch.Kind; k != "" {
		parts = append(parts, k)
	}
	parts = append(parts, fmt.Sprintf("R=%d", z.Runs))
	return "(" + strings.Join(parts, ", ") + ")"
}

// Option tunes a figure. Options that do not apply to a function are ignored by it.
type Option func(*config)

type config struct {
	title    *string
	pca      *PCA
	cmap     palette.ColorMap
	bins     int // 0: automatic
	binsSet  bool
	biases   bool
	logY     bool
	logX     bool
	color    color.Color
	paths    bool
	pathsSet bool
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func (c config) titleOr(def string) string {
	if c.title != nil {
		return *c.title
	}
	return def
}

// WithTitle replaces the default title ("" removes it).
func WithTitle(s string) Option { return func(c *config) { c.title = &s } }

// WithPCA makes PCATrajectories use an already fitted projection instead of fitting one,
// e.g. to draw two zoos in the same plane.
func WithPCA(p *PCA) Option { return func(c *config) { c.pca = p } }

// WithColorMap sets the colour map for training time t = k/K (default Viridis). Its range is
// reset to [0,1].
func WithColorMap(cm palette.ColorMap) Option { return func(c *config) { c.cmap = cm } }

// WithBins sets the number of histogram bins (default: Rice's rule 2·∛N, clamped to [10, 60]).
func WithBins(n int) Option { return func(c *config) { c.bins, c.binsSet = n, true } }

// WithBiases makes WeightHistograms draw bias segments too (default: weights only).
func WithBiases(on bool) Option { return func(c *config) { c.biases = on } }

// WithLogY puts the y axis of TrainingCurves on a log scale (useful for losses).
func WithLogY() Option { return func(c *config) { c.logY = true } }

// WithLogX puts the x axis of Bands and Lines on a log scale.
func WithLogX() Option { return func(c *config) { c.logX = true } }

// WithColor sets the main colour of a series (TrainingCurves, AddPoints, AddPath).
func WithColor(col color.Color) Option { return func(c *config) { c.color = col } }

// WithPaths turns the grey per-run paths of PCATrajectories on or off (default on).
func WithPaths(on bool) Option { return func(c *config) { c.paths, c.pathsSet = on, true } }
