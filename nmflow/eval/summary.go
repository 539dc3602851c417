package eval

import (
	"math"
	"slices"
)

// Summary condenses per-net numbers (accuracies, losses, distances) into the statistics the
// paper's tables report. Only finite values count: a diverged net's NaN/Inf loss is reported in
// NonFinite instead of poisoning the mean (and JSON, which cannot encode NaN or Inf). With no
// finite values every statistic is 0 and N is 0.
type Summary struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	Min    float64 `json:"min"`
	// Std is the population standard deviation (divisor N, numpy's default).
	Std float64 `json:"std"`
	// N counts the finite values summarized.
	N int `json:"n"`
	// NonFinite counts the NaN and ±Inf values left out.
	NonFinite int `json:"non_finite,omitempty"`
}

// Summarize returns the Summary of xs (float32 or float64).
func Summarize[T float32 | float64](xs []T) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if f := float64(x); !math.IsNaN(f) && !math.IsInf(f, 0) {
			v = append(v, f)
		}
	}
	s := Summary{N: len(v), NonFinite: len(xs) - len(v)}
	if len(v) == 0 {
		return s
	}
	slices.Sort(v)
	var sum float64
	for _, f := range v {
		sum += f
	}
	s.Mean = sum / float64(len(v))
	var ss float64
	for _, f := range v {
		ss += (f - s.Mean) * (f - s.Mean)
	}
	s.Std = math.Sqrt(ss / float64(len(v)))
	s.Min, s.Max = v[0], v[len(v)-1]
	s.Median = quantileSorted(v, 0.5)
	return s
}

// Percentile returns the q-th percentile (0 ≤ q ≤ 100) of the finite values of xs, linearly
// interpolated between order statistics (numpy's default "linear" method); NaN when there are none.
func Percentile(xs []float64, q float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, f := range xs {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			v = append(v, f)
		}
	}
	if len(v) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	slices.Sort(v)
	return quantileSorted(v, min(max(q, 0), 100)/100)
}

// quantileSorted interpolates the p-quantile (0 ≤ p ≤ 1) of sorted, non-empty v at rank p·(n−1).
func quantileSorted(v []float64, p float64) float64 {
	h := p * float64(len(v)-1)
	lo := int(math.Floor(h))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[lo] + (h-float64(lo))*(v[lo+1]-v[lo])
}
