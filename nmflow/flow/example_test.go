package flow_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// exampleZoo is a stand-in for a trained zoo: 32 runs of a 4-3-2 MLP whose final weights are
// their PyTorch-default init plus a fixed shift.
func exampleZoo() *traj.Zoo {
	net := arch.MustNew(arch.MLP([]int{4}, 2, 3))
	l := net.Layout()
	p := l.Size()
	z := &traj.Zoo{
		Meta: traj.Meta{Kind: traj.KindZoo, Arch: net.Spec(), Layout: l, Init: arch.InitPyTorch, Seed: 1},
		Runs: 32, Checkpoints: 2, Params: p,
		Weights: make([]float32, 32*2*p), Steps: []int64{0, 100},
	}
	inits, _ := arch.InitBatch(l, arch.InitPyTorch, arch.RunSeeds(1, z.Runs))
	for r := 0; r < z.Runs; r++ {
		copy(z.At(r, 0), inits[r*p:(r+1)*p])
		for j, v := range z.At(r, 0) {
			z.At(r, 1)[j] = v + 0.3
		}
	}
	return z
}

// Fit a small CFM meta-model on a zoo (Kaiming source, trajectory coupling), save it, load it
// back and generate base nets with their ODE paths.
func Example() {
	dir, _ := os.MkdirTemp("", "nmflow-example")
	defer os.RemoveAll(dir)
	be := backend.MustDefault()

	z := exampleZoo()
	// Every run moves by the same shift, so pairing each run's own init with its own path (the
	// trajectory coupling) and regressing the velocity learns "add the shift" exactly.
	cfg := flow.Config{Coupling: flow.CouplingTrajectory, Predict: flow.PredictVelocity,
		Net: flow.NetConfig{Width: 32, Depth: 1, TimeDim: 8}, Steps: 100, BatchSize: 16, LR: 5e-3}
	m, err := flow.Fit(context.Background(), z, cfg, flow.Options{Backend: be, Dir: filepath.Join(dir, "cfm"), Progress: io.Discard})
	if err != nil {
		panic(err)
	}
	fmt.Println("fitted:", m.Config.Method, m.Config.Source+"/"+m.Config.Coupling, "norm", m.Norm.Mode, "steps", m.Steps)

	loaded, err := flow.Load(filepath.Join(dir, "cfm"), be)
	if err != nil {
		panic(err)
	}
	s, err := loaded.Sample(8, flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 10, KeepPath: true}, Seed: 7})
	if err != nil {
		panic(err)
	}
	fmt.Printf("generated %d nets of %d parameters, %d path snapshots from t=%g to t=%g\n", s.N, s.P, len(s.Path), s.Times[0], s.Times[len(s.Times)-1])
	// Each generated net moved from its fresh init by about the zoo's shift of 0.3.
	var move float64
	for i := range s.Weights {
		move += float64(s.Weights[i]-s.Inits[i]) / float64(len(s.Weights))
	}
	fmt.Printf("mean move from init: %.1f\n", move)
	g := loaded.Generated(s, "rk4", 7, "cfm")
	fmt.Println("container:", g.Meta.Kind, g.Meta.Extra["source"], g.Meta.Extra["solver"])
	// Output:
	// fitted: cfm kaiming/trajectory norm layer steps 100
	// generated 8 nets of 23 parameters, 11 path snapshots from t=0 to t=1
	// mean move from init: 0.3
	// container: generated kaiming rk4
}
