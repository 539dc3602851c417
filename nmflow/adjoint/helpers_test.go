package adjoint

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

var testBackend = testutil.Backend // the process-wide backend

// gaussZoo is a zoo of R runs over a flat layout of p parameters whose final checkpoints are
// draws from N(0, I) (the inits do not matter to a Gaussian-source, independent-coupling fit).
func gaussZoo(p, runs int, seed uint64) *traj.Zoo {
	l := arch.NewLayout(arch.Segment{Name: "w", Shape: []int{p}, FanIn: p, Kind: arch.Weight})
	z := &traj.Zoo{
		Meta: traj.Meta{Kind: traj.KindZoo, Layout: l, Init: arch.InitPyTorch, Seed: seed, Dataset: traj.DatasetMeta{Name: "synthetic"}},
		Runs: runs, Checkpoints: 2, Params: p, Weights: make([]float32, runs*2*p), Steps: []int64{0, 1},
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for r := range runs {
		for i, w := 0, z.At(r, 1); i < p; i++ {
			w[i] = float32(rng.NormFloat64())
		}
	}
	return z
}

var (
	baseOnce sync.Once
	baseMod  *flow.Model
	baseErr  error
)

// gaussBase is a CFM fitted on N(0, I₂) data with the Gaussian source and independent coupling
// (the exact case of the memoryless schedule), shared by the tests of the package.
func gaussBase(t *testing.T) *flow.Model {
	t.Helper()
	be := testBackend(t)
	baseOnce.Do(func() {
		// Velocity prediction with uniform times, as the closed forms were calibrated with (the
		// endpoint-prediction default fits this 2-D Gaussian less well: std 1.2 instead of 1).
		cfg := flow.Config{Source: flow.SourceGaussian, Coupling: flow.CouplingIndependent, Norm: flow.NormNone,
			Predict: flow.PredictVelocity, TimeSkew: 1, Align: flow.AlignNone,
			Net: flow.NetConfig{Width: 64, Depth: 1, TimeDim: 16}, Steps: 600, BatchSize: 256, LR: 5e-3, EMA: 0.99, Seed: 1}
		baseMod, baseErr = flow.Fit(context.Background(), gaussZoo(2, 2048, 11), cfg, flow.Options{Backend: be, Progress: io.Discard})
	})
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	return baseMod
}

// sampleMoments draws n samples with the model's ODE sampler (RK4) and returns per-coordinate
// mean and std.
func sampleMoments(t *testing.T, m *flow.Model, n int) (mean, std []float64) {
	t.Helper()
	s, err := m.Sample(n, flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 10}, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return moments(s.Weights, s.N, s.P)
}

func moments(w []float32, n, p int) (mean, std []float64) {
	mean, std = make([]float64, p), make([]float64, p)
	for i := range n {
		for j := range p {
			mean[j] += float64(w[i*p+j]) / float64(n)
		}
	}
	for i := range n {
		for j := range p {
			d := float64(w[i*p+j]) - mean[j]
			std[j] += d * d / float64(n)
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j])
	}
	return mean, std
}

// gaussSlope is the marginal velocity of the linear path between N(0, 1) and N(0, 1), drawn
// independently: v(x, t) = (2t − 1)/((1 − t)² + t²)·x.
func gaussSlope(t float64) float64 { return (2*t - 1) / ((1-t)*(1-t) + t*t) }

// exactField is the closed-form Gaussian field plus a small trainable correction network
// (output layer at zero), so the base (/base/vel) is exactly v and the fine-tuned field starts
// there. It lets the tests check the algorithm without the error of a fitted meta-model.
func exactField(scope *model.Scope, x, t *Node) *Node {
	tb := t
	if t.Rank() == 0 {
		tb = BroadcastToDims(t, x.Shape().Dimensions[0])
	}
	tt := InsertAxes(tb, -1)
	slope := Div(SubScalar(MulScalar(tt, 2), 1), Add(Square(OneMinus(tt)), Square(tt)))
	vel := scope.In("vel")
	layer := func(name string, in *Node, n int, std float64) *Node {
		s := vel.In("%s", name)
		init := initializer.RandomNormalFn(s, std)
		if std == 0 {
			init = initializer.Zero
		}
		w := s.WithInitializer(init).VariableWithShape("w", shapes.Make(dtypes.Float32, n, in.Shape().Dimensions[1])).NodeValue(in.Graph())
		b := s.WithInitializer(initializer.Zero).VariableWithShape("b", shapes.Make(dtypes.Float32, n)).NodeValue(in.Graph())
		return nn.Dense(in, w, b, compute.DenseLayoutOutputsInput)
	}
	h := layer("h1", Concatenate([]*Node{x, flow.TimeEmbedding(tb, 16)}, -1), 32, 0.3)
	h = Mul(h, Sigmoid(h))
	h2 := layer("h2", h, 32, 0.2)
	h = Add(h, Mul(h2, Sigmoid(h2)))
	return Add(Mul(slope, x), layer("out", h, x.Shape().Dimensions[1], 0))
}

// exactEngine is an engine on exactField with a standard Gaussian source.
func exactEngine(t *testing.T, cfg Config, reward Reward) (*engine, *model.Store) {
	t.Helper()
	cfg, err := cfg.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(7); err != nil {
		t.Fatal(err)
	}
	draw := func(rng *rand.Rand, dst []float32) error {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64())
		}
		return nil
	}
	e, err := newEngine(testBackend(t), cfg, store, exactField, Autodiff(exactField), nil, []float32{0}, []float32{1}, draw, reward, func(z *Node) *Node { return z })
	if err != nil {
		t.Fatal(err)
	}
	return e, store
}

// odeSample integrates the fine-tuned exactField from N(0, 1) draws with RK4.
func odeSample(t *testing.T, store *model.Store, n int) []float32 {
	t.Helper()
	sv, err := solve.NewSolver(solve.ModelCompiler(testBackend(t), store, func(scope *model.Scope, x, tt *Node) *Node { return exactField(scope, x, tt) }), "rk4")
	if err != nil {
		t.Fatal(err)
	}
	x0 := make([]float32, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x0 {
		x0[i] = float32(rng.NormFloat64())
	}
	res, err := sv.Integrate(tensors.FromFlatDataAndDimensions(x0, n, 1), solve.Options{Steps: 20})
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](res.X)
}

// weightsOf returns the flat values of every variable of store, by path.
func weightsOf(t *testing.T, store *model.Store) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		if val.DType() == dtypes.Float32 {
			out[v.Path()] = tensors.MustCopyFlatData[float32](val)
		}
	}
	return out
}

var sameBits = testutil.SameBits // bitwise equality of float32 slices
