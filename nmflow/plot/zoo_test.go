package plot

import (
	"math"
	"math/rand/v2"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// testLayout is a tiny 3→4→2 MLP: P = 12 + 4 + 8 + 2 = 26.
func testLayout() arch.Layout {
	return arch.NewLayout(
		arch.Segment{Name: "fc1.weight", Shape: []int{4, 3}, FanIn: 3, Kind: arch.Weight},
		arch.Segment{Name: "fc1.bias", Shape: []int{4}, FanIn: 3, Kind: arch.Bias},
		arch.Segment{Name: "fc2.weight", Shape: []int{2, 4}, FanIn: 4, Kind: arch.Weight},
		arch.Segment{Name: "fc2.bias", Shape: []int{2}, FanIn: 4, Kind: arch.Bias},
	)
}

// unit returns a random unit vector of length p.
func unit(rng *rand.Rand, p int) []float64 {
	v := make([]float64, p)
	var s float64
	for i := range v {
		v[i] = rng.NormFloat64()
		s += v[i] * v[i]
	}
	for i := range v {
		v[i] /= math.Sqrt(s)
	}
	return v
}

// synthZoo builds R runs of K+1 checkpoints whose weights move along dir (amplitude 3 over
// training), sit at run-specific offsets along side (⊥ dir, amplitude ≤ 0.8) and carry
// small isotropic noise, so PC1 ≈ dir and PC2 ≈ side. Metrics improve smoothly.
func synthZoo(runs, ckpts int) (z *traj.Zoo, dir, side []float64) {
	lay := testLayout()
	p := lay.Size()
	rng := rand.New(rand.NewPCG(7, 11))
	dir = unit(rng, p)
	side = unit(rng, p)
	var d float64 // make side exactly orthogonal to dir
	for i := range side {
		d += side[i] * dir[i]
	}
	var s float64
	for i := range side {
		side[i] -= d * dir[i]
		s += side[i] * side[i]
	}
	for i := range side {
		side[i] /= math.Sqrt(s)
	}

	z = emptyZoo(lay, "synthetic", runs, ckpts)
	K := ckpts - 1
	for k := range z.Steps {
		z.Steps[k] = int64(100 * k)
	}
	for r := 0; r < runs; r++ {
		off := 0.8 * (2*float64(r)/float64(max(runs-1, 1)) - 1)
		base := make([]float64, p)
		for j := range base {
			base[j] = 0.02 * (2*rng.Float64() - 1) // a small uniform (Kaiming-like) init
		}
		for k := 0; k < ckpts; k++ {
			t := float64(k) / float64(max(K, 1))
			w := z.At(r, k)
			for j := range w {
				w[j] = float32(base[j] + 3*t*dir[j] + off*side[j] + 0.01*rng.NormFloat64())
			}
			i := r*ckpts + k
			z.Metrics[traj.MetricTrainLoss][i] = float32(2.3*math.Exp(-3*t) + 0.05 + 0.03*rng.Float64())
			z.Metrics[traj.MetricTestLoss][i] = float32(2.3*math.Exp(-2.5*t) + 0.1 + 0.05*rng.Float64())
			z.Metrics[traj.MetricTestAcc][i] = float32(0.1 + 0.8*(1-math.Exp(-4*t)) + 0.04*rng.Float64())
		}
	}
	return z, dir, side
}

// realisticZoo is a heavier zoo for looking at figures: a 784→32→10 MLP (P = 25,450) with
// Kaiming-uniform inits, curved paths (fast early, slow late) along a shared drift plus a
// run-specific direction, and noisy metrics.
func realisticZoo(runs, ckpts int) *traj.Zoo {
	lay := arch.NewLayout(
		arch.Segment{Name: "fc1.weight", Shape: []int{32, 784}, FanIn: 784, Kind: arch.Weight},
		arch.Segment{Name: "fc1.bias", Shape: []int{32}, FanIn: 784, Kind: arch.Bias},
		arch.Segment{Name: "fc2.weight", Shape: []int{10, 32}, FanIn: 32, Kind: arch.Weight},
		arch.Segment{Name: "fc2.bias", Shape: []int{10}, FanIn: 32, Kind: arch.Bias},
	)
	p := lay.Size()
	rng := rand.New(rand.NewPCG(3, 5))
	z := emptyZoo(lay, "mnist", runs, ckpts)
	for k := range z.Steps {
		z.Steps[k] = int64(k * 469)
	}
	bound := make([]float64, p)
	for _, s := range lay.Segments {
		for j := s.Offset; j < s.Offset+s.Size(); j++ {
			bound[j] = 1 / math.Sqrt(float64(s.FanIn))
		}
	}
	drift := make([]float64, p)
	for j := range drift {
		drift[j] = 0.8 * bound[j] * rng.NormFloat64()
	}
	K := float64(ckpts - 1)
	for r := 0; r < runs; r++ {
		w0 := make([]float64, p)
		own := make([]float64, p)
		for j := range w0 {
			w0[j] = bound[j] * (2*rng.Float64() - 1)
			own[j] = 0.6 * bound[j] * rng.NormFloat64()
		}
		skill := 0.02 * rng.NormFloat64()
		for k := 0; k < ckpts; k++ {
			t := float64(k) / K
			s1, s2 := 1-math.Exp(-4*t), t*t
			w := z.At(r, k)
			for j := range w {
				w[j] = float32(w0[j] + s1*drift[j] + s2*own[j])
			}
			i := r*ckpts + k
			z.Metrics[traj.MetricTrainLoss][i] = float32(2.3*math.Exp(-5*t) + 0.04 + 0.02*rng.Float64())
			z.Metrics[traj.MetricTestLoss][i] = float32(2.3*math.Exp(-4.5*t) + 0.09 + 0.04*rng.Float64() + 0.1*t*t)
			z.Metrics[traj.MetricTestAcc][i] = float32(math.Min(1, 0.1+0.87*(1-math.Exp(-6*t))+skill*t+0.01*rng.NormFloat64()))
		}
	}
	return z
}

// emptyZoo is a zero zoo of runs × ckpts checkpoints of lay, with the three standard metrics.
func emptyZoo(lay arch.Layout, dataset string, runs, ckpts int) *traj.Zoo {
	p := lay.Size()
	return &traj.Zoo{
		Meta:        traj.Meta{Kind: traj.KindZoo, Layout: lay, Dataset: traj.DatasetMeta{Name: dataset}},
		Runs:        runs,
		Checkpoints: ckpts,
		Params:      p,
		Weights:     make([]float32, runs*ckpts*p),
		Steps:       make([]int64, ckpts),
		Metrics: map[string][]float32{
			traj.MetricTrainLoss: make([]float32, runs*ckpts),
			traj.MetricTestLoss:  make([]float32, runs*ckpts),
			traj.MetricTestAcc:   make([]float32, runs*ckpts),
		},
	}
}
