package plot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/plotter"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// PCA is a fitted 2-D principal-component projection of weight vectors.
type PCA struct {
	Mean []float64 // [P] centre of the fitted rows
	// Components are orthonormal [P] directions, PC1 first. A component is all zeros when the
	// data have fewer than two directions of variance.
	Components [2][]float64
	// Explained is the fraction of the total variance along each component.
	Explained [2]float64
}

// PCA fitting by block Lanczos on the centred data A (n×P), never forming the n×n Gram or
// P×P covariance: each step streams A twice at O(n·P·block) cost, so a 1000×25000 zoo costs
// ~10 steps instead of the 2.5e10 flops of a Gram matrix. A Krylov space rather than
// plain subspace iteration because zoo spectra are clustered (random inits are isotropic):
// subspace iteration then crawls, while block Krylov Ritz values converge regardless of gaps
// (Musco & Musco, NeurIPS 2015).
const (
	pcaBlock     = 8       // vectors added to the Krylov space per step
	pcaMaxDim    = 128     // Krylov dimension cap; a zoo's init cluster is ~R directions wide
	pcaMaxMemory = 1 << 28 // bytes for the stored Aᵀq vectors; lowers the cap for huge P
	pcaTol       = 1e-5    // relative change of the two leading Ritz values at convergence
	pcaSeed      = 0x6e6d666c6f77
)

// Rows splits a flat row-major [n, p] matrix into n row views (no copy).
func Rows(flat []float32, p int) [][]float32 {
	if p <= 0 {
		return nil
	}
	n := len(flat) / p
	out := make([][]float32, n)
	for i := range out {
		out[i] = flat[i*p : (i+1)*p : (i+1)*p]
	}
	return out
}

// FitPCAFlat fits a PCA to a flat row-major [n, p] matrix.
func FitPCAFlat(data []float32, n, p int) (*PCA, error) {
	if n <= 0 || p <= 0 || len(data) != n*p {
		return nil, fmt.Errorf("plot: pca data has %d values, want n*p = %d*%d", len(data), n, p)
	}
	return FitPCA(Rows(data, p))
}

// FitPCAZoo fits a PCA to every checkpoint of every run, oriented so that training moves
// towards +PC1 and +PC2 on average (finals right of and above inits), which makes figures of
// different zoos read the same way.
func FitPCAZoo(z *traj.Zoo) (*PCA, error) {
	if err := checkZoo(z); err != nil {
		return nil, err
	}
	pca, err := FitPCA(Rows(z.Weights, z.Params))
	if err != nil {
		return nil, err
	}
	if z.Checkpoints > 1 {
		// Net displacement along each component; flipped only when clearly negative, so a
		// displacement that is zero up to rounding cannot make the sign machine-dependent.
		var d, scale [2]float64
		for r := 0; r < z.Runs; r++ {
			x0, y0 := pca.Project(z.At(r, 0))
			x1, y1 := pca.Project(z.At(r, z.Checkpoints-1))
			d[0] += x1 - x0
			d[1] += y1 - y0
			scale[0] += math.Abs(x0) + math.Abs(x1)
			scale[1] += math.Abs(y0) + math.Abs(y1)
		}
		for c := range d {
			if d[c] < -1e-4*scale[c] {
				floats.Scale(-1, pca.Components[c])
			}
		}
	}
	return pca, nil
}

// FitPCA fits the two leading principal components of rows (n ≥ 2 rows of equal length P),
// centred on their mean. Variances and directions are accurate to about 1e-6 relative (the
// heavy products run in float32, like the weights). Deterministic: the same rows give the same
// PCA for any number of CPUs. Each component's sign is fixed so that its largest entry is
// positive. Cost: a few dozen streaming passes over the rows; about 1 CPU-second for
// 1000 × 25,000, spread over all CPUs.
func FitPCA(rows [][]float32) (*PCA, error) {
	maxDim := pcaMaxDim
	if len(rows) > 0 && len(rows[0]) > 0 {
		maxDim = max(2*pcaBlock, min(pcaMaxDim, pcaMaxMemory/(8*len(rows[0]))))
	}
	return fitPCA(rows, pcaBlock, pcaTol, maxDim)
}

func fitPCA(rows [][]float32, block int, tol float64, maxDim int) (*PCA, error) {
	n := len(rows)
	if n < 2 {
		return nil, fmt.Errorf("plot: pca needs at least 2 rows, got %d", n)
	}
	p := len(rows[0])
	if p == 0 {
		return nil, fmt.Errorf("plot: pca rows are empty")
	}
	mean := make([]float64, p)
	for i, r := range rows {
		if len(r) != p {
			return nil, fmt.Errorf("plot: pca row %d has length %d, want %d", i, len(r), p)
		}
		for j, v := range r {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("plot: pca row %d has a non-finite value at %d", i, j)
			}
			mean[j] += f
		}
	}
	floats.Scale(1/float64(n), mean)
	a := newCentred(rows, mean)
	pca := &PCA{Mean: mean, Components: [2][]float64{make([]float64, p), make([]float64, p)}}

	total := a.totalVariance()
	rank := min(n-1, p) // centring removes one dimension
	if total == 0 || rank == 0 {
		return pca, nil
	}
	b := min(rank, block)
	maxDim = min(rank, maxDim)

	// Start block: A Π for a Gaussian Π (P×b, one vector per row) from a fixed seed.
	rng := rand.New(rand.NewPCG(pcaSeed, uint64(n)<<32|uint64(p)))
	pi := newBlock(b, p)
	for _, v := range pi {
		for j := range v {
			v[j] = rng.NormFloat64()
		}
	}
	w := newBlock(b, n)
	a.mulZ(w, pi)

	// Block Lanczos with full reorthogonalisation: qs is an orthonormal basis of the Krylov
	// space span{AΠ, (AAᵀ)AΠ, ...} in R^n, zs[k] = Aᵀ qs[k]. Rayleigh–Ritz on it uses
	// M = ZᵀZ = Qᵀ A Aᵀ Q, whose top eigenpairs give PC1/PC2 with no extra pass over A.
	var qs, zs [][]float64
	var gram []float64 // M, row-major, grown as blocks arrive
	var vals []float64
	var vecs mat.Dense
	var prev [2]float64
	for step := 0; ; step++ {
		newQ := orthonormalizeAgainst(qs, w)
		if len(newQ) == 0 {
			break // invariant subspace: the Ritz pairs are exact
		}
		z := newBlock(len(newQ), p)
		a.mulTQ(z, newQ)
		m0 := len(qs)
		qs, zs = append(qs, newQ...), append(zs, z...)
		m := len(qs)
		g := make([]float64, m*m)
		for i := 0; i < m0; i++ {
			copy(g[i*m:i*m+m0], gram[i*m0:(i+1)*m0])
		}
		for i := 0; i < m; i++ {
			for j := max(i, m0); j < m; j++ {
				d := floats.Dot(zs[i], zs[j])
				g[i*m+j], g[j*m+i] = d, d
			}
		}
		gram = g
		var es mat.EigenSym
		if !es.Factorize(mat.NewSymDense(m, append([]float64(nil), gram...)), true) {
			return nil, fmt.Errorf("plot: pca eigen-decomposition failed")
		}
		vals = es.Values(nil) // ascending
		vecs.Reset()
		es.VectorsTo(&vecs)
		cur := [2]float64{vals[m-1], 0}
		if m > 1 {
			cur[1] = vals[m-2]
		}
		done := m >= maxDim ||
			(step > 0 && relChange(prev[0], cur[0]) < tol && relChange(prev[1], cur[1]) < tol)
		prev = cur
		if done {
			break
		}
		w = newBlock(len(z), n)
		a.mulZ(w, z) // A Aᵀ (newest block)
	}

	// v = Aᵀ Q u / σ = Z u / σ for the top Ritz vectors u; normalised instead of divided.
	m := len(qs)
	for c := 0; c < 2 && c < m; c++ {
		lam := vals[m-1-c]
		if lam <= 1e-12*total {
			break // no variance left: leave the component zero
		}
		v := pca.Components[c]
		for k := 0; k < m; k++ {
			floats.AddScaled(v, vecs.At(k, m-1-c), zs[k])
		}
		floats.Scale(1/floats.Norm(v, 2), v)
		if floats.Max(v) < -floats.Min(v) {
			floats.Scale(-1, v)
		}
		pca.Explained[c] = math.Min(1, lam/total)
	}
	return pca, nil
}

func newBlock(rows, cols int) [][]float64 {
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
	}
	return out
}

// orthonormalizeAgainst orthogonalises the vectors v against the orthonormal basis and each
// other by Gram-Schmidt applied twice ("twice is enough" in float64) and returns the ones that
// are not (numerically) dependent, normalised. v is overwritten.
func orthonormalizeAgainst(basis, v [][]float64) [][]float64 {
	var out [][]float64
	for _, x := range v {
		before := floats.Norm(x, 2)
		if before == 0 {
			continue
		}
		for pass := 0; pass < 2; pass++ {
			for _, q := range basis {
				floats.AddScaled(x, -floats.Dot(q, x), q)
			}
			for _, q := range out {
				floats.AddScaled(x, -floats.Dot(q, x), q)
			}
		}
		nrm := floats.Norm(x, 2)
		if nrm <= 1e-10*before {
			continue
		}
		floats.Scale(1/nrm, x)
		out = append(out, x)
	}
	return out
}

// Project returns the coordinates of w in the PCA plane. It panics if len(w) != len(Mean).
func (q *PCA) Project(w []float32) (x, y float64) {
	if len(w) != len(q.Mean) {
		panic(fmt.Sprintf("plot: Project got %d weights, PCA has P=%d", len(w), len(q.Mean)))
	}
	c0, c1 := q.Components[0], q.Components[1]
	for j, v := range w {
		d := float64(v) - q.Mean[j]
		x += d * c0[j]
		y += d * c1[j]
	}
	return x, y
}

// ProjectAll projects each row; the result plugs into gonum plotters.
func (q *PCA) ProjectAll(rows [][]float32) plotter.XYs {
	out := make(plotter.XYs, len(rows))
	for i, r := range rows {
		out[i].X, out[i].Y = q.Project(r)
	}
	return out
}

// checkDims reports whether w rows fit this PCA, as an error for plotting helpers.
func (q *PCA) checkDims(rows [][]float32) error {
	if q == nil || len(q.Mean) == 0 {
		return fmt.Errorf("plot: nil or empty PCA")
	}
	for i, r := range rows {
		if len(r) != len(q.Mean) {
			return fmt.Errorf("plot: row %d has %d weights, PCA has P=%d", i, len(r), len(q.Mean))
		}
	}
	return nil
}

func relChange(a, b float64) float64 {
	d := math.Abs(a - b)
	if s := math.Max(math.Abs(a), math.Abs(b)); s > 0 {
		return d / s
	}
	return d
}

// centred is the implicit matrix A = rows − mean, streamed without a copy of the data.
// The two big products run in float32 (the data's own precision, twice the SIMD width of
// float64) over column chunks whose partial sums are accumulated in float64, which keeps the
// Ritz values to ~1e-6 relative: far below what a figure shows. The total variance, mean and
// all small linear algebra are float64.
type centred struct {
	rows   [][]float32
	mean   []float64
	mean32 []float32
}

func newCentred(rows [][]float32, mean []float64) centred {
	m32 := make([]float32, len(mean))
	for j, v := range mean {
		m32[j] = float32(v)
	}
	return centred{rows: rows, mean: mean, mean32: m32}
}

// row32 writes columns [j0, j1) of centred row i into dst.
func (a centred) row32(dst []float32, i, j0, j1 int) {
	r := a.rows[i][j0:j1]
	m := a.mean32[j0:j1]
	for j, v := range r {
		dst[j] = v - m[j]
	}
}

func (a centred) totalVariance() float64 {
	p := len(a.mean)
	parts := make([]float64, len(a.rows))
	parallel(len(a.rows), len(a.rows)*p, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			var s float64
			for j, v := range a.rows[i] {
				d := float64(v) - a.mean[j]
				s += d * d
			}
			parts[i] = s
		}
	})
	return floats.Sum(parts) // summed in row order: independent of the worker count
}

// pcaChunk is the column block of the streaming products: 8 basis vectors × 2048 float32
// stay in L2 cache while every row streams past, instead of re-reading the whole [b, P] basis
// from memory for each row. It is a constant so that sums never depend on the machine.
const pcaChunk = 2048

func vec32(x []float32) blas32.Vector { return blas32.Vector{N: len(x), Inc: 1, Data: x} }

func to32(v [][]float64) [][]float32 {
	out := make([][]float32, len(v))
	for c, x := range v {
		out[c] = make([]float32, len(x))
		for j, f := range x {
			out[c][j] = float32(f)
		}
	}
	return out
}

// mulZ sets yt[c][i] = <A_i, zt[c]>. Workers own rows, and each dot product is summed chunk
// by chunk in column order, so results do not depend on how rows are split.
func (a centred) mulZ(yt, zt [][]float64) {
	p := len(a.mean)
	z32 := to32(zt)
	parallel(len(a.rows), len(a.rows)*p*len(zt), func(i0, i1 int) {
		buf := make([]float32, pcaChunk)
		for c := range yt {
			clear(yt[c][i0:i1])
		}
		for j0 := 0; j0 < p; j0 += pcaChunk {
			j1 := min(j0+pcaChunk, p)
			b := vec32(buf[:j1-j0])
			for i := i0; i < i1; i++ {
				a.row32(b.Data, i, j0, j1)
				for c, z := range z32 {
					yt[c][i] += float64(blas32.Dot(b, vec32(z[j0:j1])))
				}
			}
		}
	})
}

// mulTQ sets zt[c] = Σ_i qt[c][i] A_i. Workers own column chunks and add rows in order (in
// float32 within a chunk of rows, then in float64), so every entry is summed the same way
// however the columns are split.
func (a centred) mulTQ(zt, qt [][]float64) {
	p := len(a.mean)
	q32 := to32(qt)
	chunks := (p + pcaChunk - 1) / pcaChunk
	const rowBlock = 64 // rows summed in float32 before flushing into float64
	parallel(chunks, len(a.rows)*p*len(zt), func(k0, k1 int) {
		buf := make([]float32, pcaChunk)
		acc := make([][]float32, len(zt))
		for c := range acc {
			acc[c] = make([]float32, pcaChunk)
		}
		for j0 := k0 * pcaChunk; j0 < min(k1*pcaChunk, p); j0 += pcaChunk {
			j1 := min(j0+pcaChunk, p)
			w := j1 - j0
			b := vec32(buf[:w])
			for c := range zt {
				clear(zt[c][j0:j1])
			}
			for r0 := 0; r0 < len(a.rows); r0 += rowBlock {
				for c := range acc {
					clear(acc[c][:w])
				}
				for i := r0; i < min(r0+rowBlock, len(a.rows)); i++ {
					a.row32(b.Data, i, j0, j1)
					for c := range acc {
						if s := q32[c][i]; s != 0 {
							blas32.Axpy(s, b, vec32(acc[c][:w]))
						}
					}
				}
				for c := range zt {
					dst := zt[c][j0:j1]
					for j, v := range acc[c][:w] {
						dst[j] += float64(v)
					}
				}
			}
		}
	})
}

// parallel runs f over [0, n) split into contiguous chunks, one per CPU, when the work is big
// enough to pay for goroutines.
func parallel(n, work int, f func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if work < 1<<18 || w < 2 || n < 2 {
		f(0, n)
		return
	}
	w = min(w, n)
	var wg sync.WaitGroup
	for t := 0; t < w; t++ {
		lo, hi := t*n/w, (t+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
