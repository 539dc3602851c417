package eval

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Row names of a [Comparison], in the order Compare lists them.
const (
	RowGenerated   = "generated"   // the nets under test
	RowReference   = "reference"   // the zoo's trained nets: the target every distance is measured to
	RowIndependent = "independent" // another zoo of the same configuration: what a perfect generator scores
	RowNoise       = "noise"       // trained nets plus Gaussian noise, one row per level (Zeng et al.'s baseline)
	RowMean        = "mean"        // R copies of the mean trained net: a generator collapsed to the mean
	RowInit        = "init"        // the zoo's inits: a generator that never moved
)

// DefaultNoiseLevels are the noise rows' levels: the noise's expected norm in units of the median
// nearest-neighbour distance among the trained nets (Comparison.NNDist). Level 1 moves a net as
// far from its source as trained nets lie from each other; 1.5 reaches past the independent zoo.
var DefaultNoiseLevels = []float64{0.1, 0.25, 0.5, 1, 1.5}

// Sets are the nets a [Compare] evaluates, each a flat row-major [n,P] slice of weights of one
// architecture. Only Reference is required.
type Sets struct {
	// Reference: the zoo's trained nets (R ≥ 2), e.g. its final checkpoints.
	Reference []float32
	// Inits: the zoo's initial nets (its checkpoint 0); nil leaves out the "init" row.
	Inits []float32
	// Generated: the nets under test; nil leaves out the "generated" row (reference rows only).
	Generated []float32
	// Independent: trained nets of an independent zoo (same configuration, other seeds); nil
	// leaves out the "independent" row.
	Independent []float32
}

// CompareOptions tunes [Compare]; the zero value is the usual choice.
type CompareOptions struct {
	// RefRun is the reference net every set is aligned to: Sets.Reference row RefRun (default 0,
	// the run align.Zoo aligns a zoo towards).
	RefRun int
	// NoiseLevels overrides DefaultNoiseLevels (each > 0).
	NoiseLevels []float64
	// Seed of the noise rows. Every level scales the same noise draw, so the rows differ only in
	// size and the novelty curve is smooth.
	Seed uint64
	// BatchModels: nets evaluated at once (0: automatic, at most 256).
	BatchModels int
	// Raw skips the alignment: distances in raw weight space (to compare with older numbers only;
	// independent runs then differ by arbitrary permutations and the mean net is a bad net).
	Raw bool
}

// Row is one set of nets of a [Comparison], measured against the reference nets: what a test
// set thinks of them (Accuracy, Loss), how their distribution differs from the reference one
// (Energy, W1), how close each comes to a reference net (Nearest) and how like it it behaves
// (Agreement, ErrorOverlap). Distances are Euclidean on flat vectors in the comparison's Space.
type Row struct {
	Name string `json:"name"`
	// Level and Sigma (noise rows): noise norm in units of Comparison.NNDist, per-weight σ.
	Level float64 `json:"level,omitempty"`
	Sigma float64 `json:"sigma,omitempty"`
	N     int     `json:"n"`

	Accuracy Summary `json:"accuracy"`
	// AccuracyStderr is the standard error of Accuracy.Mean: sample std (divisor n−1) / √n.
	AccuracyStderr float64 `json:"accuracy_stderr"`
	Loss           Summary `json:"loss"`

	// Energy is [Energy] to the reference nets. The reference row's own value is that of an exact
	// copy, −2·E‖X−X′‖/R: a generator that copies the zoo scores there, below an independent zoo.
	Energy float64 `json:"energy"`
	// W1 is [W1] between the first W1N nets of the row and the first W1N reference nets
	// (W1N = min(n, R)); 0 for the reference row.
	W1  float64 `json:"w1"`
	W1N int     `json:"w1_n"`

	// Nearest summarizes each net's distance to its nearest reference net (for the reference row:
	// its nearest other reference net, the scale of "novel").
	Nearest Summary `json:"nearest"`
	// Agreement summarizes, per net, the fraction of test examples on which it predicts the same
	// class as that nearest reference net (nearest in weight space, as in Nearest).
	Agreement Summary `json:"agreement"`
	// ErrorOverlap summarizes, per net, the fraction of the nearest reference net's test mistakes
	// that the net repeats with the same wrong class (nets whose nearest net makes no mistake are
	// left out).
	ErrorOverlap Summary `json:"error_overlap"`

	// Per net, in set order: accuracy, mean loss, distance to and index of the nearest reference
	// net, and the weights in the comparison's space.
	NetAccuracy []float32   `json:"-"`
	NetLoss     []float32   `json:"-"`
	NearestDist []float64   `json:"-"`
	NearestRun  []int       `json:"-"`
	Nets        [][]float32 `json:"-"`
}

// Comparison holds every row of a [Compare]: the generated set next to reference rows computed
// the same way (METHODS.md §9), so a number can be read against what a perfect generator
// ("independent"), a copier plus noise ("noise"), a mean collapse ("mean") and no training
// ("init") score.
type Comparison struct {
	Rows []Row `json:"rows"`
	// Space says where distances live: "aligned" (every set weight-matched to the net of
	// reference run RefRun, METHODS.md §10) or "raw".
	Space  string `json:"space"`
	RefRun int    `json:"ref_run"`
	// NNDist is the median distance of a reference net to its nearest other reference net: the
	// unit of the noise levels.
	NNDist       float64 `json:"nn_dist"`
	Params       int     `json:"params"`
	TestExamples int     `json:"test_examples"`
	Seed         uint64  `json:"seed"`
}

// Row returns the first row called name, or nil.
func (c *Comparison) Row(name string) *Row {
	for i := range c.Rows {
		if c.Rows[i].Name == name {
			return &c.Rows[i]
		}
	}
	return nil
}

// Noise returns the noise rows, by increasing level.
func (c *Comparison) Noise() []Row {
	var out []Row
	for _, r := range c.Rows {
		if r.Name == RowNoise {
			out = append(out, r)
		}
	}
	return out
}

// Compare evaluates sets of nets of net's architecture on test (norm as in [Accuracy]) and
// measures each against the reference nets: rows "generated", "reference", "independent",
// "noise" (one per level), "mean" and "init", those whose set is given (see [Sets], [Row]).
//
// Unless opt.Raw, every set is first aligned to the reference net of run opt.RefRun (weight
// matching, which keeps each net's function), so that distances compare functions rather than
// arbitrary orders of hidden units; the noise rows are aligned reference nets plus noise and the
// mean row is R copies of the mean aligned reference net. All nets are evaluated in one batched
// pass with one compiled graph.
func Compare(be compute.Backend, net arch.Net, sets Sets, test data.Split, norm *feed.Norm, opt CompareOptions) (*Comparison, error) {
	p := net.Layout().Size()
	count := func(what string, w []float32) (int, error) {
		if len(w)%p != 0 {
			return 0, fmt.Errorf("eval: %s has %d weights, not a multiple of the %d parameters of %s", what, len(w), p, net.Spec())
		}
		return len(w) / p, nil
	}
	r, err := count("the reference set", sets.Reference)
	if err != nil {
		return nil, err
	}
	if r < 2 {
		return nil, fmt.Errorf("eval: a comparison needs at least 2 reference nets, got %d", r)
	}
	if opt.RefRun < 0 || opt.RefRun >= r {
		return nil, fmt.Errorf("eval: reference run %d is outside 0..%d", opt.RefRun, r-1)
	}
	levels := opt.NoiseLevels
	if levels == nil {
		levels = DefaultNoiseLevels
	}
	for i, l := range levels {
		if !(l > 0) || math.IsInf(l, 0) || (i > 0 && l <= levels[i-1]) {
			return nil, fmt.Errorf("eval: noise levels %v must be positive, finite and increasing", levels)
		}
	}
	c := &Comparison{Space: "aligned", RefRun: opt.RefRun, Params: p, TestExamples: test.N, Seed: opt.Seed}
	if opt.Raw {
		c.Space = "raw"
	}
	refNet := sets.Reference[opt.RefRun*p : (opt.RefRun+1)*p]
	toSpace := func(what string, w []float32) ([][]float32, error) {
		n, err := count(what, w)
		if err != nil || n == 0 {
			return nil, err
		}
		if !opt.Raw {
			if w, err = align.Nets(net.Spec(), refNet, w, n); err != nil {
				return nil, fmt.Errorf("eval: aligning %s: %w", what, err)
			}
		}
		return splitRows(w, n, p), nil
	}
	ref, err := toSpace("the reference set", sets.Reference)
	if err != nil {
		return nil, err
	}
	near := func(nets [][]float32, self bool) ([]float64, []int, error) {
		if opt.Raw {
			var skip func(i, j int) bool
			if self {
				skip = func(i, j int) bool { return i == j }
			}
			d, j := nearest(nets, ref, self, skip)
			return d, j, nil
		}
		return nearestModPerm(net.Spec(), nets, ref, self)
	}
	refNN, refNNRun, err := near(ref, true)
	if err != nil {
		return nil, err
	}
	c.NNDist = Percentile(refNN, 50)

	type set struct {
		row  Row
		nets [][]float32
	}
	var all []set
	add := func(name, what string, w []float32) error {
		nets, err := toSpace(what, w)
		if err != nil || nets == nil {
			return err
		}
		all = append(all, set{Row{Name: name}, nets})
		return nil
	}
	if err := add(RowGenerated, "the generated set", sets.Generated); err != nil {
		return nil, err
	}
	all = append(all, set{Row{Name: RowReference}, ref})
	if err := add(RowIndependent, "the independent set", sets.Independent); err != nil {
		return nil, err
	}
	zeros := make([][]float32, r)
	for i := range zeros {
		zeros[i] = make([]float32, p)
	}
	unit := NoiseBaseline(zeros, MatchedSigma(1, p), opt.Seed) // one draw ε_i per net, E‖ε_i‖ = 1
	for _, l := range levels {
		size := l * c.NNDist
		nets := make([][]float32, r)
		for i := range nets {
			nets[i] = make([]float32, p)
			for k, x := range ref[i] {
				nets[i][k] = x + float32(size*float64(unit[i][k]))
			}
		}
		all = append(all, set{Row{Name: RowNoise, Level: l, Sigma: MatchedSigma(size, p)}, nets})
	}
	mean := make([]float32, p)
	for k := range mean {
		var s float64
		for _, v := range ref {
			s += float64(v[k])
		}
		mean[k] = float32(s / float64(r))
	}
	copies := make([][]float32, r)
	for i := range copies {
		copies[i] = mean
	}
	all = append(all, set{Row{Name: RowMean}, copies})
	if err := add(RowInit, "the init set", sets.Inits); err != nil {
		return nil, err
	}

	// One batched evaluation of every net, so all see the same examples the same way.
	total := 0
	for _, s := range all {
		total += len(s.nets)
	}
	flat := make([]float32, 0, total*p)
	for _, s := range all {
		for _, v := range s.nets {
			flat = append(flat, v...)
		}
	}
	bm := opt.BatchModels
	if bm <= 0 {
		groups := (total + 255) / 256
		bm = (total + groups - 1) / groups
	}
	acc, loss, pred, err := Predict(be, net, flat, total, test, nil, norm, bm)
	if err != nil {
		return nil, err
	}
	refStart := 0
	for _, s := range all {
		if s.row.Name == RowReference {
			break
		}
		refStart += len(s.nets)
	}
	refPred := pred[refStart : refStart+r]

	start := 0
	for _, s := range all {
		row := s.row
		n := len(s.nets)
		row.N, row.Nets = n, s.nets
		row.NetAccuracy, row.NetLoss = acc[start:start+n], loss[start:start+n]
		row.Accuracy, row.Loss = Summarize(row.NetAccuracy), Summarize(row.NetLoss)
		row.AccuracyStderr = stderr(row.NetAccuracy)
		if row.Energy, err = Energy(s.nets, ref); err != nil {
			return nil, err
		}
		row.W1N = min(n, r)
		if row.Name != RowReference {
			if row.W1, err = W1(s.nets[:row.W1N], ref[:row.W1N]); err != nil {
				return nil, err
			}
			if row.NearestDist, row.NearestRun, err = near(s.nets, false); err != nil {
				return nil, err
			}
		} else {
			row.NearestDist, row.NearestRun = refNN, refNNRun
		}
		agree, overlap := make([]float64, n), make([]float64, 0, n)
		for i, j := range row.NearestRun {
			if agree[i], err = Agreement(pred[start+i], refPred[j]); err != nil {
				return nil, err
			}
			o, ok, err := ErrorOverlap(refPred[j], pred[start+i], test.Labels)
			if err != nil {
				return nil, err
			}
			if ok {
				overlap = append(overlap, o)
			}
		}
		row.Nearest, row.Agreement, row.ErrorOverlap = Summarize(row.NearestDist), Summarize(agree), Summarize(overlap)
		c.Rows = append(c.Rows, row)
		start += n
	}
	return c, nil
}

// ZooCompareOptions tunes [CompareZoo].
type ZooCompareOptions struct {
	CompareOptions
	// Checkpoint of the zoo used as reference nets (negative counts from the end; default −1,
	// the last). Its checkpoint 0 gives the init row.
	Checkpoint int
	// Independent, when set, is another zoo of the same architecture whose nets at its last
	// checkpoint make the "independent" row.
	Independent *traj.Zoo
	// TestLimit > 0 evaluates on the first TestLimit of the zoo's test examples.
	TestLimit int
	// Data locates the dataset (see data.Options).
	Data data.Options
}

// CompareZoo is [Compare] for a zoo: reference nets at opt.Checkpoint (default the last), inits
// at checkpoint 0, the n generated nets (flat [n,P]; nil for reference rows only), the
// independent zoo's last checkpoint when given, on the zoo's own test set and input scaling
// ([TestSet]). It returns every row in one call, for a notebook's table.
func CompareZoo(be compute.Backend, z *traj.Zoo, generated []float32, n int, opt ZooCompareOptions) (*Comparison, error) {
	k := opt.Checkpoint
	if k == 0 {
		k = -1
	}
	if k < 0 {
		k += z.Checkpoints
	}
	if k <= 0 || k >= z.Checkpoints {
		return nil, fmt.Errorf("eval: checkpoint %d is out of range 1..%d (checkpoint 0 is the init)", opt.Checkpoint, z.Checkpoints-1)
	}
	if len(generated) != n*z.Params {
		return nil, fmt.Errorf("eval: %d generated weights for %d nets of the zoo's %d parameters", len(generated), n, z.Params)
	}
	net, err := arch.New(z.Meta.Arch)
	if err != nil {
		return nil, err
	}
	sets := Sets{Reference: z.Checkpoint(k), Inits: z.Checkpoint(0), Generated: generated}
	if iz := opt.Independent; iz != nil {
		if iz.Params != z.Params || iz.Meta.Arch.String() != z.Meta.Arch.String() {
			return nil, fmt.Errorf("eval: the independent zoo has %s (P=%d), the zoo %s (P=%d): train it with the same configuration and other seeds", iz.Meta.Arch, iz.Params, z.Meta.Arch, z.Params)
		}
		sets.Independent = iz.Checkpoint(iz.Checkpoints - 1)
	}
	test, norm, err := TestSet(z, opt.TestLimit, opt.Data)
	if err != nil {
		return nil, err
	}
	return Compare(be, net, sets, test, norm, opt.CompareOptions)
}

// nearestModPerm returns, for each net, the distance to and index of its nearest reference net
// after aligning the net to that reference net (weight matching per pair), so that a copy of a
// reference net whose hidden units were permuted any other way still counts as a copy. A single
// common alignment target is not enough for that: weight matching is not a canonical form, and a
// little noise can flip a copy's matching to the target and put it far from its source. With
// self (nets are refs), each net's own index is skipped.
func nearestModPerm(spec arch.Spec, nets, refs [][]float32, self bool) ([]float64, []int, error) {
	p := len(refs[0])
	flat := make([]float32, 0, len(nets)*p)
	for _, v := range nets {
		flat = append(flat, v...)
	}
	dist, idx := make([]float64, len(nets)), make([]int, len(nets))
	for i := range dist {
		dist[i], idx[i] = math.Inf(1), -1
	}
	for j, ref := range refs {
		al, err := align.Nets(spec, ref, flat, len(nets))
		if err != nil {
			return nil, nil, err
		}
		parallelFor(len(nets), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if self && i == j {
					continue
				}
				if d := math.Sqrt(sqDist(al[i*p:(i+1)*p], ref)); d < dist[i] {
					dist[i], idx[i] = d, j
				}
			}
		})
	}
	return dist, idx, nil
}

// splitRows views a flat [n,p] slice as n rows.
func splitRows(w []float32, n, p int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = w[i*p : (i+1)*p]
	}
	return out
}

// stderr is the standard error of the mean of the finite values of xs (0 for fewer than two).
func stderr(xs []float32) float64 {
	s := Summarize(xs)
	if s.N < 2 {
		return 0
	}
	return s.Std * math.Sqrt(float64(s.N)/float64(s.N-1)) / math.Sqrt(float64(s.N))
}
