package align

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// MethodWeightMatching is the name recorded in traj.Alignment.Method.
const MethodWeightMatching = "weight-matching"

// Options say what a zoo is aligned towards and how hard the matching tries.
type Options struct {
	// Reference is the run whose net the others are matched to in the first pass (default 0).
	Reference int
	// Checkpoint is the checkpoint the permutations are chosen on (default −1: the last, where
	// the runs have structure to match; inits are i.i.d. and any order fits them equally).
	Checkpoint int
	// Rounds of re-matching every run towards the mean of the aligned nets after the first pass
	// (default 3; NoRounds: none). The mean sits in the middle of the basin, so it is a steadier
	// target than one run; rounds stop early when no permutation changes.
	Rounds int
	// MaxSweeps bounds the coordinate descent over layers for one net (default 100).
	MaxSweeps int
	// Seed orders the layers visited in each sweep.
	Seed uint64
}

// NoRounds in Options.Rounds aligns to the reference run only.
const NoRounds = -1

func (o Options) withDefaults() Options {
	if o.Checkpoint == 0 {
		o.Checkpoint = -1
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if o.MaxSweeps == 0 {
		o.MaxSweeps = 100
	}
	return o
}

// Perm holds one permutation per permutable hidden layer, in layer order: Perm[g][i] is the
// index of the unit of group g that moves to place i.
type Perm [][]int

// Report says what alignment did to a zoo.
type Report struct {
	// Moved is the fraction of hidden units, over all runs, that changed place.
	Moved float64
	// Rounds is the number of rounds towards the mean that were run (≤ Options.Rounds).
	Rounds int
	// DistBefore and DistAfter are the mean Euclidean distances of the matched checkpoint to the
	// mean of the matched checkpoints, before and after alignment: alignment shrinks the zoo.
	DistBefore, DistAfter float64
}

// layer is one weight/bias pair: weight rows are the layer's out units, each row holds in units
// of block scalars (a conv kernel's k·k, or a flattened feature map's H·W after the last conv).
type layer struct {
	w, b           arch.Segment
	out, in, block int
}

// plan lists the layers of an architecture; the outputs of every layer but the last are
// permutable (ReLU commutes with permutations, and so do the CNN's mean pooling and flattening).
type plan struct {
	layers []layer
	p      int
}

func newPlan(spec arch.Spec) (plan, error) {
	net, err := arch.New(spec)
	if err != nil {
		return plan{}, fmt.Errorf("align: %w", err)
	}
	lay := net.Layout()
	var names []string
	for i := range spec.Channels {
		if spec.Kind == "cnn" {
			names = append(names, fmt.Sprintf("conv%d", i+1))
		}
	}
	for i := range len(spec.Hidden) + 1 {
		names = append(names, fmt.Sprintf("fc%d", i+1))
	}
	pl := plan{p: lay.Size()}
	prevOut := 0
	for i, n := range names {
		w, okW := lay.Segment(n + ".weight")
		b, okB := lay.Segment(n + ".bias")
		if !okW || !okB {
			return plan{}, fmt.Errorf("align: architecture %s has no %s.weight/%s.bias in its layout", spec, n, n)
		}
		out := w.Shape[0]
		rest := w.Size() / out
		l := layer{w: w, b: b, out: out, in: rest, block: 1}
		if i > 0 {
			if rest%prevOut != 0 {
				return plan{}, fmt.Errorf("align: %s has %d inputs per unit, not a multiple of the %d units before it", n, rest, prevOut)
			}
			l.in, l.block = prevOut, rest/prevOut
		}
		pl.layers = append(pl.layers, l)
		prevOut = out
	}
	covered := 0 // apply writes only the layers' tensors: they must be the whole net
	for _, l := range pl.layers {
		covered += l.w.Size() + l.b.Size()
	}
	if covered != pl.p {
		return plan{}, fmt.Errorf("align: the layers of %s cover %d of its %d parameters", spec, covered, pl.p)
	}
	return pl, nil
}

func (pl plan) groups() int { return len(pl.layers) - 1 }

func (pl plan) identity() Perm {
	out := make(Perm, pl.groups())
	for g := range out {
		out[g] = identityPerm(pl.layers[g].out)
	}
	return out
}

func identityPerm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// inPerm is the permutation of layer g's input units (identity for the first layer).
func (pl plan) inPerm(perm Perm, g int) []int {
	if g == 0 || perm == nil {
		return nil
	}
	return perm[g-1]
}

// outPerm is the permutation of layer g's output units (identity for the last layer).
func (pl plan) outPerm(perm Perm, g int) []int {
	if g >= len(perm) { // the last layer, or perm nil (identity)
		return nil
	}
	return perm[g]
}

func at(p []int, i int) int {
	if p == nil {
		return i
	}
	return p[i]
}

// features writes, for every unit of group g, the scalars that move with it — its incoming
// weights (with the previous group permuted by perm), its bias, and its outgoing weights (with
// the next group permuted by perm) — as the rows of an [n, D] matrix.
func (pl plan) features(x []float32, perm Perm, g int) *mat.Dense {
	cur, next := pl.layers[g], pl.layers[g+1]
	pin, pnext := pl.inPerm(perm, g), pl.outPerm(perm, g+1)
	d := cur.in*cur.block + 1 + next.out*next.block
	f := mat.NewDense(cur.out, d, nil)
	raw := f.RawMatrix()
	wc := x[cur.w.Offset : cur.w.Offset+cur.w.Size()]
	wn := x[next.w.Offset : next.w.Offset+next.w.Size()]
	for i := range cur.out {
		row := raw.Data[i*raw.Stride : i*raw.Stride+d]
		k := 0
		for u := range cur.in {
			src := wc[i*cur.in*cur.block+at(pin, u)*cur.block:]
			for b := range cur.block {
				row[k] = float64(src[b])
				k++
			}
		}
		row[k] = float64(x[cur.b.Offset+i])
		k++
		for o := range next.out {
			src := wn[at(pnext, o)*next.in*next.block+i*next.block:]
			for b := range next.block {
				row[k] = float64(src[b])
				k++
			}
		}
	}
	return f
}

// match finds the permutations of x's hidden units that maximize Σ_g ⟨ref_g, P(x)_g⟩ by
// coordinate descent over the groups (Ainsworth et al. 2023, weight matching), starting from
// start (nil: identity). It returns the permutations and whether any differs from start.
func (pl plan) match(ref, x []float32, start Perm, maxSweeps int, rng *rand.Rand) (Perm, bool) {
	perm := pl.identity()
	if start != nil {
		for g := range perm {
			copy(perm[g], start[g])
		}
	}
	changed := false
	order := identityPerm(pl.groups())
	var c mat.Dense
	refFeatures := make([]*mat.Dense, pl.groups()) // the reference never moves: built once per group
	for range maxSweeps {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		progress := false
		for _, g := range order {
			// Features of the reference with its own (identity) order, of x with every other
			// group already permuted; x's own units stay in their original order as columns.
			if refFeatures[g] == nil {
				refFeatures[g] = pl.features(ref, nil, g)
			}
			fr := refFeatures[g]
			fx := pl.features(x, perm, g) // reads perm of the neighbours only
			old := perm[g]
			c.Reset()
			c.Mul(fr, fx.T())
			n := pl.layers[g].out
			cost := make([][]float64, n)
			for i := range n {
				cost[i] = make([]float64, n)
				for j := range n {
					cost[i][j] = -c.At(i, j)
				}
			}
			assign, _ := Assignment(cost)
			if gain(c, assign)-gain(c, old) > 1e-12*(1+math.Abs(gain(c, old))) {
				perm[g] = assign
				progress, changed = true, true
			}
		}
		if !progress {
			break
		}
	}
	return perm, changed
}

func gain(c mat.Dense, p []int) float64 {
	var s float64
	for i, j := range p {
		s += c.At(i, j)
	}
	return s
}

// apply writes x with its hidden units permuted by perm into dst (len P).
func (pl plan) apply(dst, x []float32, perm Perm) {
	for g, l := range pl.layers {
		pin, pout := pl.inPerm(perm, g), pl.outPerm(perm, g)
		w := x[l.w.Offset : l.w.Offset+l.w.Size()]
		dw := dst[l.w.Offset : l.w.Offset+l.w.Size()]
		rowLen := l.in * l.block
		for i := range l.out {
			src := w[at(pout, i)*rowLen:]
			row := dw[i*rowLen : (i+1)*rowLen]
			for u := range l.in {
				copy(row[u*l.block:(u+1)*l.block], src[at(pin, u)*l.block:at(pin, u)*l.block+l.block])
			}
			dst[l.b.Offset+i] = x[l.b.Offset+at(pout, i)]
		}
	}
}

// Match returns the permutations of x's hidden units that bring it closest to ref (weight
// matching, iterated to a fixed point). Both are flat nets of spec's layout.
func Match(spec arch.Spec, ref, x []float32, seed uint64) (Perm, error) {
	pl, err := newPlan(spec)
	if err != nil {
		return nil, err
	}
	if len(ref) != pl.p || len(x) != pl.p {
		return nil, fmt.Errorf("align: nets of %s have %d parameters, got %d and %d", spec, pl.p, len(ref), len(x))
	}
	perm, _ := pl.match(ref, x, nil, Options{}.withDefaults().MaxSweeps, rand.New(rand.NewPCG(seed, 0x616c69676e)))
	return perm, nil
}

// Apply returns a copy of x with its hidden units permuted by perm; the net computes the same
// function.
func Apply(spec arch.Spec, perm Perm, x []float32) ([]float32, error) {
	pl, err := newPlan(spec)
	if err != nil {
		return nil, err
	}
	if len(x) != pl.p {
		return nil, fmt.Errorf("align: nets of %s have %d parameters, got %d", spec, pl.p, len(x))
	}
	if len(perm) != pl.groups() {
		return nil, fmt.Errorf("align: %s has %d permutable layers, perm has %d", spec, pl.groups(), len(perm))
	}
	for g, p := range perm {
		if !isPerm(p, pl.layers[g].out) {
			return nil, fmt.Errorf("align: perm of layer %d is not a permutation of %d units", g, pl.layers[g].out)
		}
	}
	out := make([]float32, pl.p)
	pl.apply(out, x, perm)
	return out, nil
}

func isPerm(p []int, n int) bool {
	if len(p) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range p {
		if v < 0 || v >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// Nets aligns each of n flat nets (nets is [n, P] row-major) to the reference net ref and returns
// the aligned copy: what eval uses to compare any set of nets with a zoo in one space.
func Nets(spec arch.Spec, ref []float32, nets []float32, n int) ([]float32, error) {
	pl, err := newPlan(spec)
	if err != nil {
		return nil, err
	}
	if len(ref) != pl.p || n < 0 || len(nets) != n*pl.p {
		return nil, fmt.Errorf("align: want a reference of %d parameters and %d×%d nets, got %d and %d values", pl.p, n, pl.p, len(ref), len(nets))
	}
	out := make([]float32, len(nets))
	parallel(n, func(i int) {
		x := nets[i*pl.p : (i+1)*pl.p]
		perm, _ := pl.match(ref, x, nil, Options{}.withDefaults().MaxSweeps, rand.New(rand.NewPCG(uint64(i), 0x616c69676e)))
		pl.apply(out[i*pl.p:(i+1)*pl.p], x, perm)
	})
	return out, nil
}

// Zoo returns an aligned copy of z: each run's hidden units are permuted (one permutation per
// run, applied to every checkpoint) towards the reference run and then towards the mean of the
// aligned runs, on checkpoint opt.Checkpoint. Weights change place, functions do not; metrics are
// copied. The copy's Meta.Aligned records what was done.
func Zoo(z *traj.Zoo, opt Options) (*traj.Zoo, Report, error) {
	opt = opt.withDefaults()
	if err := z.Check(); err != nil {
		return nil, Report{}, err
	}
	pl, err := newPlan(z.Meta.Arch)
	if err != nil {
		return nil, Report{}, err
	}
	if pl.p != z.Params {
		return nil, Report{}, fmt.Errorf("align: zoo's architecture %s has %d parameters, its weights %d", z.Meta.Arch, pl.p, z.Params)
	}
	k := opt.Checkpoint
	if k < 0 {
		k += z.Checkpoints
	}
	if k < 0 || k >= z.Checkpoints {
		return nil, Report{}, fmt.Errorf("align: checkpoint %d out of range (the zoo has %d)", opt.Checkpoint, z.Checkpoints)
	}
	if opt.Reference < 0 || opt.Reference >= z.Runs {
		return nil, Report{}, fmt.Errorf("align: reference run %d out of range (the zoo has %d runs)", opt.Reference, z.Runs)
	}
	R := z.Runs
	perms := make([]Perm, R)
	match := func(ref []float32, round int) bool {
		var mu sync.Mutex
		any := false
		parallel(R, func(r int) {
			rng := rand.New(rand.NewPCG(opt.Seed, uint64(round)<<32|uint64(r)))
			p, changed := pl.match(ref, z.At(r, k), perms[r], opt.MaxSweeps, rng)
			perms[r] = p
			if changed {
				mu.Lock()
				any = true
				mu.Unlock()
			}
		})
		return any
	}
	match(z.At(opt.Reference, k), 0)
	rep := Report{}
	aligned := make([]float32, R*pl.p)
	fill := func() {
		for r := range R {
			pl.apply(aligned[r*pl.p:(r+1)*pl.p], z.At(r, k), perms[r])
		}
	}
	fill()
	for round := 1; round <= opt.Rounds; round++ {
		rep.Rounds = round
		if !match(meanRows(aligned, R, pl.p), round) {
			break
		}
		fill()
	}
	rep.DistBefore = meanDist(z.Checkpoint(k), R, pl.p)
	rep.DistAfter = meanDist(aligned, R, pl.p)

	out := &traj.Zoo{Meta: z.Meta, Runs: R, Checkpoints: z.Checkpoints, Params: z.Params,
		Weights: make([]float32, len(z.Weights)), Steps: slices.Clone(z.Steps), Metrics: map[string][]float32{}}
	for name, m := range z.Metrics {
		out.Metrics[name] = slices.Clone(m)
	}
	moved, units := 0, 0
	for r := range R {
		for kk := range z.Checkpoints {
			off := (r*z.Checkpoints + kk) * pl.p
			pl.apply(out.Weights[off:off+pl.p], z.At(r, kk), perms[r])
		}
		for _, p := range perms[r] {
			for i, j := range p {
				if i != j {
					moved++
				}
				units++
			}
		}
	}
	if units > 0 {
		rep.Moved = float64(moved) / float64(units)
	}
	ref := fmt.Sprintf("run %d", opt.Reference)
	if opt.Rounds > 0 {
		ref = "mean"
	}
	out.Meta.Aligned = &traj.Alignment{Method: MethodWeightMatching, Reference: ref, Checkpoint: k,
		Rounds: rep.Rounds, Seed: opt.Seed, Moved: rep.Moved}
	return out, rep, nil
}

func meanRows(x []float32, n, p int) []float32 {
	sum := make([]float64, p)
	for i := range n {
		for j, v := range x[i*p : (i+1)*p] {
			sum[j] += float64(v)
		}
	}
	out := make([]float32, p)
	for j := range out {
		out[j] = float32(sum[j] / float64(n))
	}
	return out
}

func meanDist(x []float32, n, p int) float64 {
	mu := meanRows(x, n, p)
	var tot float64
	for i := range n {
		var s float64
		for j, v := range x[i*p : (i+1)*p] {
			d := float64(v - mu[j])
			s += d * d
		}
		tot += math.Sqrt(s)
	}
	return tot / float64(n)
}

// parallel runs f(0..n-1) on every core; f must only write its own index's data.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
