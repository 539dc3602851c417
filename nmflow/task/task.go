package task

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/data/shift"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// Defaults is the default task set (`nmflow tasks`, notebook 04): two distinct datasets. Tasks
// that are variants of one dataset (mnist+perm:1, mnist+rotate:30) make a conditional model
// spend its budget telling near-copies apart (docs/conditional.md, "Step budget and task set").
var Defaults = []string{"mnist", "fashion-mnist"}

// Spec is a parsed task name.
type Spec struct {
	Name    string // canonical name
	Dataset string // base dataset (data.Names)
	ops     []op
}

type op struct {
	kind string // "perm" or "rotate"
	arg  float64
}

// Parse reads a task name (see the package doc).
func Parse(name string) (Spec, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(name)), "+")
	if !slices.Contains(data.Names(), parts[0]) {
		return Spec{}, fmt.Errorf("task: unknown dataset %q in task %q (want one of %s, then +perm:SEED or +rotate:DEG, e.g. mnist+rotate:45)", parts[0], name, strings.Join(data.Names(), ", "))
	}
	s := Spec{Dataset: parts[0]}
	canon := []string{parts[0]}
	for _, p := range parts[1:] {
		kind, arg, _ := strings.Cut(p, ":")
		v, err := strconv.ParseFloat(arg, 64)
		switch {
		case kind == "perm" && err == nil && v >= 0 && v == float64(uint64(v)):
		case kind == "rotate" && err == nil && v > -360 && v < 360:
		default:
			return Spec{}, fmt.Errorf("task: bad transform %q in task %q (want perm:SEED with an integer seed ≥ 0, or rotate:DEG with |DEG| < 360)", p, name)
		}
		s.ops = append(s.ops, op{kind, v})
		canon = append(canon, kind+":"+strconv.FormatFloat(v, 'g', -1, 64))
	}
	s.Name = strings.Join(canon, "+")
	return s, nil
}

// Permutation returns the label permutation of "perm:seed" for classes labels: a seeded shuffle,
// never the identity.
func Permutation(seed uint64, classes int) []int {
	rng := rand.New(rand.NewPCG(seed, 0x7065726d)) // "perm"
	for {
		p := rng.Perm(classes)
		for i, v := range p {
			if i != v {
				return p
			}
		}
		if classes < 2 {
			return p
		}
	}
}

// Apply returns the task's dataset: ds with its transforms applied to both splits, named after
// the task. ds must be the task's base dataset.
func (s Spec) Apply(ds *data.Dataset) (*data.Dataset, error) {
	if ds.Name != s.Dataset {
		return nil, fmt.Errorf("task %s: applied to dataset %q, want %q", s.Name, ds.Name, s.Dataset)
	}
	out := *ds
	out.Name, out.Extra = s.Name, nil
	for _, o := range s.ops {
		switch o.kind {
		case "rotate":
			sh, err := shift.Parse("rotate:" + strconv.FormatFloat(o.arg, 'g', -1, 64))
			if err != nil {
				return nil, err
			}
			if out.Train, err = sh.Apply(out.Train, out.Shape, 1); err != nil {
				return nil, err
			}
			if out.Test, err = sh.Apply(out.Test, out.Shape, 2); err != nil {
				return nil, err
			}
		case "perm":
			perm := Permutation(uint64(o.arg), len(ds.Classes))
			out.Train, out.Test = relabel(out.Train, perm), relabel(out.Test, perm)
			names := make([]string, len(out.Classes))
			for old, nw := range perm {
				names[nw] = out.Classes[old]
			}
			out.Classes = names
		}
	}
	return &out, nil
}

func relabel(s data.Split, perm []int) data.Split {
	l := make([]int, len(s.Labels))
	for i, v := range s.Labels {
		l[i] = perm[v]
	}
	s.Labels = l
	return s
}

// Load loads the task's base dataset (data.Load) and applies the task.
func Load(name string, opt data.Options) (*data.Dataset, error) {
	s, err := Parse(name)
	if err != nil {
		return nil, err
	}
	ds, err := data.Load(s.Dataset, opt)
	if err != nil {
		return nil, err
	}
	return s.Apply(ds)
}

// Pool collects the support-set images of a task's dataset: the first perClass training images
// of each class (pixels/255, as the set encoder sees them).
func Pool(ds *data.Dataset, perClass int) (*flow.SupportPool, error) {
	if perClass < 1 {
		return nil, fmt.Errorf("task: a support pool needs ≥ 1 image per class, got %d", perClass)
	}
	d := ds.ExampleSize()
	p := &flow.SupportPool{Dim: d, ByClass: make([][]float32, len(ds.Classes))}
	for i, l := range ds.Train.Labels {
		if l < 0 || l >= len(p.ByClass) {
			return nil, fmt.Errorf("task: %s train label %d outside 0..%d", ds.Name, l, len(p.ByClass)-1)
		}
		if len(p.ByClass[l]) < perClass*d {
			for _, v := range ds.Train.Images[i*d : (i+1)*d] {
				p.ByClass[l] = append(p.ByClass[l], float32(v)/255)
			}
		}
	}
	for c, imgs := range p.ByClass {
		if len(imgs) == 0 {
			return nil, fmt.Errorf("task: %s has no training image of class %d", ds.Name, c)
		}
	}
	return p, nil
}

// Support draws one support set of k images per class from pool, a function of seed only.
func Support(pool *flow.SupportPool, k int, seed uint64) ([]float32, error) {
	dst := make([]float32, len(pool.ByClass)*k*pool.Dim)
	return dst, pool.Draw(rand.New(rand.NewPCG(seed, 0x737570)), k, dst) // "sup"
}

// Accuracy tests n nets (weights [n,P] of architecture spec) on the task dataset ds's test split
// as a zoo with dataset record m tested its nets (its first m.Test examples, its input
// normalization); limit > 0 keeps only the first limit examples.
func Accuracy(be compute.Backend, spec arch.Spec, m traj.DatasetMeta, ds *data.Dataset, weights []float32, n, limit int) ([]float32, error) {
	test, norm, err := eval.TestSplit(m, ds, limit)
	if err != nil {
		return nil, err
	}
	net, err := arch.New(spec)
	if err != nil {
		return nil, err
	}
	acc, _, err := eval.Accuracy(be, net, weights, n, test, nil, norm, 32)
	return acc, err
}

// ExtraTask is the zoo metadata key (Meta.Extra) naming a task zoo's task.
const ExtraTask = "task"

// FileName is the zoo file of a task in a Set folder: the name with ':' as '_'.
func FileName(name string) string {
	return strings.ReplaceAll(name, ":", "_") + ".safetensors"
}

// Set is a multi-task zoo: one zoo per task, in the order of Names.
type Set struct {
	Dir   string
	Names []string
	Zoos  []*traj.Zoo
}

// Train trains (or reuses, see zoo.TrainOrReuse) one zoo per task into dir with cfg and returns
// the set. Every zoo has the same cfg, seed included.
func Train(ctx context.Context, dir string, names []string, cfg zoo.Config, dopt data.Options, opt zoo.Options) (*Set, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("task: no tasks to train (want names such as mnist, fashion-mnist, mnist+perm:1)")
	}
	// Every name is checked before the first zoo trains: a typo in the last one must not cost the others' training.
	specs := make([]Spec, len(names))
	for i, name := range names {
		s, err := Parse(name)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(specs[:i], func(o Spec) bool { return o.Name == s.Name }) {
			return nil, fmt.Errorf("task: %s is listed twice", s.Name)
		}
		specs[i] = s
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	set := &Set{Dir: dir}
	for _, s := range specs {
		path := filepath.Join(dir, FileName(s.Name))
		z, _, err := zoo.TrainOrReuse(ctx, path, cfg, func() (*data.Dataset, error) { return Load(s.Name, dopt) }, opt)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", s.Name, err)
		}
		if z.Meta.Extra[ExtraTask] != s.Name {
			if z.Meta.Extra == nil {
				z.Meta.Extra = map[string]string{}
			}
			z.Meta.Extra[ExtraTask] = s.Name
			if err := traj.WriteZoo(path, z); err != nil {
				return nil, err
			}
		}
		set.Names, set.Zoos = append(set.Names, s.Name), append(set.Zoos, z)
	}
	return set, nil
}

// Open reads the zoos of the named tasks from dir, or of every task zoo there (by name) when
// names is empty.
func Open(dir string, names ...string) (*Set, error) {
	if len(names) == 0 {
		files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		if err != nil {
			return nil, fmt.Errorf("task: %w", err)
		}
		for _, f := range files {
			z, err := traj.ReadZoo(f)
			if err != nil {
				return nil, err
			}
			if n := z.Meta.Extra[ExtraTask]; n != "" {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("task: %s holds no task zoo; train one with 'nmflow tasks --tasks mnist,fashion-mnist,... --out %s'", dir, dir)
		}
		slices.Sort(names)
	}
	set := &Set{Dir: dir}
	for _, name := range names {
		s, err := Parse(name)
		if err != nil {
			return nil, err
		}
		z, err := traj.ReadZoo(filepath.Join(dir, FileName(s.Name)))
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", s.Name, err)
		}
		if got := z.Meta.Extra[ExtraTask]; got != s.Name {
			return nil, fmt.Errorf("task: %s is the zoo of task %q, want %q", filepath.Join(dir, FileName(s.Name)), got, s.Name)
		}
		set.Names, set.Zoos = append(set.Names, s.Name), append(set.Zoos, z)
	}
	return set, nil
}

// CondTasks loads every task's dataset and support pool (perClass images per class) and pairs
// them with the zoos, as flow.FitConditional takes them.
func (s *Set) CondTasks(perClass int, dopt data.Options) ([]flow.CondTask, error) {
	out := make([]flow.CondTask, len(s.Names))
	for i, name := range s.Names {
		ds, err := Load(name, dopt)
		if err != nil {
			return nil, err
		}
		pool, err := Pool(ds, perClass)
		if err != nil {
			return nil, err
		}
		out[i] = flow.CondTask{Name: name, Zoo: s.Zoos[i], Pool: pool}
	}
	return out, nil
}
