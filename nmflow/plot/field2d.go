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

// Figures of 2-D toy problems (tutorials): vector fields as quiver plots, point clouds and ODE
// paths in the plane. Points follow nmflow's convention for weights: a flat float32 slice [N,2].

// Arrow is one arrow of a vector field: the velocity (U, V) at the point (X, Y).
type Arrow struct{ X, Y, U, V float64 }

// GridArrows evaluates a vector field on an nx×ny grid over [xmin,xmax]×[ymin,ymax] with one call
// of field, which receives the grid points as a flat [nx·ny, 2] slice and must return the
// velocities in the same form (so a batched model evaluates the whole grid at once).
func GridArrows(xmin, xmax, ymin, ymax float64, nx, ny int, field func(pts []float32) []float32) ([]Arrow, error) {
	if nx < 2 || ny < 2 || !(xmax > xmin) || !(ymax > ymin) {
		return nil, fmt.Errorf("plot: grid needs nx, ny ≥ 2 and a non-empty box, got %d×%d over [%g,%g]×[%g,%g]", nx, ny, xmin, xmax, ymin, ymax)
	}
	pts := make([]float32, 0, 2*nx*ny)
	for j := 0; j < ny; j++ {
		y := ymin + (ymax-ymin)*float64(j)/float64(ny-1)
		for i := 0; i < nx; i++ {
			x := xmin + (xmax-xmin)*float64(i)/float64(nx-1)
			pts = append(pts, float32(x), float32(y))
		}
	}
	vel := field(append([]float32(nil), pts...))
	if len(vel) != len(pts) {
		return nil, fmt.Errorf("plot: field returned %d values for %d points, want %d", len(vel), nx*ny, len(pts))
	}
	arrows := make([]Arrow, nx*ny)
	for i := range arrows {
		arrows[i] = Arrow{X: float64(pts[2*i]), Y: float64(pts[2*i+1]), U: float64(vel[2*i]), V: float64(vel[2*i+1])}
	}
	return arrows, nil
}

// Quiver is a gonum/plot Plotter that draws arrows, coloured by speed through ColorMap (or all
// in Color when ColorMap is nil). An arrow is speed × Scale long in data units, at most MaxLength;
// heads are drawn in canvas units, so they keep their shape whatever the axes' aspect.
type Quiver struct {
	Arrows []Arrow
	// Scale converts a speed into a length in data units. NewQuiver sets it so that an arrow at
	// the 90th percentile of the speeds spans 0.9 of the grid spacing (the smallest gap between
	// distinct X or Y values): a few very fast arrows then do not shrink all the others.
	Scale float64
	// MaxLength caps an arrow's length in data units (0: no cap); NewQuiver sets 1.4 spacings.
	MaxLength float64
	Width     vg.Length // line width (default 1 pt)
	Head      vg.Length // head length (default 5 pt; at most 45% of the arrow)
	Color     color.Color
	// ColorMap colours an arrow by speed/MaxSpeed (clamped to 1); its range is set to [0, 1].
	ColorMap palette.ColorMap
	// MaxSpeed is the top of the colour scale (NewQuiver: the 90th percentile of the speeds).
	MaxSpeed float64
	// Fastest is the largest speed among the arrows.
	Fastest float64
}

// NewQuiver returns a Quiver over arrows with automatic Scale, speed colouring with Viridis
// (WithColorMap to change it) or one colour (WithColor).
func NewQuiver(arrows []Arrow, opts ...Option) (*Quiver, error) {
	if len(arrows) == 0 {
		return nil, fmt.Errorf("plot: no arrows")
	}
	xs, ys := make([]float64, len(arrows)), make([]float64, len(arrows))
	speeds := make([]float64, len(arrows))
	for i, a := range arrows {
		if !finite(a.X) || !finite(a.Y) || !finite(a.U) || !finite(a.V) {
			return nil, fmt.Errorf("plot: arrow %d is not finite: %+v", i, a)
		}
		xs[i], ys[i] = a.X, a.Y
		speeds[i] = math.Hypot(a.U, a.V)
	}
	sort.Float64s(speeds)
	cfg := newConfig(opts)
	gap := spacing(xs, ys)
	q := &Quiver{Arrows: arrows, Width: vg.Points(1), Head: vg.Points(5), Color: cfg.color,
		MaxSpeed: quantile(speeds, 0.9), Fastest: speeds[len(speeds)-1], MaxLength: 1.4 * gap}
	if q.MaxSpeed == 0 {
		q.MaxSpeed = q.Fastest
	}
	if q.Color == nil {
		q.ColorMap = cfg.cmap
		if q.ColorMap == nil {
			q.ColorMap = Viridis()
		}
		q.ColorMap.SetMin(0)
		q.ColorMap.SetMax(1)
	}
	if q.MaxSpeed > 0 {
		q.Scale = 0.9 * gap / q.MaxSpeed
	}
	return q, nil
}

// spacing is the smallest positive gap between sorted distinct coordinates (X or Y), or 5% of the
// larger extent when the points have no grid structure along either axis.
func spacing(xs, ys []float64) float64 {
	best, extent := math.Inf(1), 0.0
	for _, v := range [][]float64{xs, ys} {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		extent = math.Max(extent, s[len(s)-1]-s[0])
		for i := 1; i < len(s); i++ {
			if d := s[i] - s[i-1]; d > 1e-12*(1+math.Abs(s[i])) && d < best {
				best = d
			}
		}
	}
	if math.IsInf(best, 1) {
		if extent == 0 {
			return 1
		}
		return 0.05 * extent
	}
	return best
}

// Plot implements gplot.Plotter.
func (q *Quiver) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, a := range q.Arrows {
		col := q.Color
		if q.ColorMap != nil {
			col = colorAt(q.ColorMap, math.Hypot(a.U, a.V)/math.Max(q.MaxSpeed, 1e-300))
		}
		if col == nil {
			col = color.Black
		}
		dx, dy := q.delta(a)
		tail := vg.Point{X: trX(a.X), Y: trY(a.Y)}
		tip := vg.Point{X: trX(a.X + dx), Y: trY(a.Y + dy)}
		drawArrow(&c, tail, tip, draw.LineStyle{Color: col, Width: q.Width}, q.Head)
	}
}

// delta is an arrow's extent in data units: speed × Scale, capped at MaxLength.
func (q *Quiver) delta(a Arrow) (dx, dy float64) {
	dx, dy = q.Scale*a.U, q.Scale*a.V
	if n := math.Hypot(dx, dy); q.MaxLength > 0 && n > q.MaxLength {
		dx, dy = dx*q.MaxLength/n, dy*q.MaxLength/n
	}
	return dx, dy
}

// drawArrow strokes tail→tip with a filled head of at most head (and at most 45% of the arrow).
func drawArrow(c *draw.Canvas, tail, tip vg.Point, sty draw.LineStyle, head vg.Length) {
	dx, dy := float64(tip.X-tail.X), float64(tip.Y-tail.Y)
	n := math.Hypot(dx, dy)
	if n < 1e-9 {
		c.FillPolygon(sty.Color, []vg.Point{ // a still point: a dot
			{X: tail.X - sty.Width, Y: tail.Y}, {X: tail.X, Y: tail.Y - sty.Width},
			{X: tail.X + sty.Width, Y: tail.Y}, {X: tail.X, Y: tail.Y + sty.Width},
		})
		return
	}
	h := math.Min(float64(head), 0.45*n)
	ux, uy := dx/n, dy/n
	base := vg.Point{X: tip.X - vg.Length(h*ux), Y: tip.Y - vg.Length(h*uy)}
	c.StrokeLine2(sty, tail.X, tail.Y, base.X, base.Y)
	w := 0.45 * h // half-width of the head (about 24°)
	c.FillPolygon(sty.Color, []vg.Point{
		tip,
		{X: base.X - vg.Length(w*uy), Y: base.Y + vg.Length(w*ux)},
		{X: base.X + vg.Length(w*uy), Y: base.Y - vg.Length(w*ux)},
	})
}

// DataRange implements gplot.DataRanger: the arrows' tails and tips.
func (q *Quiver) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, a := range q.Arrows {
		dx, dy := q.delta(a)
		for _, pt := range [2][2]float64{{a.X, a.Y}, {a.X + dx, a.Y + dy}} {
			xmin, xmax = math.Min(xmin, pt[0]), math.Max(xmax, pt[0])
			ymin, ymax = math.Min(ymin, pt[1]), math.Max(ymax, pt[1])
		}
	}
	return xmin, xmax, ymin, ymax
}

// VectorField draws arrows as a quiver plot in the package's style, coloured by speed (Viridis;
// WithColorMap, or WithColor for one colour), with a legend entry giving the colour scale's
// speed range (and the fastest speed when faster arrows saturate it).
// Options: WithTitle (default "velocity field"). Add points or paths with AddPoints2D and
// AddPaths2D.
func VectorField(arrows []Arrow, opts ...Option) (*gplot.Plot, *Quiver, error) {
	q, err := NewQuiver(arrows, opts...)
	if err != nil {
		return nil, nil, err
	}
	cfg := newConfig(opts)
	p := newPlot(cfg.titleOr("velocity field"), "x", "y")
	p.Add(q)
	label := fmt.Sprintf("speed 0 … %.3g", q.MaxSpeed)
	if q.Fastest > q.MaxSpeed*1.0001 {
		label = fmt.Sprintf("speed 0 … %.3g (max %.3g)", q.MaxSpeed, q.Fastest)
	}
	if q.ColorMap != nil {
		addLegend(p, true, label, gradient{cm: q.ColorMap})
	} else {
		addLegend(p, true, label, lineThumb{sty: draw.LineStyle{Color: q.Color, Width: q.Width}})
	}
	return p, q, nil
}

// Plane returns an empty figure in the package's style with axes x and y, for AddPoints2D and
// AddPaths2D. Option: WithTitle.
func Plane(opts ...Option) *gplot.Plot {
	return newPlot(newConfig(opts).titleOr(""), "x", "y")
}

// xyRows converts a flat [N,2] slice into plotter points.
func xyRows(xy []float32) (plotter.XYs, error) {
	if len(xy) == 0 || len(xy)%2 != 0 {
		return nil, fmt.Errorf("plot: 2-D points need a non-empty flat [N,2] slice, got %d values", len(xy))
	}
	out := make(plotter.XYs, len(xy)/2)
	for i := range out {
		out[i] = plotter.XY{X: float64(xy[2*i]), Y: float64(xy[2*i+1])}
	}
	return out, nil
}

// AddPoints2D adds the points of a flat [N,2] slice to p as small dots with a legend entry when
// label is not empty (default colour: the first series colour; WithColor changes it).
func AddPoints2D(p *gplot.Plot, xy []float32, label string, opts ...Option) (*plotter.Scatter, error) {
	if p == nil {
		return nil, fmt.Errorf("plot: nil plot")
	}
	pts, err := xyRows(xy)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	col := cfg.color
	if col == nil {
		col = SeriesColor(0)
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: withAlpha(col, 0.7), Radius: vg.Points(1.6), Shape: draw.CircleGlyph{}}
	p.Add(sc)
	if label != "" {
		p.Legend.Add(label, sc)
	}
	return sc, nil
}

// AddPaths2D draws the paths of N points through the snapshots of an ODE solution (each a flat
// [N,2] slice, e.g. flow.Samples.Path) as thin lines, at most limit of them (limit ≤ 0: all),
// with a legend entry when label is not empty (default colour grey; WithColor changes it).
func AddPaths2D(p *gplot.Plot, snaps [][]float32, limit int, label string, opts ...Option) (*plotter.Line, error) {
	if p == nil {
		return nil, fmt.Errorf("plot: nil plot")
	}
	if len(snaps) < 2 {
		return nil, fmt.Errorf("plot: a path needs at least 2 snapshots, got %d", len(snaps))
	}
	n := len(snaps[0]) / 2
	for k, s := range snaps {
		if len(s) != 2*n || n == 0 {
			return nil, fmt.Errorf("plot: snapshot %d has %d values, want %d (flat [N,2])", k, len(s), 2*n)
		}
	}
	if limit > 0 {
		n = min(n, limit)
	}
	cfg := newConfig(opts)
	col := cfg.color
	if col == nil {
		col = color.Gray{Y: 0x70}
	}
	paths := make([]plotter.XYs, n)
	for i := range paths {
		paths[i] = make(plotter.XYs, len(snaps))
		for k, s := range snaps {
			paths[i][k] = plotter.XY{X: float64(s[2*i]), Y: float64(s[2*i+1])}
		}
	}
	l, err := addPaths(p, paths, draw.LineStyle{Color: withAlpha(col, 0.55), Width: vg.Points(0.6)})
	if err != nil {
		return nil, err
	}
	if label != "" && l != nil {
		p.Legend.Add(label, lineThumb{sty: draw.LineStyle{Color: col, Width: vg.Points(1)}})
	}
	return l, nil
}
