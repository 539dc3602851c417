package detect

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/data/shift"
)

// ShiftBench is a synthetic-shift problem on an image dataset: P-train is the train split; the
// test split is halved, the first half is the null pool and the shifted second half the
// alternative pool (disjoint images, so a Q set never meets its own unshifted copy).
func ShiftBench(ds *data.Dataset, sh shift.Shift, seed uint64) (Bench, error) {
	if ds.Test.N < 2 {
		return Bench{}, fmt.Errorf("detect: %s has %d test examples; need at least 2 to split into null and shifted pools", ds.Name, ds.Test.N)
	}
	half := ds.Test.N / 2
	d := ds.ExampleSize()
	rest := data.Split{Images: ds.Test.Images[half*d:], Labels: ds.Test.Labels[half:], N: ds.Test.N - half}
	alt, err := sh.Apply(rest, ds.Shape, seed)
	if err != nil {
		return Bench{}, err
	}
	return Bench{Name: ds.Name + " " + sh.Spec, Train: ds.Train, Null: ds.Test.Head(half), Alt: alt}, nil
}

// HeartBench is UCI Heart's real shift: P-train is train, the null pool iid_test (same
// hospitals) and the alternative pool ood_test (other hospitals).
func HeartBench(ds *data.Dataset) (Bench, error) {
	ood, ok := ds.Extra["ood_test"]
	if !ok || ds.Name != "uci-heart" {
		return Bench{}, fmt.Errorf("detect: HeartBench needs the uci-heart dataset (with its ood_test split), got %q", ds.Name)
	}
	return Bench{Name: "uci-heart iid→ood", Train: ds.Train, Null: ds.Test, Alt: ood}, nil
}

// NaturalBench uses a separately collected test set as the alternative pool, e.g. CIFAR-10.1
// (data.LoadCIFAR101) against CIFAR-10's test split as the null pool.
func NaturalBench(ds *data.Dataset, name string, alt data.Split) Bench {
	return Bench{Name: ds.Name + " vs " + name, Train: ds.Train, Null: ds.Test, Alt: alt}
}
