package gemm

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Register-block and cache-block sizes. The 6×16 micro-tile keeps 12 AVX2 accumulators; a
// kc×16 panel of B (24 KiB) stays near L1 while the kernel sweeps mc rows of A (144 KiB, L2).
// kc = 384 against 256: 1024³ at 115–148 GFLOP/s against 97–111 in alternating runs on a 2-core
// Zen 3 VM (noisy; 512 was slower than both).
const (
	mr = 6
	nr = 16
	kc = 384
	mc = 96
	nc = 1024 // columns of a packed B block (1.5 MiB)
)

// Mul computes C = A·B for row-major float32 matrices. A is m×k with row stride lda; B is k×n
// with row stride ldb, or, when bT is true, B is given transposed (n×k, row stride ldb); C is m×n
// with row stride ldc and is overwritten. It uses every core (GOMAXPROCS) for large products.
func Mul(m, n, k int, a []float32, lda int, b []float32, ldb int, bT bool, c []float32, ldc int) {
	MulBatch(1, m, n, k, a, b, bT, c, lda, ldb, ldc, 0, 0, 0)
}

// MulBatch runs batch products C[i] = A[i]·B[i] with the layout of Mul, the i-th operands
// starting at i·aStride, i·bStride and i·cStride (a stride of 0 shares the operand). Operands too
// short for their sizes and strides panic with what was expected: the kernel reads through
// pointers, so nothing is read or written out of bounds.
func MulBatch(batch, m, n, k int, a, b []float32, bT bool, c []float32, lda, ldb, ldc, aStride, bStride, cStride int) {
	if batch <= 0 || m <= 0 || n <= 0 {
		return
	}
	if aStride < 0 || bStride < 0 || cStride < 0 {
		panic(fmt.Errorf("gemm: negative batch stride (%d, %d, %d)", aStride, bStride, cStride))
	}
	last := batch - 1 // the last product's operands are the furthest out
	if err := check(m, n, k, tail(a, last*aStride), lda, tail(b, last*bStride), ldb, bT, tail(c, last*cStride), ldc); err != nil {
		panic(err)
	}
	if k <= 0 {
		for i := range batch {
			for r := range m {
				clear(c[i*cStride+r*ldc : i*cStride+r*ldc+n])
			}
		}
		return
	}
	// A·Bᵀ with few rows of A: packing B (n×k, gathered across its rows) costs about as much as
	// the product (a zoo step's 32×B×784: pack 40% of the kernel's time); Cᵀ = B·Aᵀ reads B in
	// place and packs only A.
	cT := false
	if bT && m < packMin && n > m {
		m, n, a, b, lda, ldb, aStride, bStride, cT = n, m, b, a, ldb, lda, bStride, aStride, true
	}
	workers := runtime.GOMAXPROCS(0)
	// Below ~1 MFLOP a goroutine hand-off costs more than it saves. Above, the product is cut in
	// twice as many parts as cores, which the goroutines claim as they come: a core that wakes
	// late (tens of microseconds on a busy VM) leaves its parts to the others instead of holding
	// up the product (a small fit step's 0.1–0.5 ms products ran slower on two cores than on one).
	parts := 1
	if flops := 2 * batch * m * n * k; flops >= 1<<20 && workers > 1 {
		parts = 2 * workers
	}
	type job struct{ b0, b1, r0, r1, c0, c1 int }
	var jobs []job
	switch {
	case parts == 1:
		jobs = []job{{0, batch, 0, m, 0, n}}
	case batch >= parts:
		for w := range parts {
			jobs = append(jobs, job{batch * w / parts, batch * (w + 1) / parts, 0, m, 0, n})
		}
	case n >= 2*nr*parts:
		panels := (n + nr - 1) / nr
		for i := range batch {
			for w := range parts {
				jobs = append(jobs, job{i, i + 1, 0, m, min(n, panels*w/parts*nr), min(n, panels*(w+1)/parts*nr)})
			}
		}
	default:
		tiles := (m + mr - 1) / mr
		for i := range batch {
			for w := range parts {
				jobs = append(jobs, job{i, i + 1, min(m, tiles*w/parts*mr), min(m, tiles*(w+1)/parts*mr), 0, n})
			}
		}
	}
	jobs = slices.DeleteFunc(jobs, func(j job) bool { return j.r0 >= j.r1 || j.c0 >= j.c1 })
	run := func(s *scratch, j job) {
		for i := j.b0; i < j.b1; i++ {
			cOff := i*cStride + j.r0*ldc + j.c0
			if cT {
				cOff = i*cStride + j.c0*ldc + j.r0
			}
			block(s, j.r1-j.r0, j.c1-j.c0, k,
				a[i*aStride+j.r0*lda:], lda,
				b[i*bStride:], ldb, bT, j.c0,
				c[cOff:], ldc, cT)
		}
	}
	if len(jobs) == 1 {
		s := scratchPool.Get().(*scratch)
		run(s, jobs[0])
		scratchPool.Put(s)
		return
	}
	// Each part is computed by whichever goroutine claims it; this call returns when every part
	// is done, without waiting for helpers that found nothing left to claim.
	var next, done atomic.Int64
	finished := make(chan struct{})
	claim := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(jobs) {
				return
			}
			// The scratch goes back before the part counts as done: when the call returns,
			// no helper holds one (a late helper never takes one).
			s := scratchPool.Get().(*scratch)
			run(s, jobs[i])
			scratchPool.Put(s)
			if int(done.Add(1)) == len(jobs) {
				close(finished)
			}
		}
	}
	for range min(workers, len(jobs)) - 1 {
		go claim()
	}
	claim()
	<-finished
}

// scratch holds one worker's packed blocks and an edge tile.
type scratch struct {
	packedB []float32 // kc × nc, panel-major: panel j holds kc rows of 16 columns
	packedA []float32 // mc × kc, panel-major: panel i holds kc columns of 6 rows
	tile    [mr * nr]float32
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{packedB: make([]float32, kc*nc), packedA: make([]float32, mc*kc)}
}}

// packMin is the number of rows from which B blocks and A blocks are packed: below it the copy
// costs more than the contiguous reads save (measured: 64×25,450×512 runs 90 GFLOP/s in place,
// 54 packed; 1024³ runs 99 in place, 131 packed).
const packMin = 2 * mc

// block computes C[0:m, 0:n] = A[0:m, :]·B[:, c0:c0+n] on one goroutine; b is the whole B (columns
// are offset by c0), a and c start at the block's first row and column. With cT it stores Cᵀ:
// element (i, j) at c[j·ldc+i].
func block(s *scratch, m, n, k int, a []float32, lda int, b []float32, ldb int, bT bool, c0 int, c []float32, ldc int, cT bool) {
	var rows [mr]unsafe.Pointer
	packed := m >= packMin
	for jc := 0; jc < n; jc += nc {
		ncur := min(nc, n-jc)
		panels := (ncur + nr - 1) / nr
		// A block is packed only when many B panels reuse it (10,000×32×784: 79 GFLOP/s in
		// place, 32 packed).
		packedA := packed && panels >= 8
		for pc := 0; pc < k; pc += kc {
			kcur := min(kc, k-pc)
			acc := 0
			if pc > 0 {
				acc = 1
			}
			// Panels of B: read in place when B is row-major, the panel full width and A short,
			// otherwise packed (zero-padded to 16 columns).
			for jp := range panels {
				w := min(nr, ncur-jp*nr)
				if packed || bT || w < nr {
					pack(s.packedB[jp*kc*nr:], kcur, w, b, ldb, bT, pc, c0+jc+jp*nr)
				}
			}
			for ic := 0; ic < m; ic += mc {
				mcur := min(mc, m-ic)
				if packedA {
					packA(s.packedA, mcur, kcur, a[ic*lda+pc:], lda)
				}
				for jp := range panels {
					col := jc + jp*nr
					w := min(nr, ncur-jp*nr)
					var bp unsafe.Pointer
					ldbBytes := nr * 4
					if packed || bT || w < nr {
						bp = unsafe.Pointer(&s.packedB[jp*kc*nr])
					} else {
						bp = unsafe.Pointer(&b[pc*ldb+c0+col])
						ldbBytes = ldb * 4
					}
					for ir := 0; ir < mcur; ir += mr {
						h := min(mr, mcur-ir)
						astep := 4
						if packedA {
							astep = mr * 4
							for r := range mr {
								rows[r] = unsafe.Pointer(&s.packedA[ir*kcur+r])
							}
						} else {
							for r := range mr {
								rows[r] = unsafe.Pointer(&a[(ic+ir+min(r, h-1))*lda+pc])
							}
						}
						if h == mr && w == nr && !cT {
							kernel(kcur, &rows, astep, bp, ldbBytes, unsafe.Pointer(&c[(ic+ir)*ldc+col]), ldc*4, acc)
							continue
						}
						kernel(kcur, &rows, astep, bp, ldbBytes, unsafe.Pointer(&s.tile[0]), nr*4, 0)
						if cT {
							for r := range h {
								for jj, v := range s.tile[r*nr : r*nr+w] {
									i := (col+jj)*ldc + ic + ir + r
									if acc == 0 {
										c[i] = v
									} else {
										c[i] += v
									}
								}
							}
							continue
						}
						for r := range h {
							dst := c[(ic+ir+r)*ldc+col : (ic+ir+r)*ldc+col+w]
							src := s.tile[r*nr : r*nr+w]
							if acc == 0 {
								copy(dst, src)
							} else {
								for i, v := range src {
									dst[i] += v
								}
							}
						}
					}
				}
			}
		}
	}
}

// packA copies A[0:mcur, 0:kcur] into dst as panels of 6 rows, column-interleaved (element (r, p)
// of panel i at i·6·kcur + p·6 + r); rows past mcur are zero.
func packA(dst []float32, mcur, kcur int, a []float32, lda int) {
	for ir := 0; ir < mcur; ir += mr {
		panel := dst[ir*kcur : ir*kcur+mr*kcur]
		for r := range mr {
			if ir+r >= mcur {
				for p := range kcur {
					panel[p*mr+r] = 0
				}
				continue
			}
			src := a[(ir+r)*lda : (ir+r)*lda+kcur]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
	}
}

// pack copies B[pc:pc+kcur, col:col+w] into dst as kcur rows of 16 floats, zero-padding w < 16.
func pack(dst []float32, kcur, w int, b []float32, ldb int, bT bool, pc, col int) {
	dst = dst[:kcur*nr]
	if bT {
		// B^T is n×k: column j of B is row j of b.
		for j := range w {
			src := b[(col+j)*ldb+pc : (col+j)*ldb+pc+kcur]
			for p, v := range src {
				dst[p*nr+j] = v
			}
		}
		if w < nr {
			for p := range kcur {
				clear(dst[p*nr+w : p*nr+nr])
			}
		}
		return
	}
	for p := range kcur {
		row := dst[p*nr : p*nr+nr]
		copy(row, b[(pc+p)*ldb+col:(pc+p)*ldb+col+w])
		clear(row[w:])
	}
}

// kernGo is kern6x16 in plain Go: the reference the assembly is tested against, and the kernel
// on machines without AVX2.
func kernGo(k int, rows *[mr]unsafe.Pointer, astep int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int) {
	var t [mr][nr]float32
	for p := range k {
		brow := (*[nr]float32)(unsafe.Add(b, p*ldb))
		for r := range mr {
			av := *(*float32)(unsafe.Add(rows[r], p*astep))
			for j := range nr {
				t[r][j] += av * brow[j]
			}
		}
	}
	for r := range mr {
		crow := (*[nr]float32)(unsafe.Add(c, r*ldc))
		for j := range nr {
			if acc != 0 {
				crow[j] += t[r][j]
			} else {
				crow[j] = t[r][j]
			}
		}
	}
}

// tail is s[off:], or nil when s is shorter than off (check then reports the operand).
func tail(s []float32, off int) []float32 {
	if off > len(s) {
		return nil
	}
	return s[off:]
}

// check validates Mul's arguments, so that a wrong stride is an error rather than a silent
// read of another row.
func check(m, n, k int, a []float32, lda int, b []float32, ldb int, bT bool, c []float32, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative size m=%d n=%d k=%d", m, n, k)
	}
	bRows, bCols := k, n
	if bT {
		bRows, bCols = n, k
	}
	for _, o := range []struct {
		name           string
		data           []float32
		rows, cols, ld int
	}{{"A", a, m, k, lda}, {"B", b, bRows, bCols, ldb}, {"C", c, m, n, ldc}} {
		if o.rows == 0 || o.cols == 0 {
			continue
		}
		if o.ld < o.cols {
			return fmt.Errorf("gemm: %s's row stride %d is below its %d columns", o.name, o.ld, o.cols)
		}
		if need := (o.rows-1)*o.ld + o.cols; len(o.data) < need {
			return fmt.Errorf("gemm: %s holds %d floats, a %d×%d matrix with row stride %d needs %d", o.name, len(o.data), o.rows, o.cols, o.ld, need)
		}
	}
	return nil
}

// Fast reports whether the AVX2/FMA assembly kernel runs on this machine; without it Mul is
// correct but runs a plain-Go kernel, slower than GoMLX's own.
func Fast() bool { return fast }
