package traj

import (
	"fmt"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// Format names and versions written into __metadata__.
const (
	FormatName    = "nmflow.trajectories"
	FormatVersion = 1
)

// Kinds of container.
const (
	KindZoo       = "zoo"       // weights [R, K+1, P] with steps and metrics
	KindGenerated = "generated" // weights [N, P]
)

// Metric tensor names ([R, K+1] float32 each) in a zoo file.
const (
	MetricTrainLoss = "train_loss"
	MetricTestLoss  = "test_loss"
	MetricTestAcc   = "test_acc"
)

// Meta is the JSON held in the safetensors __metadata__ (under the key "nmflow").
type Meta struct {
	Format        string      `json:"format"`
	FormatVersion int         `json:"format_version"`
	Kind          string      `json:"kind"`
	NmflowVersion string      `json:"nmflow_version"`
	GoMLXVersion  string      `json:"gomlx_version"`
	Backend       string      `json:"backend"`
	Created       string      `json:"created"` // RFC 3339, UTC
	Arch          arch.Spec   `json:"arch"`
	Layout        arch.Layout `json:"layout"`
	Init          string      `json:"init"` // init law name, e.g. arch.InitPyTorch
	Dataset       DatasetMeta `json:"dataset"`
	Optimizer     OptimMeta   `json:"optimizer,omitempty"`
	Seed          uint64      `json:"seed"`
	RunSeeds      []uint64    `json:"run_seeds,omitempty"`
	// Aligned records the permutation alignment applied to the runs (package align); nil: none.
	Aligned *Alignment `json:"aligned,omitempty"`
	// Provenance of generated weights (meta-model, solver, ...) and anything else worth keeping.
	Extra map[string]string `json:"extra,omitempty"`
}

// Alignment records how a zoo's hidden units were permuted (METHODS.md §10): every run's
// permutation was chosen on checkpoint Checkpoint towards Reference and applied to all of its
// checkpoints, so each run computes the same functions as before.
type Alignment struct {
	Method     string `json:"method"`     // "weight-matching" (Git Re-Basin)
	Reference  string `json:"reference"`  // "run N" or "mean" (refined towards the aligned mean)
	Checkpoint int    `json:"checkpoint"` // checkpoint index the permutations were chosen on
	Rounds     int    `json:"rounds"`     // rounds towards the mean after the first pass
	Seed       uint64 `json:"seed"`       // order in which layers are visited
	// Moved is the fraction of hidden units that changed place, over all runs.
	Moved float64 `json:"moved"`
}

// DatasetMeta records what the base nets were trained and evaluated on.
type DatasetMeta struct {
	Name        string    `json:"name"`
	Train       int       `json:"train"` // examples used for training
	Test        int       `json:"test"`  // examples used for test metrics
	Standardize bool      `json:"standardize"`
	Mean        []float32 `json:"mean,omitempty"`
	Std         []float32 `json:"std,omitempty"`
	Source      string    `json:"source,omitempty"`
}

// OptimMeta records the base-model optimizer.
type OptimMeta struct {
	Name        string  `json:"name"` // "sgd" or "adam"
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum,omitempty"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	BatchSize   int     `json:"batch_size"`
	Epochs      int     `json:"epochs"`
	StepsPerEp  int     `json:"steps_per_epoch"`
}

// Zoo is a set of training trajectories: R runs, K+1 checkpoints each (init included), P params.
type Zoo struct {
	Meta        Meta
	Runs        int       // R
	Checkpoints int       // K+1
	Params      int       // P
	Weights     []float32 // [R, K+1, P] row-major
	Steps       []int64   // [K+1] training step of each checkpoint
	// Metrics holds [R, K+1] tensors by name (MetricTrainLoss, MetricTestLoss, MetricTestAcc, ...).
	Metrics map[string][]float32
}

// At returns checkpoint k of run r (a view, not a copy).
func (z *Zoo) At(r, k int) []float32 {
	off := (r*z.Checkpoints + k) * z.Params
	return z.Weights[off : off+z.Params]
}

// Checkpoint returns all runs at checkpoint k as a new [R, P] matrix.
func (z *Zoo) Checkpoint(k int) []float32 {
	out := make([]float32, 0, z.Runs*z.Params)
	for r := 0; r < z.Runs; r++ {
		out = append(out, z.At(r, k)...)
	}
	return out
}

// Final returns the runs at the zoo's last checkpoint as a set of nets with the zoo's metadata
// (Weights is a new [R, P] matrix).
func (z *Zoo) Final() *Generated {
	return &Generated{Meta: z.Meta, N: z.Runs, P: z.Params, Weights: z.Checkpoint(z.Checkpoints - 1)}
}

// Metric returns metric name for run r at checkpoint k.
func (z *Zoo) Metric(name string, r, k int) float32 { return z.Metrics[name][r*z.Checkpoints+k] }

// Check verifies that sizes agree with each other and with the Layout.
func (z *Zoo) Check() error {
	if z.Runs <= 0 || z.Checkpoints <= 0 || z.Params <= 0 {
		return fmt.Errorf("traj: zoo has R=%d, K+1=%d, P=%d; all must be positive", z.Runs, z.Checkpoints, z.Params)
	}
	if n := z.Runs * z.Checkpoints * z.Params; len(z.Weights) != n {
		return fmt.Errorf("traj: zoo weights have %d values, want R*(K+1)*P = %d", len(z.Weights), n)
	}
	if len(z.Steps) != z.Checkpoints {
		return fmt.Errorf("traj: zoo has %d steps, want K+1 = %d", len(z.Steps), z.Checkpoints)
	}
	for name, m := range z.Metrics {
		if len(m) != z.Runs*z.Checkpoints {
			return fmt.Errorf("traj: metric %q has %d values, want R*(K+1) = %d", name, len(m), z.Runs*z.Checkpoints)
		}
	}
	if p := z.Meta.Layout.Size(); p != 0 && p != z.Params {
		return fmt.Errorf("traj: layout describes P=%d parameters, weights have P=%d", p, z.Params)
	}
	return nil
}

// Generated is a set of N generated weight vectors (same container, weights [N, P]).
type Generated struct {
	Meta    Meta
	N, P    int
	Weights []float32 // [N, P]
}

// Row returns generated net i (a view).
func (g *Generated) Row(i int) []float32 { return g.Weights[i*g.P : (i+1)*g.P] }
