package plot

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Landscape draws a scalar function of the plane — a toy loss, a reward — as a pale heat map
// (Viridis blended halfway to white, so that points and paths drawn over it stay visible) with
// contour lines, on an n×n grid over [xmin,xmax]×[ymin,ymax]. The contour levels are quantiles of
// the grid values (deciles), so a function with a steep rim still shows its valleys. name labels
// the colour scale in the legend, e.g. "loss". Options: WithTitle, WithColorMap. Draw points and
// paths over it with AddPoints2D and AddPaths2D.
func Landscape(name string, xmin, xmax, ymin, ymax float64, n int, f func(x, y float64) float64, opts ...Option) (*gplot.Plot, error) {
	if n < 2 || !(xmax > xmin) || !(ymax > ymin) {
		return nil, fmt.Errorf("plot: landscape needs n ≥ 2 and a non-empty box, got %d over [%g,%g]×[%g,%g]", n, xmin, xmax, ymin, ymax)
	}
	if f == nil {
		return nil, fmt.Errorf("plot: landscape needs a function")
	}
	g := &gridXYZ{n: n, xmin: xmin, ymin: ymin, dx: (xmax - xmin) / float64(n-1), dy: (ymax - ymin) / float64(n-1), z: make([]float64, n*n)}
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			v := f(g.X(c), g.Y(r))
			if !finite(v) {
				return nil, fmt.Errorf("plot: landscape value at (%g, %g) is not finite: %v", g.X(c), g.Y(r), v)
			}
			g.z[r*n+c] = v
		}
	}
	sorted := append([]float64(nil), g.z...)
	sort.Float64s(sorted)
	lo, hi := sorted[0], sorted[len(sorted)-1]
	cfg := newConfig(opts)
	cm := cfg.cmap
	if cm == nil {
		cm = Viridis()
	}
	pale := make([]color.Color, 64)
	for i := range pale {
		pale[i] = blendWhite(colorAt(cm, cm.Min()+(cm.Max()-cm.Min())*float64(i)/float64(len(pale)-1)), 0.5)
	}
	p := newPlot(cfg.titleOr(""), "x", "y")
	if hi > lo {
		h := plotter.NewHeatMap(g, palette.Palette(staticPalette(pale)))
		h.Min, h.Max, h.Rasterized = lo, hi, true
		p.Add(h)
		var levels []float64
		for q := 1; q < 10; q++ {
			v := sorted[int(math.Round(float64(q)/10*float64(len(sorted)-1)))]
			if len(levels) == 0 || v > levels[len(levels)-1] {
				levels = append(levels, v)
			}
		}
		c := plotter.NewContour(g, levels, palette.Palette(staticPalette([]color.Color{color.Gray{Y: 0x60}})))
		c.LineStyles = []draw.LineStyle{{Color: color.Gray{Y: 0x60}, Width: vg.Points(0.5)}}
		p.Add(c)
	}
	addLegend(p, true, fmt.Sprintf("%s %.3g … %.3g", name, lo, hi), paletteThumb(pale))
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
	return p, nil
}

// gridXYZ is an n×n grid of values (row r at y, column c at x) for heat maps and contours.
type gridXYZ struct {
	n          int
	xmin, ymin float64
	dx, dy     float64
	z          []float64
}

func (g *gridXYZ) Dims() (c, r int)   { return g.n, g.n }
func (g *gridXYZ) Z(c, r int) float64 { return g.z[r*g.n+c] }
func (g *gridXYZ) X(c int) float64    { return g.xmin + float64(c)*g.dx }
func (g *gridXYZ) Y(r int) float64    { return g.ymin + float64(r)*g.dy }

// staticPalette is a fixed list of colours as a palette.Palette.
type staticPalette []color.Color

func (s staticPalette) Colors() []color.Color { return s }

// paletteThumb draws a colour scale as a legend thumbnail.
type paletteThumb []color.Color

func (pt paletteThumb) Thumbnail(c *draw.Canvas) {
	n := len(pt)
	w := (c.Max.X - c.Min.X) / vg.Length(n)
	y0, y1 := c.Min.Y+0.15*(c.Max.Y-c.Min.Y), c.Max.Y-0.15*(c.Max.Y-c.Min.Y)
	for i, col := range pt {
		x0 := c.Min.X + vg.Length(i)*w
		c.FillPolygon(col, []vg.Point{{X: x0, Y: y0}, {X: x0 + w + 0.3, Y: y0}, {X: x0 + w + 0.3, Y: y1}, {X: x0, Y: y1}})
	}
}

// blendWhite mixes c with white: a = 0 keeps c, a = 1 gives white.
func blendWhite(c color.Color, a float64) color.Color {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v) + a*(255-float64(v)))) }
	return color.NRGBA{R: mix(n.R), G: mix(n.G), B: mix(n.B), A: 0xff}
}
