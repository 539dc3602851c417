package flow

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// Normalization modes: meta-models see z = (θ − μ)/s, with μ and s fitted on the zoo.
const (
	NormLayer = "layer" // one μ and s per Layout segment (default)
	NormParam = "param" // one μ and s per parameter
	NormNone  = "none"  // z = θ
)

// Normalizer maps raw weights to the meta-model's space and back. Mean and Std are stored
// expanded to one value per parameter whatever the mode, so the maps are one multiply-add.
type Normalizer struct {
	Mode string    `json:"mode"`
	Mean []float32 `json:"mean"`
	Std  []float32 `json:"std"`
}

// FitNormalizer fits μ and s on rows (each a flat vector of the layout's size). For NormParam,
// s is floored at 1e-3 of its segment's std so a parameter that barely varies is not blown up.
func FitNormalizer(mode string, l arch.Layout, rows [][]float32) (*Normalizer, error) {
	p := l.Size()
	if len(rows) < 2 {
		return nil, fmt.Errorf("flow: normalization needs at least 2 weight vectors, got %d", len(rows))
	}
	for i, r := range rows {
		if len(r) != p {
			return nil, fmt.Errorf("flow: weight vector %d has %d values, layout has %d", i, len(r), p)
		}
	}
	n := &Normalizer{Mode: mode, Mean: make([]float32, p), Std: make([]float32, p)}
	switch mode {
	case NormNone:
		for i := range n.Std {
			n.Std[i] = 1
		}
		return n, nil
	case NormLayer, NormParam:
	default:
		return nil, fmt.Errorf("flow: unknown normalization %q (want %s, %s or %s)", mode, NormLayer, NormParam, NormNone)
	}
	for _, s := range l.Segments {
		var sum, sq float64
		cnt := float64(len(rows) * s.Size())
		for _, r := range rows {
			for _, v := range r[s.Offset : s.Offset+s.Size()] {
				sum += float64(v)
				sq += float64(v) * float64(v)
			}
		}
		mean := sum / cnt
		std := math.Sqrt(math.Max(sq/cnt-mean*mean, 0))
		if std == 0 {
			std = 1
		}
		for i := s.Offset; i < s.Offset+s.Size(); i++ {
			n.Mean[i], n.Std[i] = float32(mean), float32(std)
		}
		if mode == NormLayer {
			continue
		}
		floor := 1e-3 * std
		for i := s.Offset; i < s.Offset+s.Size(); i++ {
			var ps, pq float64
			for _, r := range rows {
				ps += float64(r[i])
				pq += float64(r[i]) * float64(r[i])
			}
			m := ps / float64(len(rows))
			n.Mean[i] = float32(m)
			n.Std[i] = float32(math.Max(math.Sqrt(math.Max(pq/float64(len(rows))-m*m, 0)), floor))
		}
	}
	return n, nil
}

// Forward writes z = (θ − μ)/s for a flat [N,P] matrix, in place.
func (n *Normalizer) Forward(w []float32) {
	p := len(n.Mean)
	for i := range w {
		j := i % p
		w[i] = (w[i] - n.Mean[j]) / n.Std[j]
	}
}

// Inverse writes θ = μ + s·z for a flat [N,P] matrix, in place.
func (n *Normalizer) Inverse(z []float32) {
	p := len(n.Mean)
	for i := range z {
		j := i % p
		z[i] = n.Mean[j] + n.Std[j]*z[i]
	}
}

// Validate checks that n maps vectors of p parameters with finite means and positive scales
// (a normalizer read from a file written by another package, e.g. vae).
func (n *Normalizer) Validate(p int) error { return n.check(p) }

func (n *Normalizer) check(p int) error {
	if len(n.Mean) != p || len(n.Std) != p {
		return fmt.Errorf("flow: normalizer has %d/%d values, want %d", len(n.Mean), len(n.Std), p)
	}
	for i, s := range n.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) || math.IsNaN(float64(n.Mean[i])) {
			return fmt.Errorf("flow: normalizer is invalid at parameter %d (mean %v, std %v)", i, n.Mean[i], s)
		}
	}
	return nil
}
