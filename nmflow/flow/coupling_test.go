package flow

import (
	"math"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// newTrainer sets a trainer up the way Fit does (normalizer on inits and targets, the source),
// without a backend: enough to draw batches.
func newTrainer(t *testing.T, z *traj.Zoo, cfg Config) *trainer {
	t.Helper()
	cfg, err := cfg.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	K := z.Checkpoints - 1
	inits, finals := z.Checkpoint(0), z.Checkpoint(K)
	var rows [][]float32
	for r := 0; r < z.Runs; r++ {
		rows = append(rows, inits[r*z.Params:(r+1)*z.Params], finals[r*z.Params:(r+1)*z.Params])
	}
	norm, err := FitNormalizer(cfg.Norm, z.Meta.Layout, rows)
	if err != nil {
		t.Fatal(err)
	}
	norm.Forward(inits)
	norm.Forward(finals)
	return &trainer{cfg: cfg, runs: z.Runs, p: z.Params, x0s: inits, x1s: finals,
		src: &Source{Kind: cfg.Source, Layout: z.Meta.Layout, Law: z.Meta.Init, norm: norm}}
}

type batchBufs struct{ x0, x1, tt, eps, xt, target []float32 }

func (tr *trainer) draw(t *testing.T, s int) batchBufs {
	t.Helper()
	b, p := tr.cfg.BatchSize, tr.p
	sc := tr.newScratch()
	bb := batchBufs{xt: make([]float32, b*p), target: make([]float32, b*p)}
	if err := tr.batch(s, sc, bb.xt, bb.target); err != nil {
		t.Fatal(err)
	}
	bb.x0, bb.x1, bb.tt, bb.eps = sc.x0, sc.x1, sc.tt, sc.eps
	return bb
}

// runOfRow finds the run whose (normalized) row of m equals row, or -1.
func runOfRow(m, row []float32, p int) int {
	for r := 0; r*p < len(m); r++ {
		if equalFloats(m[r*p:(r+1)*p], row) {
			return r
		}
	}
	return -1
}

// TestTrajectoryCoupling: each x0 of a batch is the init of the very run whose final weights are
// its x1, in normalized space; t is uniform on [0,1) and a batch depends only on (seed, step).
func TestTrajectoryCoupling(t *testing.T) {
	z := driftZoo(tinyLayout(), 12, 4, 5)
	tr := newTrainer(t, z, Config{BatchSize: 40, Seed: 3, Coupling: CouplingTrajectory})
	if tr.cfg.Source != SourceKaiming || tr.cfg.Coupling != CouplingTrajectory {
		t.Fatalf("source %q coupling %q, want kaiming/trajectory", tr.cfg.Source, tr.cfg.Coupling)
	}
	p := z.Params
	seen := map[int]bool{}
	for s := 0; s < 5; s++ {
		bb := tr.draw(t, s)
		for i := 0; i < tr.cfg.BatchSize; i++ {
			r1 := runOfRow(tr.x1s, bb.x1[i*p:(i+1)*p], p)
			r0 := runOfRow(tr.x0s, bb.x0[i*p:(i+1)*p], p)
			if r1 < 0 || r0 != r1 {
				t.Fatalf("step %d row %d: x1 is run %d's final, x0 is run %d's init", s, i, r1, r0)
			}
			seen[r1] = true
			if !(bb.tt[i] >= 0 && bb.tt[i] < 1) {
				t.Fatalf("t = %v outside [0,1)", bb.tt[i])
			}
		}
		for _, e := range bb.eps {
			if e != 0 {
				t.Fatal("eps drawn with sigma = 0")
			}
		}
	}
	if len(seen) != z.Runs {
		t.Errorf("5 batches of 40 drew %d of %d runs", len(seen), z.Runs)
	}
	// The normalized rows are the zoo's checkpoints 0 and K pushed through the normalizer.
	raw := append([]float32(nil), tr.x0s[2*p:3*p]...)
	tr.src.norm.Inverse(raw)
	for j, v := range z.At(2, 0) {
		if math.Abs(float64(raw[j]-v)) > 1e-6 {
			t.Fatalf("x0 of run 2 does not map back to its init: %v vs %v", raw[j], v)
		}
	}
	// Deterministic in (seed, step); a different step or seed draws a different batch.
	a, b := tr.draw(t, 7), tr.draw(t, 7)
	if !equalFloats(a.x0, b.x0) || !equalFloats(a.x1, b.x1) || !equalFloats(a.tt, b.tt) {
		t.Error("the same step drew two different batches")
	}
	if c := tr.draw(t, 8); equalFloats(a.tt, c.tt) {
		t.Error("steps 7 and 8 drew the same times")
	}
	tr.cfg.Seed++
	if c := tr.draw(t, 7); equalFloats(a.tt, c.tt) {
		t.Error("seeds 3 and 4 drew the same times")
	}
}

// TestIndependentAndNoise: the independent coupling draws fresh sources (never a zoo init), and
// σ > 0 draws standard normal noise.
func TestIndependentAndNoise(t *testing.T) {
	z := driftZoo(tinyLayout(), 6, 2, 5)
	p := z.Params
	for _, src := range []string{SourceKaiming, SourceGaussian} {
		tr := newTrainer(t, z, Config{Source: src, Coupling: CouplingIndependent, Sigma: 0.1, BatchSize: 256, Seed: 1})
		bb := tr.draw(t, 0)
		for i := 0; i < tr.cfg.BatchSize; i++ {
			if runOfRow(tr.x0s, bb.x0[i*p:(i+1)*p], p) >= 0 {
				t.Fatalf("%s: row %d's x0 is a zoo init", src, i)
			}
		}
		m, s := moments(bb.eps, len(bb.eps), 1)
		if math.Abs(m[0]) > 0.05 || math.Abs(s[0]-1) > 0.05 {
			t.Errorf("%s: eps has mean %.3f std %.3f, want N(0,1)", src, m[0], s[0])
		}
		if src == SourceKaiming { // x0 maps back into the init law's support
			raw := append([]float32(nil), bb.x0...)
			tr.src.norm.Inverse(raw)
			for _, seg := range z.Meta.Layout.Segments {
				bound := 1 / math.Sqrt(float64(seg.FanIn))
				for i := 0; i < tr.cfg.BatchSize; i++ {
					for _, v := range raw[i*p+seg.Offset : i*p+seg.Offset+seg.Size()] {
						if math.Abs(float64(v)) > bound*(1+1e-5) {
							t.Fatalf("kaiming source: %s value %v outside ±%v", seg.Name, v, bound)
						}
					}
				}
			}
		}
	}
}

// TestOTCoupling: the mini-batch OT coupling draws the same sources and targets as the
// independent one and re-pairs them so that the total squared cost is minimal over all
// permutations (checked exhaustively for B ≤ 6).
func TestOTCoupling(t *testing.T) {
	z := driftZoo(tinyLayout(), 20, 2, 9)
	p := z.Params
	for _, b := range []int{1, 2, 3, 5, 6} {
		for _, src := range []string{SourceGaussian, SourceKaiming} {
			ind := newTrainer(t, z, Config{Source: src, Coupling: CouplingIndependent, BatchSize: b, Seed: 11})
			ot := newTrainer(t, z, Config{Source: src, Coupling: CouplingOT, BatchSize: b, Seed: 11})
			for s := 0; s < 4; s++ {
				bi, bo := ind.draw(t, s), ot.draw(t, s)
				if !equalFloats(bi.x1, bo.x1) || !equalFloats(bi.tt, bo.tt) {
					t.Fatalf("B=%d %s step %d: OT changed the targets or times", b, src, s)
				}
				// x0 rows are a permutation of the independent draws.
				perm := make([]int, b)
				used := make([]bool, b)
				for i := range perm {
					perm[i] = -1
					for j := 0; j < b; j++ {
						if !used[j] && equalFloats(bo.x0[i*p:(i+1)*p], bi.x0[j*p:(j+1)*p]) {
							perm[i], used[j] = j, true
							break
						}
					}
					if perm[i] < 0 {
						t.Fatalf("B=%d %s step %d: OT source row %d is not one of the drawn sources", b, src, s, i)
					}
				}
				cost := func(i, j int) float64 { // ‖x1_i − x0_j‖² with x0 the independent draws
					var c float64
					for k := 0; k < p; k++ {
						d := float64(bi.x1[i*p+k] - bi.x0[j*p+k])
						c += d * d
					}
					return c
				}
				var got float64
				for i, j := range perm {
					got += cost(i, j)
				}
				best := math.Inf(1)
				permute(b, func(q []int) {
					var c float64
					for i, j := range q {
						c += cost(i, j)
					}
					best = math.Min(best, c)
				})
				if got > best*(1+1e-9) {
					t.Errorf("B=%d %s step %d: OT pairing costs %v, the best permutation %v", b, src, s, got, best)
				}
				if s == 0 && b == 6 && src == SourceGaussian {
					var idc float64
					for i := 0; i < b; i++ {
						idc += cost(i, i)
					}
					t.Logf("B=6: independent pairing costs %.2f, OT %.2f", idc, got)
				}
			}
		}
	}
}

// permute calls f with every permutation of 0..n-1 (Heap's algorithm).
func permute(n int, f func([]int)) {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k <= 1 {
			f(a)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				a[i], a[k-1] = a[k-1], a[i]
			} else {
				a[0], a[k-1] = a[k-1], a[0]
			}
		}
	}
	gen(n)
}
