package flow

// Conditioning on a task's support set (METHODS.md §6): v(x, t; y) with y the embedding of k
// images per class of the task, trained jointly with the velocity network, and classifier-free
// guidance at sampling.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// CondSupport is the support-set condition (CondConfig.Kind).
const CondSupport = "support"

// CondConfig makes a meta-model conditional on a support set (Config.Cond; fit with
// FitConditional). The set encoder is DeepSets-style: a shared two-layer SiLU MLP (Hidden units)
// on each image, the mean over the K images of each class, the class means concatenated in class
// order and mapped linearly to Net.CondDim (default 32) values y, which enter the velocity
// network's condition slot. With probability Drop a training example gets the learned null
// embedding ∅ instead, so the same network is also unconditional: v(x,t;∅).
type CondConfig struct {
	Kind     string   `json:"kind"`      // CondSupport
	Tasks    []string `json:"tasks"`     // the training tasks, in FitConditional's order (filled in by it)
	Classes  int      `json:"classes"`   // classes per task (filled in from the pools)
	K        int      `json:"k"`         // support images per class (default 5)
	ImageDim int      `json:"image_dim"` // values per image (filled in from the pools)
	Hidden   int      `json:"hidden"`    // width of the per-image MLP (default 64)
	Drop     float64  `json:"drop"`      // condition dropout p in (0,1) (default 0.1)
	// StepsPerRun is the step budget rule: with Config.Steps 0, FitConditional takes StepsPerRun
	// (default DefaultStepsPerRun) optimizer steps per run of all the tasks together, so that
	// every net is seen as often whatever the number of tasks and runs. A fitted model records
	// the factor here and the steps it gave in Config.Steps; 0 there: Steps was set explicitly.
	StepsPerRun int `json:"steps_per_run,omitempty"`
}

// DefaultStepsPerRun is CondConfig.StepsPerRun's default. Measured on notebook 04's task zoos
// (784-16-10 MLPs, 16 runs per task, width 128, batch 64; docs/conditional.md, "Step budget and
// task set"): MNIST and Fashion-MNIST at 25 steps per run (800 steps) reach 90% and 85% of their
// zoos at w = 2 (unaligned, the conditional default; 93% and 91% with a 256-wide velocity net,
// notebook 04's); aligned, 50 per run was no better than 25
// (84%/75% against 86%/78%); five tasks sharing 800 steps (10 per run) reached 61% and 57%.
const DefaultStepsPerRun = 25

func (c *CondConfig) defaults(net *NetConfig, method string, ruleSteps bool) error {
	if c.Kind == "" {
		c.Kind = CondSupport
	}
	if c.K == 0 {
		c.K = 5
	}
	if c.Hidden == 0 {
		c.Hidden = 64
	}
	if c.Drop == 0 {
		c.Drop = 0.1
	}
	if net.CondDim == 0 {
		net.CondDim = 32
	}
	if ruleSteps && c.StepsPerRun == 0 {
		c.StepsPerRun = DefaultStepsPerRun
	}
	switch {
	case c.StepsPerRun < 0:
		return fmt.Errorf("flow: condition steps per run must be ≥ 0 (0: the default %d when Steps is 0), got %d", DefaultStepsPerRun, c.StepsPerRun)
	case c.Kind != CondSupport:
		return fmt.Errorf("flow: unknown condition %q (want %s)", c.Kind, CondSupport)
	case method == MethodJKO:
		return fmt.Errorf("flow: %s fits a potential, not a velocity field; conditioning needs %s or %s", MethodJKO, MethodCFM, MethodMMFM)
	case c.K < 1 || c.Hidden < 1 || c.Classes < 0 || c.ImageDim < 0:
		return fmt.Errorf("flow: condition needs k ≥ 1 support images per class and hidden ≥ 1, got k=%d hidden=%d", c.K, c.Hidden)
	case !(c.Drop > 0 && c.Drop < 1):
		return fmt.Errorf("flow: condition dropout must be in (0,1) (guidance needs the null embedding trained), got %v", c.Drop)
	}
	return nil
}

// SupportPool holds the images a task's support sets are drawn from, by class.
type SupportPool struct {
	Dim     int         // values per image
	ByClass [][]float32 // ByClass[c]: the images of class c, [n_c, Dim] row-major
}

// Draw fills dst ([classes·k·Dim], class-major) with k distinct images of each class drawn with rng.
func (p *SupportPool) Draw(rng *rand.Rand, k int, dst []float32) error {
	if err := p.check(k); err != nil {
		return err
	}
	if len(dst) != len(p.ByClass)*k*p.Dim {
		return fmt.Errorf("flow: support buffer holds %d values, want %d classes × %d images × %d = %d", len(dst), len(p.ByClass), k, p.Dim, len(p.ByClass)*k*p.Dim)
	}
	picked := make([]int, 0, k)
	for c, imgs := range p.ByClass {
		n := len(imgs) / p.Dim
		picked = picked[:0]
		for len(picked) < k {
			if i := rng.IntN(n); !slices.Contains(picked, i) {
				picked = append(picked, i)
			}
		}
		for j, i := range picked {
			copy(dst[(c*k+j)*p.Dim:(c*k+j+1)*p.Dim], imgs[i*p.Dim:(i+1)*p.Dim])
		}
	}
	return nil
}

func (p *SupportPool) check(k int) error {
	if p == nil || p.Dim < 1 || len(p.ByClass) == 0 {
		return fmt.Errorf("flow: empty support pool (need images of every class)")
	}
	if k < 1 {
		return fmt.Errorf("flow: support sets need k ≥ 1 images per class, got %d", k)
	}
	least := -1
	for c, imgs := range p.ByClass {
		if len(imgs)%p.Dim != 0 {
			return fmt.Errorf("flow: support pool class %d holds %d values, not whole images of %d", c, len(imgs), p.Dim)
		}
		if n := len(imgs) / p.Dim; least < 0 || n < least {
			least = n
		}
	}
	if k > least {
		return fmt.Errorf("flow: support sets of k=%d images per class, but a class of the pool has only %d images; use k ≤ %d (--support-k)", k, least, least)
	}
	return nil
}

// CondTask is one task of a conditional fit: its zoo and the pool its support sets come from.
type CondTask struct {
	Name string
	Zoo  *traj.Zoo
	Pool *SupportPool
}

// condData is what the trainer needs besides the (merged) zoo: each run's task and the pools.
type condData struct {
	taskOf []int // [R] task of each run of the merged zoo
	pools  []*SupportPool
}

// FitConditional fits a meta-model conditioned on support sets (cfg.Cond, nil: the defaults)
// on the runs of several tasks, one zoo each, all of the same architecture and checkpoints.
// cfg.Steps 0 takes Cond.StepsPerRun steps per run of all the tasks (see CondConfig). Each
// minibatch example pairs a run of task T with T's support set of that step (one draw per task
// and step, a function of (Config.Seed, step) only); a fraction Cond.Drop of the examples sees
// the null embedding instead. The normalizer is fitted on all runs together.
func FitConditional(ctx context.Context, tasks []CondTask, cfg Config, opt Options) (*Model, error) {
	cc := CondConfig{}
	if cfg.Cond != nil {
		cc = *cfg.Cond
	}
	if _, err := MergeTasks(tasks); err != nil { // checked before aligning anything
		return nil, err
	}
	tasks, err := alignTasks(tasks, cfg)
	if err != nil {
		return nil, err
	}
	merged, err := MergeTasks(tasks)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(tasks))
	cd := &condData{}
	first := tasks[0]
	for i, tk := range tasks {
		names[i] = tk.Name
		if err := tk.Pool.check(max(cc.K, 1)); err != nil {
			return nil, fmt.Errorf("task %q: %w", tk.Name, err)
		}
		if len(tk.Pool.ByClass) != len(first.Pool.ByClass) || tk.Pool.Dim != first.Pool.Dim {
			return nil, fmt.Errorf("flow: task %q has %d classes of %d-value images, task %q %d of %d; all tasks need the same", tk.Name, len(tk.Pool.ByClass), tk.Pool.Dim, first.Name, len(first.Pool.ByClass), first.Pool.Dim)
		}
		for range tk.Zoo.Runs {
			cd.taskOf = append(cd.taskOf, i)
		}
		cd.pools = append(cd.pools, tk.Pool)
	}
	if cc.Tasks != nil && !slices.Equal(cc.Tasks, names) {
		return nil, fmt.Errorf("flow: Config.Cond.Tasks %v differ from the tasks given %v (leave it empty)", cc.Tasks, names)
	}
	cc.Tasks, cc.Classes, cc.ImageDim = names, len(first.Pool.ByClass), first.Pool.Dim
	switch rule := cc.StepsPerRun * merged.Runs; {
	case cfg.Steps == 0:
		if cc.StepsPerRun == 0 {
			cc.StepsPerRun = DefaultStepsPerRun
		}
		cfg.Steps = cc.StepsPerRun * merged.Runs
	case cc.StepsPerRun != 0 && cfg.Steps != rule:
		return nil, fmt.Errorf("flow: Config.Steps %d and Cond.StepsPerRun %d (× %d runs = %d) disagree; set one of them (Steps 0: the rule)", cfg.Steps, cc.StepsPerRun, merged.Runs, rule)
	}
	cfg.Cond = &cc
	return fit(ctx, merged, cfg, opt, cd)
}

// alignTasks aligns every task's zoo on its own when Config.Align is AlignWeights (a conditional
// fit's default is AlignNone): the nets of one task are permuted into one order, those of another
// into theirs, rather than all towards one net of the first task as aligning the merged zoo
// would. On notebook 04's MNIST and Fashion-MNIST zoos, at w = 2: 90% and 85% of the zoos
// unaligned, 83% and 82% aligned per task, 86% and 78% aligned merged (docs/conditional.md,
// "Step budget and task set").
func alignTasks(tasks []CondTask, cfg Config) ([]CondTask, error) {
	if cfg.Align != AlignWeights {
		return tasks, nil
	}
	target := cfg.Target
	if target == 0 {
		target = -1
	}
	out := slices.Clone(tasks)
	for i, tk := range out {
		if !NeedsAlign(AlignWeights, tk.Zoo) {
			continue
		}
		z, _, err := align.Zoo(tk.Zoo, align.Options{Checkpoint: target, Seed: cfg.Seed})
		if err != nil {
			return nil, fmt.Errorf("task %q: %w", tk.Name, err)
		}
		out[i].Zoo = z
	}
	return out, nil
}

// MergeTasks stacks the tasks' runs into one zoo, in task order (the first task's metadata; no
// metrics), after checking that every task has a zoo, a name of its own, and the same
// architecture, init law and checkpoints as the first: what a conditional fit (FitConditional)
// and a weight VAE shared by the tasks (vae.FitLatentCond) are trained on.
func MergeTasks(tasks []CondTask) (*traj.Zoo, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("flow: a conditional fit needs at least one task")
	}
	first := tasks[0]
	for i, tk := range tasks {
		if tk.Zoo == nil {
			return nil, fmt.Errorf("flow: task %q has no zoo", tk.Name)
		}
		for _, o := range tasks[:i] {
			if o.Name == tk.Name {
				return nil, fmt.Errorf("flow: task %q is listed twice", tk.Name)
			}
		}
		if tk.Zoo.Params != first.Zoo.Params || tk.Zoo.Checkpoints != first.Zoo.Checkpoints || tk.Zoo.Meta.Init != first.Zoo.Meta.Init ||
			tk.Zoo.Meta.Arch.String() != first.Zoo.Meta.Arch.String() {
			return nil, fmt.Errorf("flow: task %q's zoo (%s, P=%d, %d checkpoints, init %q) differs from task %q's (%s, P=%d, %d checkpoints, init %q); all tasks need the same architecture, init law and checkpoints",
				tk.Name, tk.Zoo.Meta.Arch, tk.Zoo.Params, tk.Zoo.Checkpoints, tk.Zoo.Meta.Init, first.Name, first.Zoo.Meta.Arch, first.Zoo.Params, first.Zoo.Checkpoints, first.Zoo.Meta.Init)
		}
	}
	z0 := first.Zoo
	m := &traj.Zoo{Meta: z0.Meta, Checkpoints: z0.Checkpoints, Params: z0.Params, Steps: z0.Steps}
	for _, tk := range tasks {
		m.Runs += tk.Zoo.Runs
		m.Weights = append(m.Weights, tk.Zoo.Weights...)
	}
	return m, nil
}

// condSalt separates the condition's random stream from the batch's, which stays unchanged.
const condSalt = 0x636f6e64 // "cond"

// condBatch draws step s's condition inputs: every task's support set [T, C·K·Dim] and the
// selection [B, T] (row i: one-hot of example i's task, all zero when its condition is dropped).
func (t *trainer) condBatch(s int, runs []int) ([]*tensors.Tensor, error) {
	cc, b := t.cfg.Cond, t.cfg.BatchSize
	rng := rand.New(rand.NewPCG(t.cfg.Seed^condSalt, uint64(s)+1))
	nt := len(t.cond.pools)
	sel := make([]float32, b*nt)
	for i, r := range runs {
		if rng.Float64() >= cc.Drop {
			sel[i*nt+t.cond.taskOf[r]] = 1
		}
	}
	per := cc.Classes * cc.K * cc.ImageDim
	sup := make([]float32, nt*per)
	for i, p := range t.cond.pools {
		if err := p.Draw(rng, cc.K, sup[i*per:(i+1)*per]); err != nil {
			return nil, err
		}
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(sup, nt, per), tensors.FromFlatDataAndDimensions(sel, b, nt)}, nil
}

// supportEmbedding maps support sets [T, C·K·Dim] to embeddings y [T, CondDim] (see CondConfig).
func supportEmbedding(scope *model.Scope, cc *CondConfig, condDim int, support *Node) *Node {
	nt := support.Shape().Dimensions[0]
	x := Reshape(support, nt*cc.Classes*cc.K, cc.ImageDim)
	h := swish(dense(scope.In("img0"), x, cc.Hidden, false))
	h = swish(dense(scope.In("img1"), h, cc.Hidden, false))
	pooled := ReduceMean(Reshape(h, nt, cc.Classes, cc.K, cc.Hidden), 2) // [T, C, Hidden]
	return dense(scope.In("set"), Reshape(pooled, nt, cc.Classes*cc.Hidden), condDim, false)
}

// nullEmbedding is the learned ∅ [CondDim] (starts at zero), broadcast to [B, CondDim] for rows [B, …].
func nullEmbedding(scope *model.Scope, condDim int, rows *Node) *Node {
	v := scope.WithInitializer(initializer.Zero).VariableWithShape("null", shapes.Make(dtypes.Float32, condDim))
	return BroadcastToDims(InsertAxes(v.NodeValue(rows.Graph()), 0), rows.Shape().Dimensions[0], condDim)
}

// trainCond is the training condition [B, CondDim]: sel·y + (1 − Σ_T sel)·∅.
func (t *trainer) trainCond(vel *model.Scope, support, sel *Node) *Node {
	cc, cd := t.cfg.Cond, t.cfg.Net.CondDim
	c := vel.In("cond")
	y := supportEmbedding(c, cc, cd, support)
	picked := DotGeneral(sel, []int{1}, nil, y, []int{0}, nil) // [B, CondDim]
	drop := InsertAxes(OneMinus(ReduceSum(sel, 1)), -1)
	return Add(picked, Mul(drop, nullEmbedding(c, cd, sel)))
}
