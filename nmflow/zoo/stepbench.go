package zoo

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
)

// StepBench runs the zoo's compiled training step alone (no checkpoints, no evaluation), for
// benchmarks: `nmflow bench` and the package's BenchmarkZooStep measure model-steps/s with it.
type StepBench struct {
	t        *trainer
	perms    [][]int
	epoch    int
	done     int64
	compiles int
}

// NewStepBench prepares cfg's R runs on ds; nothing is compiled before the first Step.
func NewStepBench(be compute.Backend, cfg Config, ds *data.Dataset) (*StepBench, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, err
	}
	net, err := arch.New(cfg.Arch)
	if err != nil {
		return nil, err
	}
	t, err := newTrainer(be, net, cfg, ds)
	if err != nil {
		return nil, err
	}
	sb := &StepBench{t: t, perms: make([][]int, cfg.Runs), epoch: -1}
	shape := ds.Shape
	if prodInts(cfg.Arch.Input) == ds.ExampleSize() {
		shape = cfg.Arch.Input
	}
	build := stepGraph(net, cfg, shape)
	t.step = MustNewExec(be, func(in []*Node) []*Node { sb.compiles++; return build(in) }).SetMaxCache(1)
	return sb, nil
}

// Step takes one training step of all R runs (the first call compiles) and waits for its result.
func (sb *StepBench) Step() error {
	t := sb.t
	r := t.cfg.Runs
	idx := t.batchIndices(sb.done%t.total, sb.perms, &sb.epoch)
	a, b := t.scalars(sb.done + 1)
	out, err := t.step.Exec(t.train.X, t.train.Y, idxTensor(idx, r, t.cfg.BatchSize), t.norm.Scale, t.norm.Shift, t.params, t.s1, t.s2, a, b)
	if err != nil {
		return fmt.Errorf("zoo: bench step: %w", err)
	}
	t.params, t.s1, t.s2 = out[0], out[1], out[2]
	sb.done++
	_ = tensors.MustCopyFlatData[float32](out[3]) // waits for the step on asynchronous backends
	return out[3].FinalizeAll()
}

// Compilations counts how often the step graph was built: 1 after any number of Steps.
func (sb *StepBench) Compilations() int { return sb.compiles }

// Runs is R.
func (sb *StepBench) Runs() int { return sb.t.cfg.Runs }
