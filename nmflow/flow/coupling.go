package flow

import (
	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/eval"
)

// Couplings of source draws x0 and trained nets x1 in a minibatch (Config.Coupling); batch.go
// applies them. MMFM and JKO re-root each run at its x0 (mmfm.go, reroot).

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
