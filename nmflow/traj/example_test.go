package traj_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func Example() {
	dir, err := os.MkdirTemp("", "traj-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A linear classifier, 2 inputs and 2 classes: P = 2*2 + 2 = 6.
	// Two runs, each with checkpoints at steps 0 and 100.
	layout := arch.NewLayout(
		arch.Segment{Name: "fc.weight", Shape: []int{2, 2}, FanIn: 2, Kind: arch.Weight},
		arch.Segment{Name: "fc.bias", Shape: []int{2}, FanIn: 2, Kind: arch.Bias},
	)
	z := &traj.Zoo{
		Meta:        traj.Meta{Arch: arch.MLP([]int{2}, 2), Layout: layout, Dataset: traj.DatasetMeta{Name: "toy"}},
		Runs:        2,
		Checkpoints: 2,
		Params:      6,
		Weights: []float32{
			0.1, 0.2, -0.3, 0.4, 0, 0, // run 0, step 0
			0.5, -0.3, 0.1, 0.9, 0.1, -0.1, // run 0, step 100
			-0.4, 0.9, 0.2, -0.6, 0, 0, // run 1, step 0
			0.7, -1.1, 0.2, 0.3, 0.2, -0.2, // run 1, step 100
		},
		Steps:   []int64{0, 100},
		Metrics: map[string][]float32{traj.MetricTestAcc: {0.5, 0.9, 0.5, 0.95}},
	}
	path := filepath.Join(dir, "zoo.safetensors")
	if err := traj.WriteZoo(path, z); err != nil {
		log.Fatal(err)
	}

	got, err := traj.ReadZoo(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, %s: R=%d, K+1=%d, P=%d\n", got.Meta.Kind, got.Meta.Arch, got.Runs, got.Checkpoints, got.Params)
	fmt.Println("run 1 at step", got.Steps[1], "weights", got.At(1, 1), "test acc", got.Metric(traj.MetricTestAcc, 1, 1))

	_, n, p, _, err := traj.ReadWeights(path) // every checkpoint of every run as rows
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("flat view: [%d, %d]\n", n, p)
	// Output:
	// zoo, mlp 2-2: R=2, K+1=2, P=6
	// run 1 at step 100 weights [0.7 -1.1 0.2 0.3 0.2 -0.2] test acc 0.95
	// flat view: [4, 6]
}
