package adjoint_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/nmflow/nmflow/nmflow/adjoint"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Steer a small meta-model over 1-D "weights" drawn from N(0, 1) towards larger values with the
// linear reward r(θ) = θ, save the fine-tuned model and load it back like any meta-model.
func Example() {
	dir, _ := os.MkdirTemp("", "nmflow-adjoint-example")
	defer os.RemoveAll(dir)
	be := backend.MustDefault()

	l := arch.NewLayout(arch.Segment{Name: "w", Shape: []int{1}, FanIn: 1, Kind: arch.Weight})
	z := &traj.Zoo{Meta: traj.Meta{Kind: traj.KindZoo, Layout: l, Init: arch.InitPyTorch}, Runs: 256, Checkpoints: 2,
		Params: 1, Weights: make([]float32, 512), Steps: []int64{0, 1}}
	rng := rand.New(rand.NewPCG(1, 2))
	for r := range z.Runs {
		z.At(r, 1)[0] = float32(rng.NormFloat64())
	}
	base, err := flow.Fit(context.Background(), z, flow.Config{Source: flow.SourceGaussian, Norm: flow.NormNone,
		Predict: flow.PredictVelocity, TimeSkew: 1, EMA: 0.999,
		Net: flow.NetConfig{Width: 16, Depth: 1, TimeDim: 8}, Steps: 100, LR: 5e-3}, flow.Options{Backend: be, Progress: io.Discard})
	if err != nil {
		panic(err)
	}

	cfg := adjoint.Config{Lambda: 1, Steps: 8, Batch: 16, Iters: 20, LR: 1e-2}
	res, err := adjoint.FineTune(context.Background(), base, adjoint.Linear([]float32{1}), cfg,
		adjoint.Options{Dir: dir, Progress: io.Discard})
	if err != nil {
		panic(err)
	}
	tuned, err := flow.Load(dir, be)
	if err != nil {
		panic(err)
	}
	fmt.Println("exact schedule:", res.Exact)
	fmt.Println("iterations:", res.Iters, "reward:", res.Reward)
	fmt.Println("reward rose:", res.RewardHistory[len(res.RewardHistory)-1] > res.RewardHistory[0])
	fmt.Println("fine-tuned model loads:", tuned.Base.Layout.Size() == 1)
	// Output:
	// exact schedule: true
	// iterations: 20 reward: linear[1]
	// reward rose: true
	// fine-tuned model loads: true
}
