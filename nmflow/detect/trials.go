package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/progress"
)

// Bench is one shift-detection problem: P-train (where CDCs must agree with f), the pool null Q
// sets are drawn from (held-out data from P) and the pool alternative Q sets are drawn from (the
// shifted set). Labels of Null and Alt are used only to report f's accuracy, i.e. how harmful
// the shift is.
type Bench struct {
	Name             string
	Train, Null, Alt data.Split
}

// Options control a run without changing its result.
type Options struct {
	Backend compute.Backend // nil: backend.Default()
	// Progress receives the progress bar; nil shows one on stderr (or in GoNB), io.Discard hides it.
	Progress io.Writer
}

// Result is what a detectron run reports; it is the CLI's --json output.
type Result struct {
	Method  string `json:"method"`
	Bench   string `json:"bench"`
	Base    string `json:"base"` // f's architecture and training set
	Config  Config `json:"config"`
	Backend string `json:"backend"`
	Nmflow  string `json:"nmflow_version"`
	// BaseAccNull and BaseAccAlt are f's accuracies on the null and alternative pools: a shift is
	// harmful when the second is clearly lower.
	BaseAccNull float64 `json:"base_acc_null"`
	// BaseTestAcc is f's accuracy on its dataset's test split (absent when f's zoo recorded none).
	BaseTestAcc *float64     `json:"base_test_acc,omitempty"`
	BaseAccAlt  float64      `json:"base_acc_alt"`
	Sizes       []SizeResult `json:"sizes"`
	WallSeconds float64      `json:"wall_seconds"`
	// Meta describes meta-detectron's meta-model and fine-tuning (method "meta" only).
	Meta *MetaInfo `json:"meta,omitempty"`
}

// SizeResult holds the tests for one |Q|.
type SizeResult struct {
	QSize  int `json:"q_size"`
	Trials int `json:"trials"` // per hypothesis
	// Disagreement: score = points of Q rejected by the ensemble (|Q| − count).
	Disagreement Test `json:"disagreement"`
	// Entropy: score = −log p of a KS test between the ensemble's entropies on Q and those of the
	// null trials (the other null trials for a null trial).
	Entropy Test `json:"entropy"`
	// SecondsPerTrial is the wall time of this size's trials divided by their number (trials
	// are trained Config.Models at a time).
	SecondsPerTrial float64 `json:"seconds_per_trial"`
	Null            []Trial `json:"null"`
	Alt             []Trial `json:"alt"`
	// Iterations (meta-detectron only) follows both tests and ℓ_cdc over the fine-tuning
	// iterations: entry i uses the CDCs generated after i updates (paper Figure 4).
	Iterations []IterStat `json:"iterations,omitempty"`
	// PAgreementNull (meta-detectron near f) is Trial.PAgreement averaged over the null trials.
	PAgreementNull float64 `json:"p_agreement_null,omitempty"`
}

// Test is one statistic's power: the operating point at FPR ≤ alpha (see Operating) and the
// AUROC (exact Mann–Whitney) with its Hanley–McNeil standard error.
type Test struct {
	// Threshold of the rule "score ≥ threshold"; null when no rule with FPR ≤ alpha rejects anything.
	Threshold *float64 `json:"threshold"`
	TPR       float64  `json:"tpr"`
	TPRSE     float64  `json:"tpr_se"`
	FPR       float64  `json:"fpr"`
	AUROC     float64  `json:"auroc"`
	AUROCSE   float64  `json:"auroc_se"`
}

// Trial is one Q set's outcome.
type Trial struct {
	Seed uint64 `json:"seed"`
	// Counts is |Q| after each CDC, starting with the full size.
	Counts       []int   `json:"counts"`
	Disagreement float64 `json:"disagreement_score"`
	EntropyKSP   float64 `json:"entropy_ks_p"`
	EntropyScore float64 `json:"entropy_score"`
	MeanEntropy  float64 `json:"mean_entropy"`
	// Meta-detectron only, per fine-tuning iteration: the mean ℓ_cdc of the generated CDCs and
	// the disagreement score of the first Ensemble of them.
	CDCLoss             []float32 `json:"cdc_loss,omitempty"`
	DisagreementHistory []float64 `json:"disagreement_history,omitempty"`
	Seconds             float64   `json:"seconds,omitempty"` // meta-detectron: this trial's wall time
	// PAgreement (meta-detectron near f) is the CDCs' mean agreement with f on the trial's P
	// minibatch: f's own is 1, and CDCs that keep ≥ 0.9 of it on null trials are constrained.
	PAgreement    float64 `json:"p_agreement,omitempty"`
	entropyValues []float64
}

// Run runs Detectron: for each |Q| in sizes, `trials` Q sets from the null pool and as many from
// the alternative pool, each with its own ensemble of CDCs trained from f, then both statistics.
// Trial i of each hypothesis and size has its own seed derived from cfg.Seed; the same inputs
// give the same Result on the same backend.
func Run(ctx context.Context, base *Base, bench Bench, sizes []int, trials int, cfg Config, opt Options) (*Result, error) {
	start := time.Now()
	e, res, err := prepare("detectron", base, bench, sizes, trials, cfg, opt)
	if err != nil {
		return nil, err
	}
	cfg = e.cfg
	groups := 0
	for range sizes {
		groups += (2*trials + cfg.Models - 1) / cfg.Models
	}
	label := fmt.Sprintf("detectron %s", bench.Name)
	steps := cfg.StepsPerCDC(bench.Train.N)
	bar := progress.To(opt.Progress, groups*cfg.Ensemble*steps, label)
	defer bar.Done()
	done := 0
	for si, n := range sizes {
		t0 := time.Now()
		all := e.drawTrials(cfg.Seed, si, n, trials, bench.Null.N, bench.Alt.N)
		for g := 0; g < len(all); g += cfg.Models {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			group := all[g:min(g+cfg.Models, len(all))]
			bar.SetInfo(fmt.Sprintf("|Q|=%d, trials %d-%d of %d", n, g+1, g+len(group), len(all)))
			if err := e.runGroup(group, bench.Train.N, func() { bar.Add(1) }); err != nil {
				return nil, err
			}
			done++
			bar.Set(done * cfg.Ensemble * steps)
		}
		sr := summarize(all, n, trials, e.c, cfg.Alpha)
		sr.SecondsPerTrial = time.Since(t0).Seconds() / float64(len(all))
		res.Sizes = append(res.Sizes, sr)
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// prepare validates a run, predicts with f on P-train and both pools, and starts its Result.
func prepare(method string, base *Base, bench Bench, sizes []int, trials int, cfg Config, opt Options) (*engine, *Result, error) {
	cfg, err := cfg.Defaults()
	if err != nil {
		return nil, nil, err
	}
	if err := checkBench(base, bench, sizes, trials); err != nil {
		return nil, nil, err
	}
	be := opt.Backend
	if be == nil {
		if be, _, err = backend.Default(); err != nil {
			return nil, nil, err
		}
	}
	cfg.Models = min(cfg.Models, 2*trials) // a group never needs more CDCs than a size has trials
	e, err := newEngine(be, base, cfg, bench.Train, concatSplits(bench.Null, bench.Alt))
	if err != nil {
		return nil, nil, err
	}
	res := &Result{Method: method, Bench: bench.Name, Base: fmt.Sprintf("%s on %s", base.Net.Spec(), base.Dataset),
		Config: cfg, Backend: be.Description(), Nmflow: nmflow.Version}
	if base.TestAcc > 0 {
		res.BaseTestAcc = &base.TestAcc
	}
	res.BaseAccNull = agreement(e.poolYhat[:bench.Null.N], bench.Null.Labels)
	res.BaseAccAlt = agreement(e.poolYhat[bench.Null.N:], bench.Alt.Labels)
	return e, res, nil
}

func checkBench(base *Base, b Bench, sizes []int, trials int) error {
	d := prod(base.Net.Spec().Input)
	for name, s := range map[string]data.Split{"train": b.Train, "null": b.Null, "alt": b.Alt} {
		if s.N == 0 || len(s.Images) != s.N*d || len(s.Labels) != s.N {
			return fmt.Errorf("detect: %s split has %d examples, %d values and %d labels; want a non-empty split of examples of %d values (f's input %v)",
				name, s.N, len(s.Images), len(s.Labels), d, base.Net.Spec().Input)
		}
	}
	if trials < 2 {
		return fmt.Errorf("detect: need at least 2 trials per hypothesis (for standard errors and the entropy test's null), got %d", trials)
	}
	if len(sizes) == 0 {
		return fmt.Errorf("detect: no |Q| sizes given (e.g. 10,20,50)")
	}
	for _, n := range sizes {
		if n < 1 || n > b.Null.N || n > b.Alt.N {
			return fmt.Errorf("detect: |Q| = %d must be between 1 and the pool sizes (null %d, alt %d)", n, b.Null.N, b.Alt.N)
		}
	}
	return nil
}

// drawTrials makes `trials` null and `trials` alt Q sets of size n. Null trial i and alt trial i
// share a seed, as in Detectron's experiments.
func (e *engine) drawTrials(seed uint64, si, n, trials, nNull, nAlt int) []*trial {
	var out []*trial
	for _, alt := range []bool{false, true} {
		for i := range trials {
			ts := seed ^ (uint64(si+1) << 40) ^ uint64(i+1)*0x9e3779b97f4a7c15
			rng := rand.New(rand.NewPCG(ts, 0xd15c))
			lo, size := 0, nNull
			if alt {
				lo, size = nNull, nAlt
				rng = rand.New(rand.NewPCG(ts, 0xa17))
			}
			perm := rng.Perm(size)[:n]
			t := &trial{size: n, alt: alt, seed: ts, q: make([]int32, n), yhat: make([]int, n), count: []int{n},
				probs: make([]float64, n*e.c), members: 1}
			for j, k := range perm {
				t.q[j] = int32(lo + k)
				t.yhat[j] = e.poolYhat[lo+k]
				copy(t.probs[j*e.c:(j+1)*e.c], e.poolProbs[(lo+k)*e.c:(lo+k+1)*e.c]) // f is member 0
			}
			out = append(out, t)
		}
	}
	return out
}

func agreement(a, b []int) float64 {
	k := 0
	for i := range a {
		if a[i] == b[i] {
			k++
		}
	}
	return float64(k) / float64(max(len(a), 1))
}

// summarize computes both statistics for one size from its finished trials.
func summarize(all []*trial, n, trials, c int, alpha float64) SizeResult {
	sr := SizeResult{QSize: n, Trials: trials}
	var nullE [][]float64
	for _, t := range all {
		tr := Trial{Seed: t.seed, Counts: t.count, Disagreement: float64(n - t.count[len(t.count)-1]), entropyValues: t.entropies(c)}
		var s float64
		for _, h := range tr.entropyValues {
			s += h
		}
		tr.MeanEntropy = s / float64(n)
		if t.alt {
			sr.Alt = append(sr.Alt, tr)
		} else {
			sr.Null = append(sr.Null, tr)
			nullE = append(nullE, tr.entropyValues)
		}
	}
	// Entropy test: each trial's entropies against the pooled entropies of the null trials,
	// leaving a null trial's own out (Detectron's analysis).
	pooled := func(skip int) []float64 {
		var out []float64
		for i, v := range nullE {
			if i != skip {
				out = append(out, v...)
			}
		}
		return out
	}
	for i := range sr.Null {
		sr.Null[i].EntropyKSP, sr.Null[i].EntropyScore = ksScore(sr.Null[i].entropyValues, pooled(i))
	}
	all0 := pooled(-1)
	for i := range sr.Alt {
		sr.Alt[i].EntropyKSP, sr.Alt[i].EntropyScore = ksScore(sr.Alt[i].entropyValues, all0)
	}
	col := func(ts []Trial, f func(Trial) float64) []float64 {
		out := make([]float64, len(ts))
		for i, t := range ts {
			out[i] = f(t)
		}
		return out
	}
	sr.Disagreement = test(col(sr.Null, func(t Trial) float64 { return t.Disagreement }), col(sr.Alt, func(t Trial) float64 { return t.Disagreement }), alpha)
	sr.Entropy = test(col(sr.Null, func(t Trial) float64 { return t.EntropyScore }), col(sr.Alt, func(t Trial) float64 { return t.EntropyScore }), alpha)
	return sr
}

// ksScore returns the KS p-value and the score −log p (p floored at 1e-300 so it stays finite).
func ksScore(a, b []float64) (p, score float64) {
	_, p = KS(a, b)
	return p, -math.Log(max(p, 1e-300))
}

// test evaluates a statistic: operating point at FPR ≤ alpha, AUROC and its SE.
func test(null, alt []float64, alpha float64) Test {
	auc := AUROC(null, alt)
	op := TPRAtFPR(null, alt, alpha)
	t := Test{TPR: op.TPR, TPRSE: op.TPRSE, FPR: op.FPR, AUROC: auc, AUROCSE: AUROCSE(auc, len(null), len(alt))}
	if !math.IsInf(op.Threshold, 0) {
		t.Threshold = &op.Threshold
	}
	return t
}

func concatSplits(a, b data.Split) data.Split {
	return data.Split{Images: append(append([]uint8{}, a.Images...), b.Images...), Labels: append(append([]int{}, a.Labels...), b.Labels...), N: a.N + b.N}
}

// WriteJSON writes v as indented JSON to path atomically (temporary file, then rename).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp makes it private; a result is for sharing
	}
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("detect: writing %s: %w", path, err)
	}
	return nil
}
