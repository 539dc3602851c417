package downstream

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// DefaultKeep is ForTransfer's weight on the generated features, chosen by measurement
// (docs/downstream.md, "Transfer"): 16 MNIST-generated nets fine-tuned on Fashion-MNIST for one
// epoch, 5 seeds, reached 0.7589 (keep 1) against 0.7569 for Kaiming draws (paired difference
// +0.2 ± 0.3 points) and were ahead after ¼ epoch (0.590 against 0.581, 5 of 5 seeds). The
// former preparation, shrink and perturb (0.3·θ + a fresh draw), lost: 0.7544, −0.6 points.
// Mixing in init noise (keep 0.8, 0.6) did not change the result on notebook 05's nets.
const DefaultKeep = 1.0

// transferSalt keeps ForTransfer's draws apart from InitLaw's for the same seed.
const transferSalt = 0x7472616e73666572 // "transfer"

// HeadRange returns the offsets [lo, hi) of l's output layer: its last weight segment and the
// segments after it (that layer's bias).
func HeadRange(l arch.Layout) (lo, hi int, err error) {
	last := -1
	for i, s := range l.Segments {
		if s.Kind == arch.Weight {
			last = i
		}
	}
	if last < 0 {
		return 0, 0, fmt.Errorf("downstream: the layout has no weight segment, hence no output layer")
	}
	return l.Segments[last].Offset, l.Size(), nil
}

// ForTransfer prepares nets trained (or generated) for one task as inits for another. Their
// output layer (HeadRange) is drawn afresh from the init law. Below it, every unit (a row of a
// weight segment, with its bias) loses its mean weight (the row is centered) and keeps the
// direction that is left, rescaled to the norm of a fresh init-law draw ε of the same unit, then
// mixed with that draw: keep·θ̂ + √(1−keep²)·ε, so the layer has the init law's scale whatever
// keep. The bias is scaled with its row. keep 0 gives plain init-law nets, 1 the generated
// features, centered, at init scale. Deterministic in seed; s.Layout must be set.
//
// Why: nets of another task have confident logits for its labels and features at the scale that
// task's training left them, and SGD spends its first epoch undoing both (notebook 05:
// MNIST-generated nets as Fashion-MNIST inits lost to Kaiming draws, 0.34 vs 0.76 after one
// epoch). Scale, not the features, is what lost: shrink and perturb (0.3·θ + ε, Ash & Adams
// 2020), whose layer is larger than an init, still lost 0.6 points. At init norm the units still
// kept a mean weight, a response to overall brightness that an init draw (mean ≈ 0) does not
// have: on clothing, brighter and larger than digits, it made the units' inputs 3.4 times an
// init's and moved them together (the hidden activations' participation ratio 3.2 against 4.7
// for Kaiming draws), and notebook 05's nets lost 0.13 ± 0.14 points after one epoch (8 seeds).
// Centered they are ahead: +0.15 ± 0.12 points, 8 seeds of 8 above the uncentered ones
// (docs/downstream.md, "Transfer").
func ForTransfer(s Set, law string, keep float64, seed uint64) (Set, error) {
	if len(s.Layout.Segments) == 0 {
		return Set{}, fmt.Errorf("downstream: set %q has no layout; ForTransfer needs it to find the output layer", s.Name)
	}
	if !(keep >= 0 && keep <= 1) {
		return Set{}, fmt.Errorf("downstream: keep must be in [0, 1] (0: init-law nets, 1: the generated features at init scale), got %v", keep)
	}
	p := s.Layout.Size()
	if len(s.Weights) == 0 || len(s.Weights)%p != 0 {
		return Set{}, fmt.Errorf("downstream: set %q has %d weight values, not a whole number of nets of P=%d", s.Name, len(s.Weights), p)
	}
	lo, _, err := HeadRange(s.Layout)
	if err != nil {
		return Set{}, err
	}
	n := len(s.Weights) / p
	fresh, err := arch.InitBatch(s.Layout, law, arch.RunSeeds(seed^transferSalt, n))
	if err != nil {
		return Set{}, err
	}
	noise := math.Sqrt(1 - keep*keep)
	segs := s.Layout.Segments
	for i := range n {
		src, dst := s.Weights[i*p:(i+1)*p], fresh[i*p:(i+1)*p]
		for k, seg := range segs {
			if seg.Kind != arch.Weight || seg.Offset >= lo || len(seg.Shape) == 0 {
				continue
			}
			units := seg.Shape[0]
			row := seg.Size() / units
			var bias *arch.Segment // this layer's bias: the next segment, one value per unit
			if k+1 < len(segs) && segs[k+1].Kind == arch.Bias && segs[k+1].Size() == units && segs[k+1].Offset < lo {
				bias = &segs[k+1]
			}
			w := make([]float64, row)
			for u := range units {
				e := dst[seg.Offset+u*row : seg.Offset+(u+1)*row]
				center(w, src[seg.Offset+u*row:seg.Offset+(u+1)*row])
				nw, ne := norm64(w), norm(e)
				if nw == 0 { // no direction to keep: the fresh draw stays
					continue
				}
				scale := keep * ne / nw
				for j := range w {
					e[j] = float32(scale*w[j] + noise*float64(e[j]))
				}
				if bias != nil {
					b := bias.Offset + u
					dst[b] = float32(scale*float64(src[b]) + noise*float64(dst[b]))
				}
			}
		}
	}
	out := s
	out.Weights = fresh
	return out, nil
}

// center writes v less its mean into w (a unit with one input is left as it is: its mean is all
// it has).
func center(w []float64, v []float32) {
	var m float64
	if len(v) > 1 {
		for _, x := range v {
			m += float64(x)
		}
		m /= float64(len(v))
	}
	for j, x := range v {
		w[j] = float64(x) - m
	}
}

func norm64(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
