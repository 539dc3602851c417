package flow

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// benchZoo is a 32-run zoo of an MLP 784-12-10 (P = 9,550 ≈ 10⁴), inits from the PyTorch law and
// finals shifted by run-specific noise.
func benchZoo(b *testing.B) *traj.Zoo {
	spec := arch.MLP([]int{1, 28, 28}, 10, 12)
	net := arch.MustNew(spec)
	l := net.Layout()
	z := newZoo(l, 32, 2)
	z.Meta.Arch = spec
	rng := rand.New(rand.NewPCG(1, 2))
	for r := 0; r < z.Runs; r++ {
		w, err := arch.Init(l, arch.InitPyTorch, uint64(r+1))
		if err != nil {
			b.Fatal(err)
		}
		copy(z.At(r, 0), w)
		for i, v := range w {
			z.At(r, 1)[i] = v + 0.05*float32(rng.NormFloat64())
		}
	}
	return z
}

func benchConfig(steps int) Config {
	return Config{Coupling: CouplingIndependent, Predict: PredictTarget, TimeSkew: 4, Net: NetConfig{Width: 128, Depth: 1},
		Steps: steps, BatchSize: 64, LR: 3e-3, EMA: 0.99, Seed: 1}
}

// BenchmarkFitStep: meta-model training steps/s for P ≈ 10⁴ (width 128, batch 64), compiled once.
func BenchmarkFitStep(b *testing.B) {
	z := benchZoo(b)
	testBackend(b)
	_, err := Fit(context.Background(), z, benchConfig(3), Options{Progress: io.Discard}) // compile + warm up
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := Fit(context.Background(), z, benchConfig(b.N), Options{Progress: io.Discard}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkBatch: the host-side part of a step (source draws, coupling, copies).
func BenchmarkBatch(b *testing.B) {
	z := benchZoo(b)
	cfg, _ := benchConfig(1).Defaults()
	rows := [][]float32{z.At(0, 0), z.At(1, 1)}
	norm, _ := FitNormalizer(cfg.Norm, z.Meta.Layout, rows)
	t := &trainer{cfg: cfg, runs: z.Runs, p: z.Params, x1s: z.Checkpoint(1), x0s: z.Checkpoint(0),
		src: &Source{Kind: cfg.Source, Layout: z.Meta.Layout, Law: z.Meta.Init, norm: norm}}
	bs, p := cfg.BatchSize, z.Params
	sc, xt, target := t.newScratch(), make([]float32, bs*p), make([]float32, bs*p)
	for i := 0; i < b.N; i++ {
		if err := t.batch(i, sc, xt, target); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSample: generated nets/s for P ≈ 10⁴, 64 nets, 100 Euler steps.
func BenchmarkSample(b *testing.B) {
	z := benchZoo(b)
	testBackend(b)
	m, err := Fit(context.Background(), z, benchConfig(2), Options{Progress: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	opt := SampleOptions{Solve: solve.Options{Method: "euler", Steps: 100}}
	if _, err := m.Sample(64, opt); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Sample(64, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "nets/s")
}
