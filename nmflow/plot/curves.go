package plot

import (
	"fmt"
	"image/color"
	"math"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// StandardMetrics returns the metrics TrainingCurvesGrid draws, in order, when the zoo has them.
func StandardMetrics() []string {
	return []string{traj.MetricTrainLoss, traj.MetricTestLoss, traj.MetricTestAcc}
}

// checkpointStats summarises one metric across runs at one checkpoint (NaNs skipped).
type checkpointStats struct {
	x                   float64
	mean, std, min, max float64
}

// TrainingCurves plots metric against training step: the mean over runs as a line, a ±1 std
// band and a lighter min–max band. Non-finite values (diverged runs) are skipped; a checkpoint
// with no finite value is left out. Options: WithTitle, WithColor, WithLogY.
func TrainingCurves(z *traj.Zoo, metric string, opts ...Option) (*gplot.Plot, error) {
	if err := checkZoo(z); err != nil {
		return nil, err
	}
	vals, ok := z.Metrics[metric]
	if !ok {
		return nil, fmt.Errorf("plot: zoo has no metric %q (has: %s)", metric, metricNames(z))
	}
	cfg := newConfig(opts)
	xs, xlabel := stepAxis(z)
	var st []checkpointStats
	for k := 0; k < z.Checkpoints; k++ {
		s, n := statsAt(vals, z.Runs, z.Checkpoints, k)
		if n == 0 {
			continue
		}
		s.x = xs[k]
		st = append(st, s)
	}
	if len(st) == 0 {
		return nil, fmt.Errorf("plot: metric %q has no finite values", metric)
	}
	if cfg.logY {
		for _, s := range st {
			if s.min <= 0 {
				return nil, fmt.Errorf("plot: metric %q has values <= 0, cannot use a log axis", metric)
			}
		}
	}

	label := MetricLabel(metric)
	p := newPlot(cfg.titleOr(label+" "+describe(z)), xlabel, label)
	if cfg.logY {
		p.Y.Scale = gplot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	col := cfg.color
	if col == nil {
		col = SeriesColor(0)
	}

	mean := make(plotter.XYs, len(st))
	lo, hi := make(plotter.XYs, len(st)), make(plotter.XYs, len(st))
	mn, mx := make(plotter.XYs, len(st)), make(plotter.XYs, len(st))
	for i, s := range st {
		mean[i] = plotter.XY{X: s.x, Y: s.mean}
		// The std band is clipped to the observed range so it never suggests impossible
		// values such as an accuracy above 1 or a negative loss.
		lo[i] = plotter.XY{X: s.x, Y: math.Max(s.mean-s.std, s.min)}
		hi[i] = plotter.XY{X: s.x, Y: math.Min(s.mean+s.std, s.max)}
		mn[i] = plotter.XY{X: s.x, Y: s.min}
		mx[i] = plotter.XY{X: s.x, Y: s.max}
	}
	envelope, err := band(mn, mx, withAlpha(col, 0.13))
	if err != nil {
		return nil, err
	}
	stdBand, err := band(lo, hi, withAlpha(col, 0.30))
	if err != nil {
		return nil, err
	}
	line, err := meanLine(mean, col)
	if err != nil {
		return nil, err
	}
	p.Add(envelope, stdBand, line)
	if len(st) == 1 { // a lone checkpoint draws no line; mark it
		sc, _ := dots(mean, col, 3)
		p.Add(sc)
	}
	addLegend(p, true, fmt.Sprintf("mean of %d runs", z.Runs), line)
	p.Legend.Add("±1 std", stdBand)
	p.Legend.Add("min–max", envelope)
	placeLegend(p, normalizePoints(p, []plotter.XYs{mn, mx, mean}, nil), 3)
	return p, nil
}

// TrainingCurvesGrid returns TrainingCurves for each of StandardMetrics() the zoo holds (render
// them side by side with RenderGrid(len(plots), ...)). It fails only if none is present.
// Losses get a log axis when all their values are positive.
func TrainingCurvesGrid(z *traj.Zoo, opts ...Option) ([]*gplot.Plot, error) {
	if err := checkZoo(z); err != nil {
		return nil, err
	}
	var out []*gplot.Plot
	for _, m := range StandardMetrics() {
		if _, ok := z.Metrics[m]; !ok {
			continue
		}
		o := opts
		if m != traj.MetricTestAcc && allPositive(z.Metrics[m]) {
			o = append(append([]Option(nil), opts...), WithLogY())
		}
		p, err := TrainingCurves(z, m, o...)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plot: zoo has none of the standard metrics %v (has: %s)", StandardMetrics(), metricNames(z))
	}
	return out, nil
}

// stepAxis returns the x value of each checkpoint: its training step when the steps increase,
// else the checkpoint index (zoos written without step bookkeeping).
func stepAxis(z *traj.Zoo) ([]float64, string) {
	xs := make([]float64, z.Checkpoints)
	increasing := true
	for k, s := range z.Steps {
		xs[k] = float64(s)
		if k > 0 && s <= z.Steps[k-1] {
			increasing = false
		}
	}
	if increasing && z.Checkpoints > 1 {
		return xs, "training step"
	}
	for k := range xs {
		xs[k] = float64(k)
	}
	return xs, "checkpoint k"
}

// statsAt computes mean, sample std, min and max of vals[r, k] over runs r, skipping NaN/Inf.
func statsAt(vals []float32, runs, ckpts, k int) (checkpointStats, int) {
	s := checkpointStats{min: math.Inf(1), max: math.Inf(-1)}
	var sum float64
	n := 0
	for r := 0; r < runs; r++ {
		v := float64(vals[r*ckpts+k])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		sum += v
		s.min = math.Min(s.min, v)
		s.max = math.Max(s.max, v)
		n++
	}
	if n == 0 {
		return s, 0
	}
	s.mean = sum / float64(n)
	if n > 1 {
		var ss float64
		for r := 0; r < runs; r++ {
			v := float64(vals[r*ckpts+k])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			ss += (v - s.mean) * (v - s.mean)
		}
		s.std = math.Sqrt(ss / float64(n-1))
	}
	return s, n
}

// meanLine is pts drawn as a mean curve: a 1.8-pt line of col.
func meanLine(pts plotter.XYs, col color.Color) (*plotter.Line, error) {
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	line.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.8)}
	return line, nil
}

// dots marks pts with filled circles of col, radius points across.
func dots(pts plotter.XYs, col color.Color, radius float64) (*plotter.Scatter, error) {
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(radius), Shape: draw.CircleGlyph{}}
	return sc, nil
}

// band is the filled polygon between lower and upper curves (same x values).
func band(lower, upper plotter.XYs, fill color.Color) (*plotter.Polygon, error) {
	ring := make(plotter.XYs, 0, 2*len(lower))
	ring = append(ring, lower...)
	for i := len(upper) - 1; i >= 0; i-- {
		ring = append(ring, upper[i])
	}
	poly, err := plotter.NewPolygon(ring)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	poly.Color = fill
	poly.LineStyle.Width = 0
	return poly, nil
}

func allPositive(v []float32) bool {
	for _, x := range v {
		if !(x > 0) && !math.IsNaN(float64(x)) {
			return false
		}
	}
	return true
}
