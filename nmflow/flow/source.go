package flow

import (
	"fmt"
	"math/rand/v2"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// Sources (t = 0 of the flow).
const (
	// SourceKaiming is the base nets' own init law (recorded in the zoo), pushed into normalized
	// space: the flow starts where gradient descent starts.
	SourceKaiming = "kaiming"
	// SourceGaussian is N(0, I) in normalized space.
	SourceGaussian = "gaussian"
)

// Source draws x0 in normalized space.
type Source struct {
	Kind   string
	Layout arch.Layout
	Law    string // init law for SourceKaiming
	norm   *Normalizer
}

// Sample fills dst ([n,P], normalized) from the source, using rng for its seeds.
func (s *Source) Sample(rng *rand.Rand, dst []float32) error {
	p := s.Layout.Size()
	switch s.Kind {
	case SourceKaiming:
		for off := 0; off < len(dst); off += p {
			w, err := arch.Init(s.Layout, s.Law, rng.Uint64())
			if err != nil {
				return err
			}
			copy(dst[off:off+p], w)
		}
		s.norm.Forward(dst)
	case SourceGaussian:
		for i := range dst {
			dst[i] = float32(rng.NormFloat64())
		}
	default:
		return fmt.Errorf("flow: unknown source %q (want %s or %s)", s.Kind, SourceKaiming, SourceGaussian)
	}
	return nil
}
