package arch

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Init law names, recorded exactly in artifact metadata.
const (
	// InitPyTorch is PyTorch's default for nn.Linear/nn.Conv2d, kaiming_uniform_(a=√5):
	// weights and biases ~ U(−1/√fan_in, +1/√fan_in).
	InitPyTorch = "pytorch-default"
	// InitHeUniform is true He/Kaiming uniform for ReLU: weights ~ U(±√(6/fan_in)), biases ~ U(±1/√fan_in).
	InitHeUniform = "he-uniform"
)

// Init samples one model's flat parameters from the named law, deterministically from seed.
func Init(l Layout, law string, seed uint64) ([]float32, error) {
	out := make([]float32, l.Size())
	if err := initInto(out, l, law, seed); err != nil {
		return nil, err
	}
	return out, nil
}

// InitBatch samples len(seeds) models into a [R,P] row-major matrix, model r from seeds[r].
func InitBatch(l Layout, law string, seeds []uint64) ([]float32, error) {
	p := l.Size()
	out := make([]float32, len(seeds)*p)
	for r, s := range seeds {
		if err := initInto(out[r*p:(r+1)*p], l, law, s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Bound is the half-width b of the uniform law U(−b,b) that law uses for a segment.
func Bound(law string, s Segment) (float64, error) {
	switch law {
	case InitPyTorch:
		return 1 / math.Sqrt(float64(s.FanIn)), nil
	case InitHeUniform:
		if s.Kind == Weight {
			return math.Sqrt(6 / float64(s.FanIn)), nil
		}
		return 1 / math.Sqrt(float64(s.FanIn)), nil
	}
	return 0, fmt.Errorf("arch: unknown init law %q (want %q or %q)", law, InitPyTorch, InitHeUniform)
}

// Laws lists the init law names.
func Laws() []string { return []string{InitPyTorch, InitHeUniform} }

func initInto(dst []float32, l Layout, law string, seed uint64) error {
	// One PCG stream per model; segments draw in layout order, so a layout change changes values.
	rng := rand.New(rand.NewPCG(seed, 0x6e6d666c6f77)) // "nmflow"
	for _, s := range l.Segments {
		b, err := Bound(law, s)
		if err != nil {
			return err
		}
		seg := dst[s.Offset : s.Offset+s.Size()]
		for i := range seg {
			seg[i] = float32((2*rng.Float64() - 1) * b)
		}
	}
	return nil
}

// RunSeeds derives R independent per-run seeds from one seed (SplitMix64), so run r's seed does not
// depend on how many runs there are.
func RunSeeds(seed uint64, r int) []uint64 {
	out := make([]uint64, r)
	for i := range out {
		z := seed + uint64(i+1)*0x9e3779b97f4a7c15
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		out[i] = z ^ (z >> 31)
	}
	return out
}
