package downstream

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// DefaultShrink is ForTransfer's shrink factor for the layers below the output layer, chosen by
// measurement (docs/downstream.md, "Transfer"): MNIST-generated nets fine-tuned on
// Fashion-MNIST for one epoch reached 0.421 (as they are), 0.713 (output layer reset), 0.744
// (and shrink 0.5), 0.757 (shrink 0.3), against 0.759 for Kaiming draws.
const DefaultShrink = 0.3

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

// ForTransfer prepares nets trained (or generated) for one task as inits for another: their
// output layer (HeadRange) is drawn afresh from the init law, and every weight below it becomes
// shrink·θ + ε, ε a fresh init-law draw ("shrink and perturb", Ash & Adams, NeurIPS 2020);
// deterministic in seed. shrink 0 gives plain init-law nets, 1 keeps the features at full scale
// with init noise on top. Why: nets of another task have confident logits for its labels and
// features at the scale that task's training left them, and SGD spends its first epoch undoing
// both (notebook 05: MNIST-generated nets as Fashion-MNIST inits lost to Kaiming draws, 0.421 vs
// 0.759 after one epoch; with ForTransfer at DefaultShrink they tie). s.Layout must be set.
func ForTransfer(s Set, law string, shrink float64, seed uint64) (Set, error) {
	if len(s.Layout.Segments) == 0 {
		return Set{}, fmt.Errorf("downstream: set %q has no layout; ForTransfer needs it to find the output layer", s.Name)
	}
	if !(shrink >= 0 && shrink <= 1) {
		return Set{}, fmt.Errorf("downstream: shrink must be in [0, 1] (0: init-law nets, 1: full-scale features), got %v", shrink)
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
	out := s
	out.Weights = fresh
	for i := range n {
		for j := i * p; j < i*p+lo; j++ {
			out.Weights[j] += float32(shrink) * s.Weights[j]
		}
	}
	return out, nil
}
