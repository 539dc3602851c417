package flow

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// MarginalReport compares generated intermediate states with the zoo's checkpoints (paper
// Figure 3): W1[i] is the exact W1 distance, in raw weight space, between Samples.Marginals[i]
// (the generated states at Times[i]) and the zoo's checkpoint Checkpoints[i], over the first
// min(n, runs) nets of each set.
type MarginalReport struct {
	Checkpoints []int
	Times       []float64
	W1          []float64
	Samples     *Samples
}

// CompareMarginals samples n nets, keeps their states at the flow times of the zoo's checkpoints
// and measures each against the real checkpoint. CFM and MMFM models are compared at every
// checkpoint up to their target, placed in time as Config.MMFM.Times says (uniform for CFM);
// JKO models at their anchors, the only times they know.
func (m *Model) CompareMarginals(z *traj.Zoo, n int, opt SampleOptions) (*MarginalReport, error) {
	if z.Params != m.Base.Layout.Size() {
		return nil, fmt.Errorf("flow: the zoo has %d parameters per net, the model generates %d", z.Params, m.Base.Layout.Size())
	}
	if z.Checkpoints <= m.TargetCheckpoint {
		return nil, fmt.Errorf("flow: the zoo has %d checkpoints; the model was fitted up to checkpoint %d", z.Checkpoints, m.TargetCheckpoint)
	}
	rep := &MarginalReport{}
	if m.Config.Method == MethodJKO {
		rep.Checkpoints, rep.Times = m.AnchorCheckpoints[1:], m.AnchorTimes[1:]
	} else {
		all := make([]int, m.TargetCheckpoint+1)
		for k := range all {
			all[k] = k
		}
		times, err := CheckpointTimes(m.Config.MMFM.Times, z, all)
		if err != nil {
			return nil, err
		}
		rep.Checkpoints, rep.Times = all[1:], times[1:]
		opt.At = rep.Times
	}
	s, err := m.Sample(n, opt)
	if err != nil {
		return nil, err
	}
	rep.Samples = s
	k := min(n, z.Runs)
	for i, c := range rep.Checkpoints {
		w1, err := eval.W1(rowsOf(s.Marginals[i], k, z.Params), rowsOf(z.Checkpoint(c), k, z.Params))
		if err != nil {
			return nil, err
		}
		rep.W1 = append(rep.W1, w1)
	}
	return rep, nil
}

// rowsOf views the first n rows of a flat [*,p] matrix.
func rowsOf(w []float32, n, p int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = w[i*p : (i+1)*p]
	}
	return out
}
