package detect

import (
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// Scores follow one convention throughout: higher means "more shifted". A test rejects the null
// (declares a harmful shift) when a trial's score reaches a threshold calibrated on null trials.

// AUROC is the area under the ROC curve of alt scores against null scores, computed exactly as
// the Mann–Whitney statistic: P(alt > null) + ½·P(alt = null) over all pairs, via mid-ranks in
// O((n+m) log(n+m)). It equals the trapezoidal area under the empirical ROC curve, which is what
// Detectron's analysis reports. NaN if either set is empty.
func AUROC(null, alt []float64) float64 {
	n, m := len(null), len(alt)
	if n == 0 || m == 0 {
		return math.NaN()
	}
	type obs struct {
		v   float64
		alt bool
	}
	all := make([]obs, 0, n+m)
	for _, v := range null {
		all = append(all, obs{v, false})
	}
	for _, v := range alt {
		all = append(all, obs{v, true})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSum float64 // sum of the alt scores' mid-ranks (1-based)
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if all[k].alt {
				rankSum += mid
			}
		}
		i = j
	}
	u := rankSum - float64(m)*float64(m+1)/2
	return u / (float64(n) * float64(m))
}

// AUROCSE is the standard error of an AUROC by Hanley & McNeil (1982):
//
//	SE² = (A(1−A) + (m−1)(Q1−A²) + (n−1)(Q2−A²)) / (m·n),  Q1 = A/(2−A),  Q2 = 2A²/(1+A)
//
// with m alt and n null trials. It is a closed form assuming exponential score distributions; it
// is 0 at A = 0 or 1.
func AUROCSE(auc float64, nNull, nAlt int) float64 {
	if nNull == 0 || nAlt == 0 {
		return math.NaN()
	}
	q1, q2 := auc/(2-auc), 2*auc*auc/(1+auc)
	v := (auc*(1-auc) + float64(nAlt-1)*(q1-auc*auc) + float64(nNull-1)*(q2-auc*auc)) / float64(nNull*nAlt)
	return math.Sqrt(max(v, 0))
}

// Operating is a decision rule "score ≥ Threshold" with its rates on the trials it was chosen on.
// Threshold +Inf is the rule that rejects nothing.
type Operating struct {
	Threshold float64 `json:"threshold"`
	TPR       float64 `json:"tpr"`
	// TPRSE is the standard error of TPR over alt trials, √(TPR(1−TPR)/(m−1)) (the s.e.m. of
	// the 0/1 detections, as Detectron's analysis computes it).
	TPRSE float64 `json:"tpr_se"`
	FPR   float64 `json:"fpr"`
}

// TPRAtFPR picks, among the rules "score ≥ t" with t an observed score (or +Inf, which rejects
// nothing), the one with the highest TPR whose FPR on the null trials is ≤ alpha; ties go to the
// lower FPR. This is Detectron's "TPR at the largest threshold with FPR ≤ α".
func TPRAtFPR(null, alt []float64, alpha float64) Operating {
	cands := append(append([]float64{}, null...), alt...)
	slices.Sort(cands)
	cands = slices.Compact(cands)
	best := Operating{Threshold: math.Inf(1)}
	frac := func(xs []float64, t float64) float64 {
		k := 0
		for _, x := range xs {
			if x >= t {
				k++
			}
		}
		return float64(k) / float64(max(len(xs), 1))
	}
	for i := len(cands) - 1; i >= 0; i-- { // descending: rates only grow
		t := cands[i]
		fpr := frac(null, t)
		if fpr > alpha {
			break
		}
		if tpr := frac(alt, t); tpr > best.TPR {
			best = Operating{Threshold: t, TPR: tpr, FPR: fpr}
		}
	}
	if m := len(alt); m > 1 {
		best.TPRSE = math.Sqrt(best.TPR * (1 - best.TPR) / float64(m-1))
	}
	return best
}

// KS is the two-sample Kolmogorov–Smirnov test: D = sup |F_a − F_b| and its asymptotic p-value
// Q_KS((√ne + 0.12 + 0.11/√ne)·D) with ne = n·m/(n+m) (Stephens' small-sample correction, as in
// Numerical Recipes' kstwo). scipy's ks_2samp uses exact p-values for small samples, so p-values
// differ slightly; as a score for fixed sample sizes p is a decreasing function of D either way.
func KS(a, b []float64) (d, p float64) {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN(), math.NaN()
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	d = stat.KolmogorovSmirnov(a, nil, b, nil)
	ne := float64(len(a)) * float64(len(b)) / float64(len(a)+len(b))
	en := math.Sqrt(ne)
	return d, KolmogorovQ((en + 0.12 + 0.11/en) * d)
}

// KolmogorovQ is the survival function of the Kolmogorov distribution,
// Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²λ²), with Q(λ) = 1 for small λ where the series is slow.
func KolmogorovQ(lambda float64) float64 {
	if lambda < 0.2 {
		return 1
	}
	var sum, sign float64 = 0, 2
	for k := 1; k <= 100; k++ {
		term := sign * math.Exp(-2*float64(k*k)*lambda*lambda)
		sum += term
		if math.Abs(term) < 1e-12*math.Abs(sum) {
			return min(max(sum, 0), 1)
		}
		sign = -sign
	}
	return 1 // not converged: λ tiny, Q ≈ 1
}

// Entropy is −Σ p log p (nats) of a probability vector.
func Entropy(p []float64) float64 {
	var h float64
	for _, v := range p {
		if v > 0 {
			h -= v * math.Log(v)
		}
	}
	return h
}

// ROC returns the empirical ROC curve of alt scores against null scores: the points (FPR, TPR)
// of the rules "score ≥ t" for every observed score t from the highest down, after (0, 0). Tied
// null and alt scores move both rates in one step, so the trapezoidal area under the points is
// AUROC exactly.
func ROC(null, alt []float64) (fpr, tpr []float64) {
	cands := slices.Concat(null, alt)
	slices.Sort(cands)
	cands = slices.Compact(cands)
	fpr, tpr = []float64{0}, []float64{0}
	for i := len(cands) - 1; i >= 0; i-- {
		var fp, tp int
		for _, x := range null {
			if x >= cands[i] {
				fp++
			}
		}
		for _, x := range alt {
			if x >= cands[i] {
				tp++
			}
		}
		fpr = append(fpr, float64(fp)/float64(max(len(null), 1)))
		tpr = append(tpr, float64(tp)/float64(max(len(alt), 1)))
	}
	return fpr, tpr
}
