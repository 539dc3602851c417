package detect

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// Config sets how CDCs are trained and how trials are tested. The zero value of every field
// means its documented default.
type Config struct {
	// Ensemble is the maximum number of CDCs per trial (default 5).
	Ensemble int `json:"ensemble"`
	// Epochs is the number of passes over P-train per CDC (default 5, Detectron's
	// max_epochs_per_model); an epoch is ⌊|P-train|/BatchSize⌋ steps.
	Epochs int `json:"epochs"`
	// Steps, when > 0, fixes the number of Adam steps per CDC instead of Epochs (a budget that
	// does not grow with |P-train|).
	Steps int `json:"steps,omitempty"`
	// BatchSize is the number of P examples per step (default 128, at most the P-train size);
	// every step also holds all of the trial's remaining Q, as in the reference code (whose
	// batches of 512 hold 512−|Q| P examples on a 50,000-image P-train).
	BatchSize int `json:"batch_size"`
	// LR is Adam's learning rate (default 1e-3, Detectron's).
	LR float64 `json:"lr"`
	// Lambda, when > 0, fixes the weight λ of the Q term of ℓ_cdc (CDCLoss: mean over the P
	// batch + λ·mean over Q). 0 is Detectron's weighting (QWeight): each Q point counts
	// 1/(nb·|Q|+1) of a P example, nb the steps per epoch and |Q| the points still in Q, so all of
	// Q, seen nb times an epoch, weighs less than one P example (the paper's λ = 1/(|Q|+1) per
	// pass over P ∪ Q).
	Lambda float64 `json:"lambda"`
	// Patience stops a trial's ensemble after this many CDCs in a row that reject nothing new
	// (default 2, Detectron's; negative: never stop early).
	Patience int `json:"patience"`
	// Models is the number of trials trained at once by one compiled step (default 32); the last
	// group is padded so the step never recompiles.
	Models int `json:"models"`
	// Alpha is the false-positive rate bound of the reported TPR (default 0.05).
	Alpha float64 `json:"alpha"`
	// Seed drives the Q draws and the minibatch orders.
	Seed uint64 `json:"seed"`
}

// Defaults fills unset fields and validates the rest.
func (c Config) Defaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Ensemble, 5)
	def(&c.Epochs, 5)
	def(&c.BatchSize, 128)
	def(&c.Models, 32)
	def(&c.Patience, 2)
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	switch {
	case c.Ensemble < 1 || c.Epochs < 1 || c.BatchSize < 1 || c.Models < 1:
		return c, fmt.Errorf("detect: ensemble, epochs, batch size and models must be ≥ 1 (got %d, %d, %d, %d)", c.Ensemble, c.Epochs, c.BatchSize, c.Models)
	case c.Steps < 0:
		return c, fmt.Errorf("detect: steps must be ≥ 0 (0: Epochs passes over P-train), got %d", c.Steps)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return c, fmt.Errorf("detect: learning rate must be a positive number, got %v", c.LR)
	case c.Lambda < 0 || math.IsNaN(c.Lambda) || math.IsInf(c.Lambda, 0):
		return c, fmt.Errorf("detect: lambda must be ≥ 0 (0: Detectron's weighting, QWeight), got %v", c.Lambda)
	case !(c.Alpha > 0 && c.Alpha < 1):
		return c, fmt.Errorf("detect: alpha must be in (0,1), got %v", c.Alpha)
	}
	return c, nil
}

// StepsPerCDC is the number of Adam steps each CDC takes on a P-train of trainN examples:
// Steps if set, else Epochs·⌊trainN/BatchSize⌋ (at least one step per epoch).
func (c Config) StepsPerCDC(trainN int) int {
	if c.Steps > 0 {
		return c.Steps
	}
	return c.Epochs * max(trainN/min(c.BatchSize, max(trainN, 1)), 1)
}

// QWeight is λ of CDCLoss for a CDC trained while `kept` points remain in Q: Lambda if set,
// else Detectron's weighting. The reference code weights each Q point's DCE by
// α = 1/(nb·kept+1) inside a batch mean over P and Q (nb the steps per epoch); CDCLoss averages
// the P batch and Q separately, so the same weights are λ = α·kept/B. (Both losses then differ
// by the constant factor (B+kept)/B, to which Adam is invariant.)
func (c Config) QWeight(kept, trainN int) float64 {
	if c.Lambda > 0 {
		return c.Lambda
	}
	b := min(c.BatchSize, max(trainN, 1))
	nb := max(trainN/b, 1)
	return float64(kept) / (float64(b) * (float64(nb*kept) + 1))
}

// trial is one test: a Q set drawn from the null or the alternative pool.
type trial struct {
	size  int
	alt   bool
	seed  uint64
	q     []int32 // indices into the pool
	yhat  []int   // f's labels on Q
	count []int   // |Q| kept after each CDC, starting with size
	// probs accumulates softmax outputs on the full Q of f and of each CDC, [size·C].
	probs   []float64
	members int
	stopped bool
	wait    int
	keep    []bool    // Q points still in Q
	ent     []float64 // set by meta-detectron: per Q point, the entropy of the ensemble's mean softmax
}

// engine holds the compiled graphs and device data of one detectron run.
type engine struct {
	be        compute.Backend
	base      *Base
	cfg       Config
	shape     []int // one example as the net takes it
	d, c      int
	train     *feed.Images // P-train with f's labels as Y
	pool      *feed.Images // null pool then alt pool, with f's labels as Y
	poolProbs []float64    // f's softmax on every pool example [Npool·C]
	poolYhat  []int        // f's labels on the pool
	trainYhat []int        // f's labels on P-train
	step      *Exec
	logits    *Exec
	fTiled    []float32 // f repeated for the M CDCs of a group, [M·P]
	near      []float32 // meta-detectron near f: f in the meta-model's unit order (alignedF)
}

// predict returns f's logits [n·C] on a split, in fixed chunks so the graph compiles once.
func predict(be compute.Backend, b *Base, s data.Split) ([]float32, error) {
	d := prod(b.Net.Spec().Input)
	im, err := feed.New(s, d)
	if err != nil {
		return nil, err
	}
	c := b.Net.Spec().Classes
	chunk := min(s.N, 1024)
	shape := b.Net.Spec().Input
	exec := MustNewExec(be, func(x, idx, scale, shift, params *Node) *Node {
		px := feed.Pixels(x, InsertAxes(idx, -1), scale, shift, d, b.Norm.On)
		return b.Net.Forward(params, Reshape(px, append([]int{chunk}, shape...)...))
	}).SetMaxCache(1)
	params := tensors.FromFlatDataAndDimensions(b.Params, 1, len(b.Params))
	out := make([]float32, s.N*c)
	idx := make([]int32, chunk)
	for start := 0; start < s.N; start += chunk {
		for i := range idx {
			idx[i] = int32(min(start+i, s.N-1))
		}
		res, err := exec.Exec(im.X, tensors.FromFlatDataAndDimensions(idx, chunk), b.Norm.Scale, b.Norm.Shift, params)
		if err != nil {
			return nil, fmt.Errorf("detect: predicting with f: %w", err)
		}
		l := tensors.MustCopyFlatData[float32](res[0])
		res[0].MustFinalizeAll()
		copy(out[start*c:], l[:min(chunk, s.N-start)*c])
	}
	return out, nil
}

// argmaxRows returns the argmax of each row of n×c values.
func argmaxRows(v []float32, c int) []int {
	out := make([]int, len(v)/c)
	for i := range out {
		row := v[i*c : (i+1)*c]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// softmaxRows converts n×c logits to probabilities in float64.
func softmaxRows(v []float32, c int) []float64 {
	out := make([]float64, len(v))
	for i := 0; i < len(v); i += c {
		m := math.Inf(-1)
		for _, x := range v[i : i+c] {
			m = max(m, float64(x))
		}
		var s float64
		for j, x := range v[i : i+c] {
			out[i+j] = math.Exp(float64(x) - m)
			s += out[i+j]
		}
		for j := range c {
			out[i+j] /= s
		}
	}
	return out
}

// relabel returns s with labels replaced (pixels shared).
func relabel(s data.Split, y []int) data.Split {
	return data.Split{Images: s.Images, Labels: y, N: s.N}
}

func newEngine(be compute.Backend, b *Base, cfg Config, train, pool data.Split) (*engine, error) {
	spec := b.Net.Spec()
	e := &engine{be: be, base: b, cfg: cfg, shape: spec.Input, d: prod(spec.Input), c: spec.Classes}
	trainLogits, err := predict(be, b, train)
	if err != nil {
		return nil, err
	}
	poolLogits, err := predict(be, b, pool)
	if err != nil {
		return nil, err
	}
	e.poolProbs = softmaxRows(poolLogits, e.c)
	e.poolYhat = argmaxRows(poolLogits, e.c)
	// CDCs learn f's labels, not the true ones: Y of both feeds is f's prediction.
	e.trainYhat = argmaxRows(trainLogits, e.c)
	if e.train, err = feed.New(relabel(train, e.trainYhat), e.d); err != nil {
		return nil, err
	}
	if e.pool, err = feed.New(relabel(pool, e.poolYhat), e.d); err != nil {
		return nil, err
	}
	m, p := cfg.Models, len(b.Params)
	tiled := make([]float32, m*p)
	for i := range m {
		copy(tiled[i*p:], b.Params)
	}
	e.fTiled = tiled
	e.step = MustNewExec(be, e.stepGraph).SetMaxCache(8)
	e.logits = MustNewExec(be, e.logitsGraph).SetMaxCache(8)
	return e, nil
}

// inputs gathers rows idx [M,K] of a feed as network inputs [M,K,input...].
func (e *engine) inputs(x, idx, scale, shift *Node) *Node {
	dims := idx.Shape().Dimensions
	px := feed.Pixels(x, InsertAxes(idx, -1), scale, shift, e.d, e.base.Norm.On)
	return Reshape(px, append([]int{dims[0], dims[1]}, e.shape...)...)
}

const (
	adamB1  = 0.9
	adamB2  = 0.999
	adamEps = 1e-8
)

// stepGraph is one Adam step on ℓ_cdc for M CDCs at once. Inputs: trainX, trainY, idx [M,B],
// poolX, poolY, q [M,Q], mask [M,Q], lambda [M], scale, shift, params, m1, m2 [M,P], a, b
// (Adam's bias corrections folded: p −= a·m/(√v + b)). Outputs: params, m1, m2, loss [M].
func (e *engine) stepGraph(in []*Node) []*Node {
	trainX, trainY, idx, poolX, poolY, q, mask, lambda := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	scale, shift, params, m1, m2, a, b := in[8], in[9], in[10], in[11], in[12], in[13], in[14]
	nb := idx.Shape().Dimensions[1]
	nq := q.Shape().Dimensions[1]
	x := Concatenate([]*Node{e.inputs(trainX, idx, scale, shift), e.inputs(poolX, q, scale, shift)}, 1)
	logits := e.base.Net.Forward(params, x) // [M, B+Q, C]
	yP := Gather(trainY, InsertAxes(idx, -1))
	yQ := Gather(poolY, InsertAxes(q, -1))
	loss := CDCLoss(SliceAxis(logits, 1, AxisRange(0, nb)), yP, SliceAxis(logits, 1, AxisRange(nb, nb+nq)), yQ, mask, lambda)
	// Summing over CDCs keeps each one's gradient its own.
	grad := Gradient(ReduceAllSum(loss), params)[0]
	m1 = Add(MulScalar(m1, adamB1), MulScalar(grad, 1-adamB1))
	m2 = Add(MulScalar(m2, adamB2), MulScalar(Square(grad), 1-adamB2))
	params = Sub(params, Mul(a, Div(m1, Add(Sqrt(m2), b))))
	return []*Node{params, m1, m2, loss}
}

// logitsGraph returns the logits [M,Q,C] of M nets on their Q rows of the pool.
func (e *engine) logitsGraph(poolX, q, scale, shift, params *Node) *Node {
	return e.base.Net.Forward(params, e.inputs(poolX, q, scale, shift))
}

// adamScalars returns a, b for Adam step t (1-based), PyTorch semantics.
func adamScalars(lr float64, t int) (float32, float32) {
	c1 := 1 - math.Pow(adamB1, float64(t))
	c2 := math.Sqrt(1 - math.Pow(adamB2, float64(t)))
	return float32(lr * c2 / c1), float32(adamEps * c2)
}

// runGroup trains the ensembles of up to cfg.Models trials of one Q size at once and records,
// per trial, the counts and the ensemble's softmax on Q. tick is called after every step.
func (e *engine) runGroup(group []*trial, trainN int, tick func()) error {
	m, p := e.cfg.Models, len(e.base.Params)
	nq := group[0].size
	bs := min(e.cfg.BatchSize, trainN)
	qIdx := make([]int32, m*nq)
	for i, t := range group {
		copy(qIdx[i*nq:], t.q)
	}
	qT := tensors.FromFlatDataAndDimensions(qIdx, m, nq)
	perms := make([][]int, m)
	for k := 1; k <= e.cfg.Ensemble; k++ {
		active := false
		mask := make([]float32, m*nq)
		lambda := make([]float32, m)
		for i, t := range group {
			if t.stopped {
				continue
			}
			active = true
			kept := t.count[len(t.count)-1]
			for j := range nq {
				if t.kept(j) {
					mask[i*nq+j] = 1
				}
			}
			lambda[i] = float32(e.cfg.QWeight(kept, trainN))
		}
		if !active {
			return nil
		}
		maskT := tensors.FromFlatDataAndDimensions(mask, m, nq)
		lamT := tensors.FromFlatDataAndDimensions(lambda, m)
		params := tensors.FromFlatDataAndDimensions(e.fTiled, m, p) // every CDC starts from f
		m1 := tensors.FromFlatDataAndDimensions(make([]float32, m*p), m, p)
		m2 := tensors.FromFlatDataAndDimensions(make([]float32, m*p), m, p)
		idx := make([]int32, m*bs)
		perEpoch := trainN / bs
		for s := range e.cfg.StepsPerCDC(trainN) {
			ep, off := s/perEpoch, (s%perEpoch)*bs
			for i := range m {
				if off == 0 {
					seed := uint64(0)
					if i < len(group) {
						seed = group[i].seed
					}
					perms[i] = rand.New(rand.NewPCG(seed, uint64(k)<<32|uint64(ep))).Perm(trainN)
				}
				for j := range bs {
					idx[i*bs+j] = int32(perms[i][off+j])
				}
			}
			a, b := adamScalars(e.cfg.LR, s+1)
			out, err := e.step.Exec(e.train.X, e.train.Y, tensors.FromFlatDataAndDimensions(idx, m, bs), e.pool.X, e.pool.Y,
				qT, maskT, lamT, e.base.Norm.Scale, e.base.Norm.Shift, params, m1, m2, a, b)
			if err != nil {
				return fmt.Errorf("detect: CDC training step failed: %w", err)
			}
			params.MustFinalizeAll()
			m1.MustFinalizeAll()
			m2.MustFinalizeAll()
			params, m1, m2 = out[0], out[1], out[2]
			out[3].MustFinalizeAll()
			tick()
		}
		res, err := e.logits.Exec(e.pool.X, qT, e.base.Norm.Scale, e.base.Norm.Shift, params)
		if err != nil {
			return fmt.Errorf("detect: CDC evaluation failed: %w", err)
		}
		logits := tensors.MustCopyFlatData[float32](res[0])
		res[0].MustFinalizeAll()
		params.MustFinalizeAll()
		m1.MustFinalizeAll()
		m2.MustFinalizeAll()
		for i, t := range group {
			if !t.stopped {
				t.addCDC(logits[i*nq*e.c:(i+1)*nq*e.c], e.c, e.cfg.Patience)
			}
		}
	}
	return nil
}

// kept reports whether Q point j is still in Q (every CDC so far agreed with f on it).
func (t *trial) kept(j int) bool { return t.keptMask()[j] }

func (t *trial) keptMask() []bool {
	if t.keep == nil {
		t.keep = make([]bool, t.size)
		for j := range t.keep {
			t.keep[j] = true
		}
	}
	return t.keep
}

// addCDC refines Q with one CDC's logits on the full Q: points where it disagrees with f leave Q.
// Its softmax joins the ensemble. The trial stops when Q is empty or after `patience` CDCs in a
// row that remove nothing.
func (t *trial) addCDC(logits []float32, c, patience int) {
	keep := t.keptMask()
	pred := argmaxRows(logits, c)
	kept := 0
	for j := range keep {
		if pred[j] != t.yhat[j] {
			keep[j] = false
		}
		if keep[j] {
			kept++
		}
	}
	probs := softmaxRows(logits, c)
	for i, v := range probs {
		t.probs[i] += v
	}
	t.members++
	if kept < t.count[len(t.count)-1] {
		t.wait = 0
	} else {
		t.wait++
	}
	t.count = append(t.count, kept)
	t.stopped = kept == 0 || (patience > 0 && t.wait >= patience)
}

// entropies returns the entropy of the ensemble's mean softmax at each Q point.
func (t *trial) entropies(c int) []float64 {
	if t.ent != nil { // meta-detectron computes them in its reward graph
		return t.ent
	}
	out := make([]float64, t.size)
	row := make([]float64, c)
	for j := range out {
		for k := range c {
			row[k] = t.probs[j*c+k] / float64(t.members)
		}
		out[j] = Entropy(row)
	}
	return out
}
