package eval

import (
	"fmt"
	"math"
)

// CurvePoint is one point of a [NoveltyCurve].
type CurvePoint struct {
	// Level is the noise norm in units of Comparison.NNDist (0: the trained nets themselves).
	Level float64 `json:"level"`
	// Distance is the median distance of the noisy nets to their nearest trained net.
	Distance float64 `json:"distance"`
	// Accuracy is their mean test accuracy, Stderr its standard error.
	Accuracy float64 `json:"accuracy"`
	Stderr   float64 `json:"stderr"`
}

// NoveltyCurve is the noise-addition baseline of Zeng et al. (2025) as a curve: test accuracy
// against distance to the nearest trained net, for trained nets plus noise of increasing size.
// A generator whose nets lie at distance d from the zoo is only more than a copier plus noise if
// its accuracy at d is above the curve ([BeatsNoise]).
type NoveltyCurve []CurvePoint

// NoveltyCurve returns the comparison's noise curve: the reference nets at distance 0, then one
// point per noise row.
func (c *Comparison) NoveltyCurve() NoveltyCurve {
	ref := c.Row(RowReference)
	if ref == nil {
		return nil
	}
	out := NoveltyCurve{{Level: 0, Distance: 0, Accuracy: ref.Accuracy.Mean, Stderr: ref.AccuracyStderr}}
	for _, r := range c.Noise() {
		out = append(out, CurvePoint{Level: r.Level, Distance: r.Nearest.Median, Accuracy: r.Accuracy.Mean, Stderr: r.AccuracyStderr})
	}
	return out
}

// At interpolates the curve's accuracy and standard error linearly in distance; ok is false
// outside the curve's distance range (nothing is extrapolated).
func (nc NoveltyCurve) At(d float64) (acc, stderr float64, ok bool) {
	for i := 1; i < len(nc); i++ {
		a, b := nc[i-1], nc[i]
		if d >= a.Distance && d <= b.Distance && b.Distance > a.Distance {
			t := (d - a.Distance) / (b.Distance - a.Distance)
			return a.Accuracy + t*(b.Accuracy-a.Accuracy), a.Stderr + t*(b.Stderr-a.Stderr), true
		}
	}
	if len(nc) > 0 && d == nc[0].Distance {
		return nc[0].Accuracy, nc[0].Stderr, true
	}
	return 0, 0, false
}

// NoiseVerdict says whether a set of nets beats the noise curve (see [BeatsNoise]).
type NoiseVerdict struct {
	// Distance is the set's median distance to its nearest trained net; Accuracy its mean test
	// accuracy, Stderr that mean's standard error.
	Distance float64 `json:"distance"`
	Accuracy float64 `json:"accuracy"`
	Stderr   float64 `json:"stderr"`
	// CurveAccuracy and CurveStderr: the noise curve at Distance.
	CurveAccuracy float64 `json:"curve_accuracy"`
	CurveStderr   float64 `json:"curve_stderr"`
	// Margin is Accuracy − CurveAccuracy; Bound its combined standard error √(Stderr² + CurveStderr²).
	Margin float64 `json:"margin"`
	Bound  float64 `json:"bound"`
	// InRange is false when Distance lies beyond the curve (add larger noise levels).
	InRange bool `json:"in_range"`
	// NotCopies is true only when Margin > Bound: the set is more accurate, at its novelty, than
	// trained nets plus noise that moves them as far. Only then may it be called "not copies".
	NotCopies bool   `json:"not_copies"`
	Text      string `json:"text"`
}

// BeatsNoise decides whether row beats the noise curve: at the row's median nearest-trained
// distance, is its mean accuracy above the curve's (interpolated) accuracy by more than one
// combined standard error? A row that does not is no better than copying trained nets and adding
// noise, whatever its other scores.
func BeatsNoise(curve NoveltyCurve, row Row) NoiseVerdict {
	v := NoiseVerdict{Distance: row.Nearest.Median, Accuracy: row.Accuracy.Mean, Stderr: row.AccuracyStderr}
	ca, cs, ok := curve.At(v.Distance)
	if !ok {
		last := math.NaN()
		if len(curve) > 0 {
			last = curve[len(curve)-1].Distance
		}
		v.Text = fmt.Sprintf("not resolvable: %s lies %.4g from the trained nets, beyond the noise curve (up to %.4g); add larger noise levels", row.Name, v.Distance, last)
		return v
	}
	v.InRange, v.CurveAccuracy, v.CurveStderr = true, ca, cs
	v.Margin, v.Bound = v.Accuracy-ca, math.Hypot(v.Stderr, cs)
	v.NotCopies = v.Margin > v.Bound
	if v.NotCopies {
		v.Text = fmt.Sprintf("not copies: at distance %.4g %s is %.4f accurate, the noise curve %.4f (margin %.4f > %.4f)", v.Distance, row.Name, v.Accuracy, ca, v.Margin, v.Bound)
	} else {
		v.Text = fmt.Sprintf("no better than noise: at distance %.4g %s is %.4f accurate, the noise curve %.4f (margin %.4f ≤ %.4f)", v.Distance, row.Name, v.Accuracy, ca, v.Margin, v.Bound)
	}
	return v
}

// Novelty is the [NoveltyReport] of a row of the comparison against the reference nets, from the
// distances the comparison measured (Row.Nearest: aligned per pair unless the space is raw);
// percentile sets the memorization threshold (0: 5).
func (c *Comparison) Novelty(row *Row, percentile float64) NoveltyReport {
	if percentile == 0 {
		percentile = 5
	}
	ref := c.Row(RowReference)
	return noveltyReport(row.NearestDist, row.NearestRun, ref.NearestDist, ref.NearestRun, percentile)
}
