package detect

import (
	"fmt"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/data/shift"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Recipe is how f is trained when no zoo provides it, per dataset: the settings docs/detect.md
// measured, and the dataset's default shift.
type Recipe struct {
	Arch        string // mlp or cnn
	Hidden      []int  // hidden widths
	Channels    []int  // cnn conv channels
	Optimizer   string
	Epochs      int
	Batch       int
	LR          float64
	Standardize bool
	Shift       string // the default shift: ood (UCI Heart), contrast:5 (CIFAR-10), rotate:45
}

// DefaultRecipe returns f's training recipe for a dataset name.
func DefaultRecipe(dataset string) Recipe {
	switch dataset {
	case "uci-heart":
		return Recipe{Arch: "mlp", Hidden: []int{16}, Optimizer: "adam", Epochs: 40, Batch: 32, LR: 3e-3, Standardize: true, Shift: "ood"}
	case "cifar10":
		// An MLP: on the Go backend a small CNN (c[16,32]) trains over 100× slower per example.
		return Recipe{Arch: "mlp", Hidden: []int{512, 256}, Channels: []int{8, 16}, Optimizer: "adam", Epochs: 5, Batch: 128, LR: 1e-3, Standardize: true, Shift: "contrast:5"}
	default:
		return Recipe{Arch: "mlp", Hidden: []int{32}, Channels: []int{8, 16}, Optimizer: "sgd", Epochs: 1, Batch: 128, LR: 0.05, Shift: "rotate:45"}
	}
}

// Spec is the recipe's architecture for ds.
func (r Recipe) Spec(ds *data.Dataset) (arch.Spec, error) {
	switch r.Arch {
	case "mlp":
		return arch.MLP(ds.Shape, len(ds.Classes), r.Hidden...), nil
	case "cnn":
		if len(ds.Shape) < 3 || ds.Shape[1] < 4 {
			return arch.Spec{}, fmt.Errorf("detect: a cnn f needs images; %s examples have shape %v (use an mlp)", ds.Name, ds.Shape)
		}
		return arch.CNN(ds.Shape, len(ds.Classes), r.Channels, r.Hidden...), nil
	}
	return arch.Spec{}, fmt.Errorf("detect: unknown architecture %q for f (want mlp or cnn)", r.Arch)
}

// ZooConfig is the zoo configuration that trains f (one run; RunMeta's meta-model zoo sets Runs).
// trainSize 0 trains on the whole train split.
func (r Recipe) ZooConfig(spec arch.Spec, seed uint64, trainSize int) zoo.Config {
	return zoo.Config{Arch: spec, Epochs: r.Epochs, BatchSize: r.Batch, Optimizer: r.Optimizer, LR: r.LR, Standardize: r.Standardize,
		Seed: seed, EvalTrain: 2000, TrainSize: trainSize}
}

// BenchFor builds the problem a (dataset, shift) pair names: uci-heart's real shift "ood",
// "cifar10.1" (CIFAR-10.1, looked for in dir) or a synthetic shift of nmflow/data/shift.
func BenchFor(ds *data.Dataset, spec, dir string, seed uint64) (Bench, error) {
	switch {
	case ds.Name == "uci-heart":
		if spec != "ood" {
			return Bench{}, fmt.Errorf("detect: uci-heart has one real shift, ood (iid_test vs ood_test), got %q", spec)
		}
		return HeartBench(ds)
	case spec == "ood":
		return Bench{}, fmt.Errorf("detect: the shift ood is uci-heart's real shift; for %s use a synthetic shift (%s)", ds.Name, strings.Join(shift.Names(), ", "))
	case strings.EqualFold(spec, "cifar10.1"):
		if ds.Name != "cifar10" {
			return Bench{}, fmt.Errorf("detect: the shift cifar10.1 needs the cifar10 dataset, got %s", ds.Name)
		}
		alt, err := data.LoadCIFAR101(dir)
		if err != nil {
			return Bench{}, err
		}
		return NaturalBench(ds, "cifar10.1", alt), nil
	}
	sh, err := shift.Parse(spec)
	if err != nil {
		return Bench{}, err
	}
	return ShiftBench(ds, sh, seed)
}
