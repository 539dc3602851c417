package downstream

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/nb"
	"github.com/nmflow/nmflow/nmflow/plot"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Config says how every set of nets is fine-tuned.
type Config struct {
	// Train is the optimizer and data pipeline (Arch, BatchSize, Optimizer, LR, Momentum,
	// WeightDecay, Seed, Standardize, TrainSize, TestSize, EvalTrain); its Runs, Epochs,
	// Checkpoints and Init are set by Compare.
	Train zoo.Config `json:"train"`
	// Steps is the number of optimizer steps (0: two epochs).
	Steps int64 `json:"steps"`
	// Points adds checkpoints for the curves, spaced geometrically from step 1 to Steps (0: 8);
	// the table's steps are always checkpointed.
	Points int `json:"points"`
}

// Set is one group of initial nets.
type Set struct {
	Name string
	// Weights holds N nets, [N,P] row-major.
	Weights []float32
	// Layout, when set, must equal the architecture's Layout (a check that the weights mean
	// what the architecture reads them as).
	Layout arch.Layout
}

// Mark is one row of the table: a named checkpoint.
type Mark struct {
	Label string `json:"label"` // "step 0", "1/4 epoch", "1 epoch" or "final"
	Step  int64  `json:"step"`
	Index int    `json:"index"` // into Result.Steps
}

// Curve is one set's test metrics along fine-tuning.
type Curve struct {
	Name string `json:"name"`
	N    int    `json:"n"`
	// AccMean and AccStd are the test accuracy's mean and population std over the N nets at each step.
	AccMean []float64 `json:"acc_mean"`
	AccStd  []float64 `json:"acc_std"`
	// LossMean is the mean test cross-entropy at each step.
	LossMean []float64 `json:"loss_mean"`
	// Acc and Loss are per net: [checkpoint][net].
	Acc  [][]float32 `json:"test_acc"`
	Loss [][]float32 `json:"test_loss"`
}

// Result is what Compare measured.
type Result struct {
	Dataset       string     `json:"dataset"`
	Arch          string     `json:"arch"`
	Train         zoo.Config `json:"train"` // as run, defaults filled
	TrainExamples int        `json:"train_examples"`
	TestExamples  int        `json:"test_examples"`
	StepsPerEpoch int        `json:"steps_per_epoch"`
	Steps         []int64    `json:"steps"`
	Marks         []Mark     `json:"marks"`
	Sets          []Curve    `json:"sets"`
	Seconds       float64    `json:"wall_seconds"`
	// Zoo holds every net's checkpoints and metrics, the sets' nets concatenated in order.
	Zoo *traj.Zoo `json:"-"`
}

// initSalt keeps InitLaw's seeds apart from the data seeds derived from the same seed.
const initSalt = 0x6b61696d696e67 // "kaiming"

// InitLaw draws n nets of layout l from the init law (arch.InitPyTorch, arch.InitHeUniform),
// deterministically from seed.
func InitLaw(name string, l arch.Layout, law string, n int, seed uint64) (Set, error) {
	if n < 1 {
		return Set{}, fmt.Errorf("downstream: %d nets requested from %s; want at least 1", n, law)
	}
	w, err := arch.InitBatch(l, law, arch.RunSeeds(seed^initSalt, n))
	if err != nil {
		return Set{}, err
	}
	return Set{Name: name, Weights: w, Layout: l}, nil
}

// FromGenerated takes the first n nets of g (n ≤ 0: all), e.g. what `nmflow sample` wrote.
func FromGenerated(name string, g *traj.Generated, n int) (Set, error) {
	if n <= 0 {
		n = g.N
	}
	if n > g.N {
		return Set{}, fmt.Errorf("downstream: %d nets requested but the generated file holds %d; ask for at most %d or sample more", n, g.N, g.N)
	}
	return Set{Name: name, Weights: g.Weights[:n*g.P], Layout: g.Meta.Layout}, nil
}

// Compare fine-tunes every set on ds with cfg, all nets at once (see the package comment).
// opt is passed to zoo.TrainFrom (progress, backend, learning-rate cuts on divergence).
func Compare(ctx context.Context, cfg Config, ds *data.Dataset, sets []Set, opt zoo.Options) (*Result, error) {
	began := time.Now()
	net, err := arch.New(cfg.Train.Arch)
	if err != nil {
		return nil, err
	}
	p := net.Layout().Size()
	if len(sets) == 0 {
		return nil, fmt.Errorf("downstream: no sets of initial nets to compare")
	}
	seen := map[string]bool{}
	var all []float32
	var seeds []uint64
	counts := make([]int, len(sets))
	maxN := 0
	for _, s := range sets {
		maxN = max(maxN, len(s.Weights)/p)
	}
	dataSeeds := arch.RunSeeds(cfg.Train.Seed, maxN)
	for i, s := range sets {
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("downstream: set %d needs a name of its own (got %q)", i, s.Name)
		}
		seen[s.Name] = true
		if len(s.Layout.Segments) > 0 && !sameLayout(s.Layout, net.Layout()) {
			return nil, fmt.Errorf("downstream: set %q holds nets of another layout than %s (P=%d):\n  set:  %s\n  arch: %s\nfine-tune with the architecture the nets were made for (Config.Train.Arch)",
				s.Name, cfg.Train.Arch, p, layoutString(s.Layout), layoutString(net.Layout()))
		}
		if len(s.Weights) == 0 || len(s.Weights)%p != 0 {
			return nil, fmt.Errorf("downstream: set %q has %d weight values, not a whole number of %s nets (P=%d each); want [N,P] row-major",
				s.Name, len(s.Weights), cfg.Train.Arch, p)
		}
		counts[i] = len(s.Weights) / p
		all = append(all, s.Weights...)
		seeds = append(seeds, dataSeeds[:counts[i]]...)
	}

	train := cfg.Train
	train.Runs, train.Epochs, train.Checkpoints = len(all)/p, 1, 1
	if train, err = train.Defaults(); err != nil {
		return nil, err
	}
	trainN := ds.Train.N
	if train.TrainSize > 0 && train.TrainSize < trainN {
		trainN = train.TrainSize
	}
	spe := trainN / train.BatchSize
	if spe < 1 {
		return nil, fmt.Errorf("downstream: batch size %d is larger than the %d training examples", train.BatchSize, trainN)
	}
	total := cfg.Steps
	if total == 0 {
		total = 2 * int64(spe)
	}
	if total < 1 {
		return nil, fmt.Errorf("downstream: Steps must be ≥ 1 (0: two epochs), got %d", cfg.Steps)
	}
	steps, marks := Checkpoints(spe, total, cfg.Points)
	label := make([]string, len(sets))
	for i, s := range sets {
		label[i] = fmt.Sprintf("%s ×%d", s.Name, counts[i])
	}
	start := zoo.Start{Weights: all, Steps: steps, DataSeeds: seeds, Init: "downstream sets: " + strings.Join(label, ", ")}
	z, err := zoo.TrainFrom(ctx, train, ds, start, opt)
	if err != nil {
		return nil, fmt.Errorf("downstream: %w", err)
	}
	res := &Result{Dataset: ds.Name, Arch: train.Arch.String(), Train: train, TrainExamples: z.Meta.Dataset.Train,
		TestExamples: z.Meta.Dataset.Test, StepsPerEpoch: spe, Steps: steps, Marks: marks, Zoo: z}
	if err := json.Unmarshal([]byte(z.Meta.Extra[zoo.ExtraStartConfig]), &res.Train); err != nil {
		return nil, fmt.Errorf("downstream: reading back the training config: %w", err)
	}
	res.Train.Init = "" // the sets are the inits; no law was used
	lo := 0
	for i, s := range sets {
		c := Curve{Name: s.Name, N: counts[i]}
		for k := range steps {
			acc, loss := make([]float32, c.N), make([]float32, c.N)
			for j := range c.N {
				acc[j] = z.Metric(traj.MetricTestAcc, lo+j, k)
				loss[j] = z.Metric(traj.MetricTestLoss, lo+j, k)
			}
			sa := eval.Summarize(acc)
			c.Acc, c.Loss = append(c.Acc, acc), append(c.Loss, loss)
			c.AccMean, c.AccStd = append(c.AccMean, sa.Mean), append(c.AccStd, sa.Std)
			c.LossMean = append(c.LossMean, eval.Summarize(loss).Mean)
		}
		res.Sets = append(res.Sets, c)
		lo += c.N
	}
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// Checkpoints returns the steps Compare checkpoints at for stepsPerEpoch and total steps: the
// table's marks (step 0, ¼ epoch, 1 epoch — those not beyond total — and the final step) and `points`
// more spaced geometrically from step 1 to total (0: 8), sorted without repeats.
func Checkpoints(stepsPerEpoch int, total int64, points int) ([]int64, []Mark) {
	if points <= 0 {
		points = 8
	}
	spe := int64(stepsPerEpoch)
	cand := []Mark{{Label: "step 0"}, {Label: "1/4 epoch", Step: max(1, spe/4)}, {Label: "1 epoch", Step: spe}}
	var marks []Mark
	steps := []int64{total}
	for _, m := range cand {
		if m.Step <= total { // "1 epoch" and "final" share a step when total is one epoch
			marks = append(marks, m)
			steps = append(steps, m.Step)
		}
	}
	marks = append(marks, Mark{Label: "final", Step: total})
	for i := range points {
		f := 1.0
		if points > 1 {
			f = float64(i) / float64(points-1)
		}
		steps = append(steps, int64(math.Round(math.Pow(float64(total), f))))
	}
	slices.Sort(steps)
	steps = slices.Compact(steps)
	for i := range marks {
		marks[i].Index = slices.Index(steps, marks[i].Step)
	}
	return steps, marks
}

// Table returns the paper's table: one row per mark, one column per set with its mean ± std
// test accuracy.
func (r *Result) Table() (header []string, rows [][]string) {
	header = []string{"point", "step"}
	for _, c := range r.Sets {
		header = append(header, fmt.Sprintf("%s (n=%d)", c.Name, c.N))
	}
	for _, m := range r.Marks {
		row := []string{m.Label, fmt.Sprint(m.Step)}
		for _, c := range r.Sets {
			row = append(row, fmt.Sprintf("%.4f ± %.4f", c.AccMean[m.Index], c.AccStd[m.Index]))
		}
		rows = append(rows, row)
	}
	return header, rows
}

// Text renders the table with a line saying what was measured.
func (r *Result) Text() string {
	t := r.Train
	opt := fmt.Sprintf("%s lr %g", t.Optimizer, t.LR)
	if t.Optimizer == "sgd" && t.Momentum > 0 {
		opt += fmt.Sprintf(" momentum %g", t.Momentum)
	}
	if t.WeightDecay > 0 {
		opt += fmt.Sprintf(" weight decay %g", t.WeightDecay)
	}
	h, rows := r.Table()
	return fmt.Sprintf("test accuracy (mean ± std over nets) on %s (%d test examples) while fine-tuning %s: %s, batch %d, %d steps per epoch on %d examples, seed %d\n\n%s",
		r.Dataset, r.TestExamples, r.Arch, opt, t.BatchSize, r.StepsPerEpoch, r.TrainExamples, t.Seed, nb.TableText(h, rows))
}

// Bands returns one plot.Band per set: mean ± std test accuracy over the optimizer steps.
func (r *Result) Bands() []plot.Band {
	x := make([]float64, len(r.Steps))
	for i, s := range r.Steps {
		x[i] = float64(s)
	}
	out := make([]plot.Band, len(r.Sets))
	for i, c := range r.Sets {
		out[i] = plot.Band{Name: c.Name, X: x, Mean: c.AccMean, Std: c.AccStd}
	}
	return out
}

// Curve returns the named set's curve, or nil.
func (r *Result) Curve(name string) *Curve {
	for i := range r.Sets {
		if r.Sets[i].Name == name {
			return &r.Sets[i]
		}
	}
	return nil
}

func sameLayout(a, b arch.Layout) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func layoutString(l arch.Layout) string {
	parts := make([]string, len(l.Segments))
	for i, s := range l.Segments {
		parts[i] = fmt.Sprintf("%s%v", s.Name, s.Shape)
	}
	return strings.Join(parts, " ")
}
