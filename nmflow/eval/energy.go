package eval

import "fmt"

// Energy returns the energy distance between the empirical measures of two sets of flat vectors
// under the Euclidean norm (Székely & Rizzo):
//
//	E(X, Y) = 2·E‖X−Y‖ − E‖X−X′‖ − E‖Y−Y′‖
//
// with the cross term averaged over all n·m pairs and each within-set term over its distinct
// pairs i ≠ j (the unbiased U-statistic), so two independent samples of one distribution score
// 0 on average, whatever their size — unlike [W1], which at n ≪ P mostly measures each set's
// spread and rewards shrinking towards the mean. A set of one vector counts as a point mass (its
// within term is 0). Sets may differ in size.
//
// Because the within terms exclude i = j, a set that copies the other scores below 0: for Y = X
// exactly, E = −2·E‖X−X′‖/n. Energy cannot tell copies from a perfect generator; read it next to
// the nearest-training distances ([Novelty], [NoveltyCurve]).
func Energy(x, y [][]float32) (float64, error) {
	if _, err := checkSets(x, y); err != nil {
		return 0, err
	}
	var cross float64
	forEachTile(x, y, false, func(_, _, ni, nj int, d []float64) {
		for _, v := range d[:ni*nj] {
			cross += v
		}
	})
	cross /= float64(len(x)) * float64(len(y))
	return 2*cross - withinMean(x) - withinMean(y), nil
}

// withinMean is the mean of ‖x_i − x_j‖ over the pairs i < j (0 for one vector).
func withinMean(x [][]float32) float64 {
	n := len(x)
	if n < 2 {
		return 0
	}
	var sum float64
	forEachTile(x, x, true, func(i0, j0, ni, nj int, d []float64) {
		for i := range ni {
			for j := range nj {
				if i0+i < j0+j {
					sum += d[i*nj+j]
				}
			}
		}
	})
	return sum / (float64(n) * float64(n-1) / 2)
}

// Agreement is the fraction of examples on which two nets predict the same class (a and b are
// their predicted classes over one split, as [Predict] returns them).
func Agreement(a, b []int32) (float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("eval: agreement needs two non-empty prediction lists of one length, got %d and %d", len(a), len(b))
	}
	same := 0
	for k := range a {
		if a[k] == b[k] {
			same++
		}
	}
	return float64(same) / float64(len(a)), nil
}

// ErrorOverlap is the fraction of the reference net's mistakes that the other net repeats — the
// same wrong class on the same example (Zeng et al. 2025's overlap of mistakes; a copy scores 1,
// an unrelated net of equal accuracy far less). ref and other are predicted classes over one
// split whose true classes are labels. A reference net without mistakes gives 0 and ok false.
func ErrorOverlap(ref, other []int32, labels []int) (overlap float64, ok bool, err error) {
	if len(ref) != len(labels) || len(other) != len(labels) || len(labels) == 0 {
		return 0, false, fmt.Errorf("eval: error overlap needs predictions and labels of one length, got %d, %d and %d", len(ref), len(other), len(labels))
	}
	wrong, repeated := 0, 0
	for k, y := range labels {
		if int(ref[k]) != y {
			wrong++
			if other[k] == ref[k] {
				repeated++
			}
		}
	}
	if wrong == 0 {
		return 0, false, nil
	}
	return float64(repeated) / float64(wrong), true, nil
}
