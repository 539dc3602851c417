package zoo

import (
	"math"

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
	compiles int
	loss     []float32 // per-run training loss of the last Step
	init     []float32 // the [R,P] weights before the first Step
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
	sb := &StepBench{t: t, perms: make([][]int, cfg.Runs), epoch: -1, init: tensors.MustCopyFlatData[float32](t.params)}
	shape := ds.Shape
	if cfg.Arch.InputSize() == ds.ExampleSize() {
		shape = cfg.Arch.Input
	}
	build := stepGraph(net, cfg, shape)
	t.step = MustNewExec(be, func(in []*Node) []*Node { sb.compiles++; return build(in) }).SetMaxCache(1)
	return sb, nil
}

// Step takes one training step of all R runs (the first call compiles) and waits for its result,
// exactly as a zoo does (donated state, host-built minibatch indices), without its checks.
func (sb *StepBench) Step() error {
	t := sb.t
	l, err := t.trainStep(t.batchIndices(t.done%t.total, sb.perms, &sb.epoch))
	sb.loss = l
	return err
}

// Loss is the mean over runs of the last Step's training loss (NaN before the first Step): the
// bench's check that the timed steps trained.
func (sb *StepBench) Loss() float64 {
	if len(sb.loss) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range sb.loss {
		s += float64(v)
	}
	return s / float64(len(sb.loss))
}

// Moved is the RMS over all runs' weights of their change since NewStepBench: a step that skips
// or mis-scales its update moves them differently from a correct one (the loss on random labels
// hardly tells).
func (sb *StepBench) Moved() float64 {
	w := tensors.MustCopyFlatData[float32](sb.t.params)
	var s float64
	for i, v := range w {
		d := float64(v - sb.init[i])
		s += d * d
	}
	return math.Sqrt(s / float64(len(w)))
}

// Compilations counts how often the step graph was built: 1 after any number of Steps.
func (sb *StepBench) Compilations() int { return sb.compiles }

// Runs is R.
func (sb *StepBench) Runs() int { return sb.t.cfg.Runs }
