package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// NoveltyOptions tunes [Novelty]. The zero value is the usual choice.
type NoveltyOptions struct {
	// TrainGroups, when set, gives each training vector a group id (e.g. its run); a training
	// vector's reference neighbour is then the nearest one from another group, since checkpoints
	// of one run are close by construction and would make every generated net look novel.
	TrainGroups []int
	// Percentile sets the memorization threshold: the given percentile of the training
	// nearest-neighbour distances (default 5).
	Percentile float64
}

// NoveltyReport compares how close generated nets come to training checkpoints with how close
// training checkpoints come to each other (Zeng et al. 2025's memorization check).
type NoveltyReport struct {
	// GenToTrain summarizes GenDist: each generated net's distance to its nearest training vector.
	GenToTrain Summary `json:"gen_to_train"`
	// TrainToTrain summarizes TrainDist: each training vector's distance to its nearest other
	// training vector (from another group when TrainGroups is set).
	TrainToTrain Summary `json:"train_to_train"`
	// MedianRatio is median(GenDist)/median(TrainDist): well below 1 means generated nets sit
	// closer to training checkpoints than those sit to each other. 0 when the training median is 0.
	MedianRatio float64 `json:"median_ratio"`
	// Percentile and Threshold: Threshold is that percentile of TrainDist.
	Percentile float64 `json:"memorized_percentile"`
	Threshold  float64 `json:"memorized_threshold"`
	// Memorized is the fraction of generated nets strictly closer than Threshold to a training
	// vector ("likely memorized").
	Memorized float64 `json:"memorized_fraction"`

	GenDist      []float64 `json:"gen_dist"`
	GenNearest   []int     `json:"gen_nearest"` // index into training
	TrainDist    []float64 `json:"train_dist"`
	TrainNearest []int     `json:"train_nearest"`
}

// Novelty measures, with Euclidean distances on flat vectors, how far each generated net is from
// its nearest training vector, against the reference of nearest-neighbour distances among the
// training vectors themselves (each to its nearest other vector, skipping its own group when
// opt.TrainGroups is given). At most one opt is used.
func Novelty(generated, training [][]float32, opt ...NoveltyOptions) (NoveltyReport, error) {
	var o NoveltyOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	if o.Percentile == 0 {
		o.Percentile = 5
	}
	if !(o.Percentile > 0 && o.Percentile <= 100) {
		return NoveltyReport{}, fmt.Errorf("eval: novelty percentile %v is outside (0, 100]", o.Percentile)
	}
	if len(training) < 2 {
		return NoveltyReport{}, fmt.Errorf("eval: novelty needs at least 2 training vectors, got %d", len(training))
	}
	if _, err := checkSets(generated, training); err != nil {
		return NoveltyReport{}, err
	}
	g := o.TrainGroups
	if g != nil && len(g) != len(training) {
		return NoveltyReport{}, fmt.Errorf("eval: %d training group ids for %d training vectors", len(g), len(training))
	}
	skip := func(i, j int) bool { return i == j }
	if g != nil {
		skip = func(i, j int) bool { return g[i] == g[j] }
	}

	genDist, genNearest := nearest(generated, training, false, nil)
	trainDist, trainNearest := nearest(training, training, true, skip)
	for i, j := range trainNearest {
		if j < 0 {
			return NoveltyReport{}, fmt.Errorf("eval: training vector %d has no neighbour outside its group %d (all training vectors share one group?)", i, g[i])
		}
	}
	return noveltyReport(genDist, genNearest, trainDist, trainNearest, o.Percentile), nil
}

// noveltyReport summarizes nearest-training distances of generated and training vectors.
func noveltyReport(genDist []float64, genNearest []int, trainDist []float64, trainNearest []int, percentile float64) NoveltyReport {
	r := NoveltyReport{Percentile: percentile, GenDist: genDist, GenNearest: genNearest, TrainDist: trainDist, TrainNearest: trainNearest}
	r.GenToTrain, r.TrainToTrain = Summarize(r.GenDist), Summarize(r.TrainDist)
	if r.TrainToTrain.Median > 0 {
		r.MedianRatio = r.GenToTrain.Median / r.TrainToTrain.Median
	}
	r.Threshold = Percentile(r.TrainDist, percentile)
	near := 0
	for _, d := range r.GenDist {
		if d < r.Threshold {
			near++
		}
	}
	if len(r.GenDist) > 0 {
		r.Memorized = float64(near) / float64(len(r.GenDist))
	}
	return r
}

// NoiseBaseline returns a copy of each trained vector plus i.i.d. Gaussian noise N(0, sigma²) per
// weight: the "trained weights with a perturbation" baseline for novelty and accuracy. Use
// MatchedSigma to give the noise the size of the generated nets' distance to training. Row i
// draws from its own stream of seed, so the result does not depend on scheduling.
func NoiseBaseline(trained [][]float32, sigma float64, seed uint64) [][]float32 {
	out := make([][]float32, len(trained))
	parallelFor(len(trained), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			v := make([]float32, len(trained[i]))
			for k, x := range trained[i] {
				v[k] = x + float32(sigma*rng.NormFloat64())
			}
			out[i] = v
		}
	})
	return out
}

// MatchedSigma returns the per-weight σ for which Gaussian noise in p dimensions has expected norm
// dist: E‖ε‖ = σ·√2·Γ((p+1)/2)/Γ(p/2) (chi distribution), i.e. σ ≈ dist/√(p−½) for large p.
// Pass, e.g., the median generated-to-nearest-training distance.
func MatchedSigma(dist float64, p int) float64 {
	if p <= 0 {
		return math.NaN()
	}
	lg1, _ := math.Lgamma(float64(p+1) / 2)
	lg0, _ := math.Lgamma(float64(p) / 2)
	return dist / (math.Sqrt2 * math.Exp(lg1-lg0))
}

// DistinctNearest counts the training vectors that are nearest to at least one generated one: few
// means the generated nets crowd around a few training nets.
func (r NoveltyReport) DistinctNearest() int {
	seen := map[int]bool{}
	for _, i := range r.GenNearest {
		seen[i] = true
	}
	return len(seen)
}
