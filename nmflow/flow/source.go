package flow

import (
	"fmt"
	"math/rand/v2"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/eval"
)

// Sources (t = 0 of the flow).
const (
	// SourceKaiming is the base nets' own init law (recorded in the zoo), pushed into normalized
	// space: the flow starts where gradient descent starts.
	SourceKaiming = "kaiming"
	// SourceGaussian is N(0, I) in normalized space.
	SourceGaussian = "gaussian"
)

// Couplings of source and target samples in a minibatch.
const (
	// CouplingTrajectory pairs each run's own init with its final checkpoint (Kaiming source only).
	CouplingTrajectory = "trajectory"
	// CouplingIndependent draws sources independently of targets.
	CouplingIndependent = "independent"
	// CouplingOT re-pairs independent draws by the exact optimal assignment within the minibatch
	// (squared Euclidean cost; Tong et al., mini-batch OT-CFM).
	CouplingOT = "ot"
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

// otPair reorders x0 rows ([b,P]) so that row i is optimally assigned to x1 row i.
func otPair(x0, x1 []float32, b, p int) error {
	rows := func(m []float32) [][]float32 {
		out := make([][]float32, b)
		for i := range out {
			out[i] = m[i*p : (i+1)*p]
		}
		return out
	}
	dist, err := eval.Distances(rows(x1), rows(x0))
	if err != nil {
		return err
	}
	for i := range dist {
		for j := range dist[i] {
			dist[i][j] *= dist[i][j]
		}
	}
	assign, _ := align.Assignment(dist) // x1 row i ← x0 row assign[i]
	perm := make([]float32, len(x0))
	for i, j := range assign {
		copy(perm[i*p:(i+1)*p], x0[j*p:(j+1)*p])
	}
	copy(x0, perm)
	return nil
}
