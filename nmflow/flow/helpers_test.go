package flow

import (
	"math"
	"math/rand/v2"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/traj"
)

var testBackend = testutil.Backend // the process-wide backend

// tinyLayout is a 3→4→2 MLP: P = 12 + 4 + 8 + 2 = 26.
func tinyLayout() arch.Layout {
	return arch.NewLayout(
		arch.Segment{Name: "fc1.weight", Shape: []int{4, 3}, FanIn: 3, Kind: arch.Weight},
		arch.Segment{Name: "fc1.bias", Shape: []int{4}, FanIn: 3, Kind: arch.Bias},
		arch.Segment{Name: "fc2.weight", Shape: []int{2, 4}, FanIn: 4, Kind: arch.Weight},
		arch.Segment{Name: "fc2.bias", Shape: []int{2}, FanIn: 4, Kind: arch.Bias},
	)
}

// flatLayout is one weight segment of p values (fan-in p), for closed-form tests.
func flatLayout(p int) arch.Layout {
	return arch.NewLayout(arch.Segment{Name: "w", Shape: []int{p}, FanIn: p, Kind: arch.Weight})
}

// newZoo returns an empty zoo of R runs and K+1 checkpoints on layout l (steps 0, 10, 20, ...).
func newZoo(l arch.Layout, runs, ckpts int) *traj.Zoo {
	p := l.Size()
	z := &traj.Zoo{
		Meta:        traj.Meta{Kind: traj.KindZoo, Layout: l, Init: arch.InitPyTorch, Seed: 42, Dataset: traj.DatasetMeta{Name: "synthetic"}},
		Runs:        runs,
		Checkpoints: ckpts,
		Params:      p,
		Weights:     make([]float32, runs*ckpts*p),
		Steps:       make([]int64, ckpts),
	}
	for k := range z.Steps {
		z.Steps[k] = int64(10 * k)
	}
	return z
}

// driftZoo is a zoo whose runs start from the layout's own init law and move, over K steps,
// towards run-specific targets: a shared shift plus a little noise. Every checkpoint of run r
// carries r's identity in its first parameter's fractional pattern, see runOf.
func driftZoo(l arch.Layout, runs, ckpts int, seed uint64) *traj.Zoo {
	z := newZoo(l, runs, ckpts)
	p := l.Size()
	rng := rand.New(rand.NewPCG(seed, 1))
	shift := make([]float32, p)
	for i := range shift {
		shift[i] = float32(rng.NormFloat64())
	}
	K := float32(ckpts - 1)
	for r := 0; r < runs; r++ {
		init, err := arch.Init(l, arch.InitPyTorch, rng.Uint64())
		if err != nil {
			panic(err)
		}
		final := make([]float32, p)
		for i := range final {
			final[i] = init[i] + shift[i] + 0.1*float32(rng.NormFloat64())
		}
		for k := 0; k < ckpts; k++ {
			f := float32(k) / K
			w := z.At(r, k)
			for i := range w {
				w[i] = (1-f)*init[i] + f*final[i]
			}
		}
	}
	return z
}

// gaussZoo has R runs of two checkpoints: inits from the layout's init law and finals drawn from
// N(mu, s²I), independent of the inits.
func gaussZoo(p, runs int, mu []float64, s float64, seed uint64) *traj.Zoo {
	l := flatLayout(p)
	z := newZoo(l, runs, 2)
	rng := rand.New(rand.NewPCG(seed, 2))
	for r := 0; r < runs; r++ {
		init, err := arch.Init(l, arch.InitPyTorch, rng.Uint64())
		if err != nil {
			panic(err)
		}
		copy(z.At(r, 0), init)
		w := z.At(r, 1)
		for i := range w {
			w[i] = float32(mu[i] + s*rng.NormFloat64())
		}
	}
	return z
}

// moments returns the per-coordinate mean and (population) std of the rows of an [N,P] matrix.
func moments(w []float32, n, p int) (mean, std []float64) {
	mean, std = make([]float64, p), make([]float64, p)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			mean[j] += float64(w[i*p+j])
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			d := float64(w[i*p+j]) - mean[j]
			std[j] += d * d
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(n))
	}
	return mean, std
}

var equalFloats = testutil.SameBits // bitwise equality of float32 slices
