package detect

import (
	"context"
	"fmt"
	"io"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Base is the deployed classifier f: a base net, its flat parameters and the input mapping it
// was trained with. Every CDC starts from it.
type Base struct {
	Net    arch.Net
	Params []float32 // [P]
	Norm   *feed.Norm
	// Dataset names what f was trained on (from the zoo), for reports.
	Dataset string
	// TestAcc is f's accuracy on its dataset's test split as the zoo measured it (0: unknown).
	TestAcc float64
}

// BaseFromZoo takes run r's final checkpoint of a zoo as f, with the zoo's input standardization.
func BaseFromZoo(z *traj.Zoo, r int) (*Base, error) {
	if r < 0 || r >= z.Runs {
		return nil, fmt.Errorf("detect: run %d is not in the zoo (it has runs 0..%d)", r, z.Runs-1)
	}
	net, err := arch.New(z.Meta.Arch)
	if err != nil {
		return nil, err
	}
	if net.Layout().Size() != z.Params {
		return nil, fmt.Errorf("detect: zoo has %d parameters per net, its architecture %s has %d", z.Params, z.Meta.Arch, net.Layout().Size())
	}
	ds := z.Meta.Dataset
	mean, std := ds.Mean, ds.Std
	if len(mean) == 0 { // no statistics recorded: only pixels/255 is possible
		if ds.Standardize {
			return nil, fmt.Errorf("detect: the zoo standardized its inputs but recorded no mean/std; retrain it with this nmflow")
		}
		mean, std = []float32{0}, []float32{1}
	}
	norm, err := feed.NewNorm(mean, std, prod(z.Meta.Arch.Input), ds.Standardize)
	if err != nil {
		return nil, err
	}
	var acc float64
	if _, ok := z.Metrics[traj.MetricTestAcc]; ok {
		acc = float64(z.Metric(traj.MetricTestAcc, r, z.Checkpoints-1))
	}
	return &Base{Net: net, Params: append([]float32(nil), z.At(r, z.Checkpoints-1)...), Norm: norm, Dataset: ds.Name, TestAcc: acc}, nil
}

// TrainBase trains f with the zoo (R = 1, cfg.Runs and cfg.Checkpoints are overridden) and
// returns it with its one-run zoo.
func TrainBase(ctx context.Context, ds *data.Dataset, cfg zoo.Config, progress io.Writer) (*Base, *traj.Zoo, error) {
	cfg.Runs, cfg.Checkpoints = 1, 1
	z, err := zoo.Train(ctx, cfg, ds, zoo.Options{Progress: progress})
	if err != nil {
		return nil, nil, err
	}
	b, err := BaseFromZoo(z, 0)
	return b, z, err
}

func prod(v []int) int {
	n := 1
	for _, d := range v {
		n *= d
	}
	return n
}
