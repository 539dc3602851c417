package plot

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// WeightHistograms returns one plot per weight segment of the zoo's Layout (biases too with
// WithBiases(true)), overlaying the distribution of that segment's values over all runs at
// each of the given checkpoints (indices 0..K; nil means init and final). All checkpoints of
// a segment share bins so their densities compare directly. A zoo without a Layout gets a
// single plot of all parameters. Render several with RenderGrid. Options: WithBins, WithBiases.
func WeightHistograms(z *traj.Zoo, checkpoints []int, opts ...Option) ([]*gplot.Plot, error) {
	if err := checkZoo(z); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	if cfg.binsSet && cfg.bins <= 0 {
		return nil, fmt.Errorf("plot: need a positive number of bins, got %d", cfg.bins)
	}
	K := z.Checkpoints - 1
	if len(checkpoints) == 0 {
		checkpoints = []int{0}
		if K > 0 {
			checkpoints = append(checkpoints, K)
		}
	}
	seen := map[int]bool{}
	for _, k := range checkpoints {
		if k < 0 || k > K {
			return nil, fmt.Errorf("plot: checkpoint %d out of range [0, %d]", k, K)
		}
		if seen[k] {
			return nil, fmt.Errorf("plot: checkpoint %d given twice", k)
		}
		seen[k] = true
	}

	var out []*gplot.Plot
	for _, seg := range histSegments(z, cfg.biases) {
		p, err := segmentHistogram(z, seg, checkpoints, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// histSegments picks the segments to draw; with no Layout the whole vector is one segment.
func histSegments(z *traj.Zoo, biases bool) []arch.Segment {
	all := z.Meta.Layout.Segments
	if len(all) == 0 {
		return []arch.Segment{{Name: "all parameters", Shape: []int{z.Params}, Kind: arch.Weight}}
	}
	var segs []arch.Segment
	for _, s := range all {
		if s.Kind != arch.Bias || biases {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 { // a biases-only layout still deserves a figure
		return all
	}
	return segs
}

func segmentHistogram(z *traj.Zoo, seg arch.Segment, ks []int, cfg config) (*gplot.Plot, error) {
	K := z.Checkpoints - 1
	size := seg.Size()
	values := func(k int, f func(float64)) {
		for r := 0; r < z.Runs; r++ {
			for _, v := range z.At(r, k)[seg.Offset : seg.Offset+size] {
				if x := float64(v); !math.IsNaN(x) && !math.IsInf(x, 0) {
					f(x)
				}
			}
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, k := range ks {
		values(k, func(x float64) { lo, hi = math.Min(lo, x), math.Max(hi, x) })
	}
	if lo > hi {
		return nil, fmt.Errorf("plot: segment %q has no finite values", seg.Name)
	}
	if lo == hi { // constant segment (e.g. zero-initialised biases): give the bar some width
		d := math.Max(math.Abs(lo)*0.1, 0.5)
		lo, hi = lo-d, hi+d
	}
	nb := cfg.bins
	if !cfg.binsSet {
		n := float64(z.Runs * size)
		nb = int(math.Max(10, math.Min(60, math.Round(2*math.Cbrt(n)))))
	}
	width := (hi - lo) / float64(nb)

	title := fmt.Sprintf("%s %s", seg.Name, shapeString(seg.Shape))
	p := newPlot(cfg.titleOr(title), "value", "density")
	var outlines []plotter.XYs
	for i, k := range ks {
		counts := make([]float64, nb)
		n := 0
		values(k, func(x float64) {
			b := min(int((x-lo)/width), nb-1) // x == hi lands in the last bin
			counts[b]++
			n++
		})
		col := SeriesColor(i)
		h := &plotter.Histogram{Width: width, FillColor: withAlpha(col, 0.30)}
		h.LineStyle.Width = 0
		step := make(plotter.XYs, 0, 2*nb+2)
		step = append(step, plotter.XY{X: lo, Y: 0})
		for b, c := range counts {
			d := 0.0
			if n > 0 {
				d = c / (float64(n) * width)
			}
			x0 := lo + float64(b)*width
			h.Bins = append(h.Bins, plotter.HistogramBin{Min: x0, Max: x0 + width, Weight: d})
			step = append(step, plotter.XY{X: x0, Y: d}, plotter.XY{X: x0 + width, Y: d})
		}
		step = append(step, plotter.XY{X: hi, Y: 0})
		outline, err := plotter.NewLine(step)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		outline.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.2)}
		p.Add(h, outline)
		addLegend(p, i == 0, checkpointLabel(k, K), box{fill: h.FillColor, edge: col})
		outlines = append(outlines, step)
	}
	placeLegend(p, normalizePoints(p, outlines, nil), len(ks))
	return p, nil
}

// checkpointLabel names checkpoint k of 0..K for legends: "k=0 (init)", "k=5 (final)", "k=2".
func checkpointLabel(k, K int) string {
	switch {
	case k == 0:
		return "k=0 (init)"
	case k == K:
		return fmt.Sprintf("k=%d (final)", K)
	default:
		return fmt.Sprintf("k=%d", k)
	}
}

// shapeString writes a PyTorch shape as "[4×3]".
func shapeString(shape []int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(s, "×") + "]"
}

// box is a legend thumbnail matching a filled, outlined histogram.
type box struct{ fill, edge color.Color }

func (b box) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(b.fill, pts)
	c.StrokeLines(draw.LineStyle{Color: b.edge, Width: vg.Points(1.2)}, append(pts, pts[0]))
}
