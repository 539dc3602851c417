package solve

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
	"github.com/gomlx/gomlx/core/tensors"
)

// BenchmarkEuler measures generated nets per second for 100 Euler steps of N = 64 states of
// D = 25,450 through a 2-layer MLP velocity: "solve" through Solver.Integrate, "loop" the bare Go
// loop over the same compiled graph.Exec step, so the difference is the solver's overhead.
// Run: go test -run '^$' -bench Euler -benchtime 1x ./nmflow/solve/ (use GOEXPERIMENT=simd).
func BenchmarkEuler(b *testing.B) {
	const n, d, hidden = 64, 25450, 512
	steps := benchSteps
	be := testBackend(b)
	v := MLPVelocity(d, hidden, 1)
	x0 := make([]float32, n*d)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x0 {
		x0[i] = float32(rng.NormFloat64())
	}
	newX0 := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(append([]float32(nil), x0...), n, d) }

	b.Run("solve", func(b *testing.B) {
		s, err := NewSolver(GraphCompiler(be, v), "euler")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Integrate(newX0(), Options{Steps: 1}); err != nil { // compile and warm up
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			res, err := s.Integrate(newX0(), Options{Steps: steps})
			if err != nil {
				b.Fatal(err)
			}
			res.X.MustFinalizeAll()
		}
		reportNets(b, n, steps)
	})

	b.Run("loop", func(b *testing.B) {
		e := MustNewExec(be, func(x, t, dt *Node) *Node { return Add(x, Mul(v(x, t), dt)) }).SetMaxCache(1)
		defer e.Finalize()
		e.MustExec(newX0(), float32(0), float32(0.01))[0].MustFinalizeAll()
		b.ResetTimer()
		for b.Loop() {
			x := newX0()
			for i := range steps {
				buf := any(x)
				if i > 0 {
					buf = must1(DonateTensorBuffer(x, be, 0))
				}
				x = e.MustExec(buf, float32(i)/float32(steps), 1/float32(steps))[0]
			}
			x.MustFinalizeAll()
		}
		reportNets(b, n, steps)
	})
}

func reportNets(b *testing.B, n, steps int) {
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/sec, "nets/s")
	b.ReportMetric(1000*sec/float64(steps), "ms/step")
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// benchSteps is 100 (the brief's sampling length); a profile run may lower it.
var benchSteps = 100
