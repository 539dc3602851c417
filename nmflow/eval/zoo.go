package eval

import (
	"fmt"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// TestSet loads the test split a zoo's nets were scored on (its dataset's first Dataset.Test
// examples; limit > 0 keeps only the first limit of those) and the input normalization they
// expect, so that generated nets are judged exactly like the zoo's.
func TestSet(z *traj.Zoo, limit int, opt data.Options) (data.Split, *feed.Norm, error) {
	m := z.Meta.Dataset
	if m.Name == "" {
		return data.Split{}, nil, fmt.Errorf("eval: the zoo does not record its dataset")
	}
	ds, err := data.Load(m.Name, opt)
	if err != nil {
		return data.Split{}, nil, err
	}
	return TestSplit(m, ds, limit)
}

// TestSplit is TestSet for a dataset already loaded (or transformed, e.g. a task's): ds's test
// split cut as the dataset record m says, and m's input normalization.
func TestSplit(m traj.DatasetMeta, ds *data.Dataset, limit int) (data.Split, *feed.Norm, error) {
	test := ds.Test
	if m.Test > 0 {
		test = test.Head(m.Test)
	}
	if limit > 0 && limit < test.N {
		test = test.Head(limit)
	}
	mean, std := m.Mean, m.Std
	if len(mean) == 0 {
		mean, std = []float32{0}, []float32{1}
	}
	norm, err := feed.NewNorm(mean, std, ds.ExampleSize(), m.Standardize)
	if err != nil {
		return data.Split{}, nil, err
	}
	return test, norm, nil
}

// InputNorm is the input normalization of nets trained as m records, for examples of ds: m's
// recorded statistics; for a zoo that standardized its inputs without recording them, ds's
// train-split statistics (fromSplit true, which the caller should report); pixels/255 when m
// does not standardize.
func InputNorm(m traj.DatasetMeta, ds *data.Dataset) (norm *feed.Norm, fromSplit bool, err error) {
	mean, std := m.Mean, m.Std
	if len(mean) == 0 {
		if m.Standardize {
			mean, std = ds.ChannelStats()
			fromSplit = true
		} else {
			mean, std = []float32{0}, []float32{1}
		}
	}
	norm, err = feed.NewNorm(mean, std, ds.ExampleSize(), m.Standardize)
	return norm, fromSplit, err
}

// ZooAccuracy evaluates n nets of the zoo's architecture (flat [n,P] weights) on the zoo's test
// set (see TestSet) and returns their accuracies and mean cross-entropies.
func ZooAccuracy(be compute.Backend, z *traj.Zoo, weights []float32, n, limit int) (acc, loss []float32, err error) {
	test, norm, err := TestSet(z, limit, data.Options{})
	if err != nil {
		return nil, nil, err
	}
	net, err := arch.New(z.Meta.Arch)
	if err != nil {
		return nil, nil, err
	}
	return Accuracy(be, net, weights, n, test, nil, norm, 32)
}
