package flow

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/solve"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// testPool has classes × n images of dim values: a task- and class-specific pattern plus noise.
func testPool(task, classes, n, dim int, seed uint64) *SupportPool {
	rng := rand.New(rand.NewPCG(seed, uint64(task)))
	p := &SupportPool{Dim: dim}
	for c := range classes {
		imgs := make([]float32, n*dim)
		for i := range imgs {
			pat := math.Sin(float64((task + 1) * (c + 2) * (i%dim + 1))) // fixed per (task, class, pixel)
			imgs[i] = float32(pat + 0.1*rng.NormFloat64())
		}
		p.ByClass = append(p.ByClass, imgs)
	}
	return p
}

// condTasks are two tasks whose trained weights sit at +2 and −2 in every coordinate.
func condTasks() []CondTask {
	const p, runs = 4, 16
	var out []CondTask
	for i, mu := range []float64{2, -2} {
		mus := []float64{mu, mu, mu, mu}
		out = append(out, CondTask{Name: []string{"plus", "minus"}[i], Zoo: gaussZoo(p, runs, mus, 0.1, uint64(10+i)), Pool: testPool(i, 3, 12, 6, 7)})
	}
	return out
}

func condConfig(steps int) Config {
	return Config{Source: SourceGaussian, Net: NetConfig{Width: 32, Depth: 1, TimeDim: 8, CondDim: 8}, Steps: steps, BatchSize: 32,
		LR: 3e-3, EMA: 0.9, Seed: 5, Cond: &CondConfig{K: 3, Hidden: 16, Drop: 0.2}}
}

func drawSupport(t *testing.T, m *Model, pool *SupportPool, seed uint64) []float32 {
	t.Helper()
	cc := m.Config.Cond
	sup := make([]float32, cc.Classes*cc.K*cc.ImageDim)
	if err := pool.Draw(rand.New(rand.NewPCG(seed, 1)), cc.K, sup); err != nil {
		t.Fatal(err)
	}
	return sup
}

func meanOf(w []float32) float64 {
	var s float64
	for _, v := range w {
		s += float64(v)
	}
	return s / float64(len(w))
}

// The condition steers the samples to the task's weights; guidance 0 is the unconditional field
// bit for bit (v∅ + 0·(vy − v∅) = v∅ exactly), guidance 1 the conditional field to float
// rounding; permuting the support set's classes changes y and the samples; same seed, same samples.
func TestConditionalGuidance(t *testing.T) {
	tasks := condTasks()
	dir := t.TempDir()
	m, err := FitConditional(context.Background(), tasks, condConfig(300), Options{Backend: testBackend(t), Dir: dir, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Config.Cond.Tasks; len(got) != 2 || got[0] != "plus" || m.Config.Cond.Classes != 3 || m.Config.Cond.ImageDim != 6 {
		t.Fatalf("Cond = %+v, want tasks [plus minus], 3 classes of 6 values", m.Config.Cond)
	}
	so := solve.Options{Method: "rk4", Steps: 20}
	sample := func(c *Condition, condOnly bool) []float32 {
		t.Helper()
		s, err := m.Sample(64, SampleOptions{Solve: so, Seed: 3, Cond: c, condOnly: condOnly})
		if err != nil {
			t.Fatal(err)
		}
		return s.Weights
	}
	supPlus, supMinus := drawSupport(t, m, tasks[0].Pool, 1), drawSupport(t, m, tasks[1].Pool, 1)
	plus, minus := sample(&Condition{Support: supPlus, Guidance: 1}, false), sample(&Condition{Support: supMinus, Guidance: 1}, false)
	if mp, mm := meanOf(plus), meanOf(minus); !(mp > 1.5 && mm < -1.5) {
		t.Errorf("conditional sample means %.3f (task plus) and %.3f (task minus), want > 1.5 and < −1.5", mp, mm)
	}
	uncond := sample(nil, false)
	if w0 := sample(&Condition{Support: supPlus, Guidance: 0}, false); !equalFloats(w0, uncond) {
		t.Errorf("guidance 0 differs from the unconditional sample (max |Δ| %g), want bit-identical", maxAbsDiff(w0, uncond))
	}
	if d := maxAbsDiff(plus, sample(&Condition{Support: supPlus}, true)); d > 1e-4 {
		t.Errorf("guidance 1 differs from the conditional field's sample by %g, want ≤ 1e-4", d)
	}
	if !equalFloats(plus, sample(&Condition{Support: supPlus, Guidance: 1}, false)) {
		t.Error("the same seed and condition gave different samples")
	}
	// The classes of a set in another order are another task (a label permutation).
	cc := m.Config.Cond
	per := cc.K * cc.ImageDim
	perm := append(append(append([]float32(nil), supPlus[per:2*per]...), supPlus[:per]...), supPlus[2*per:]...)
	if d := maxAbsDiff(plus, sample(&Condition{Support: perm, Guidance: 1}, false)); d < 1e-3 {
		t.Errorf("permuting the support set's classes changed the samples by %g only, want ≥ 1e-3", d)
	}
	// Load gives the same model.
	l, err := Load(dir, testBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Sample(64, SampleOptions{Solve: so, Seed: 3, Cond: &Condition{Support: supPlus, Guidance: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !equalFloats(s.Weights, plus) {
		t.Errorf("the loaded model samples differently (max |Δ| %g)", maxAbsDiff(s.Weights, plus))
	}
	if _, err := m.Sample(2, SampleOptions{Solve: so, Cond: &Condition{Support: supPlus[:10]}}); err == nil || !strings.Contains(err.Error(), "k=3") {
		t.Errorf("short support set: err = %v, want one naming k=3", err)
	}
}

// A conditional fit interrupted and resumed ends where an uninterrupted one does.
func TestConditionalResume(t *testing.T) {
	be := testBackend(t)
	cfg := condConfig(20)
	whole, err := FitConditional(context.Background(), condTasks(), cfg, Options{Backend: be, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opt := Options{Backend: be, Dir: dir, CheckpointEvery: 5, Progress: io.Discard, StopAfter: 7}
	if _, err := FitConditional(context.Background(), condTasks(), cfg, opt); err == nil {
		t.Fatal("StopAfter 7 of 20 steps: no error, want ErrStopped")
	}
	opt.StopAfter = 0
	resumed, err := FitConditional(context.Background(), condTasks(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !equalFloats(whole.History, resumed.History) {
		t.Errorf("loss history after resume\n%v\nwant\n%v", resumed.History, whole.History)
	}
}

func TestConditionalErrors(t *testing.T) {
	be := testBackend(t)
	tasks := condTasks()
	cfg := condConfig(5)
	cfg.Cond.K = 13 // the pools hold 12 images per class
	_, err := FitConditional(context.Background(), tasks, cfg, Options{Backend: be, Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "k ≤ 12") {
		t.Errorf("k too large: err = %v, want one saying k ≤ 12", err)
	}
	if _, err := Fit(context.Background(), tasks[0].Zoo, condConfig(5), Options{Backend: be, Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "FitConditional") {
		t.Errorf("Fit with Cond: err = %v, want one pointing to FitConditional", err)
	}
	cfg = condConfig(5)
	cfg.Cond.Drop = 1
	if _, err := FitConditional(context.Background(), tasks, cfg, Options{Backend: be, Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "dropout") {
		t.Errorf("drop 1: err = %v, want a dropout error", err)
	}
	u, err := Fit(context.Background(), tasks[0].Zoo, Config{Source: SourceGaussian, Net: NetConfig{Width: 8, Depth: 1, TimeDim: 4}, Steps: 2}, Options{Backend: be, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Sample(2, SampleOptions{Cond: &Condition{Support: []float32{1}}}); err == nil || !strings.Contains(err.Error(), "unconditional") {
		t.Errorf("Condition on an unconditional model: err = %v, want one saying it is unconditional", err)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := math.Inf(1)
	if len(a) == len(b) {
		d = 0
		for i := range a {
			d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		}
	}
	return d
}

// Steps 0 takes Cond.StepsPerRun steps per run of all the tasks (DefaultStepsPerRun unless set),
// recorded in the model's config; an explicit Steps leaves the rule out; both set and
// disagreeing is refused.
func TestConditionalStepRule(t *testing.T) {
	be := testBackend(t)
	tasks := condTasks() // 2 tasks × 16 runs
	cfg := condConfig(0)
	cfg.Cond.StepsPerRun = 1
	m, err := FitConditional(context.Background(), tasks, cfg, Options{Backend: be, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if m.Steps != 32 || m.Config.Steps != 32 || m.Config.Cond.StepsPerRun != 1 {
		t.Errorf("1 step per run of 32: fitted %d steps, config %d steps, %d per run", m.Steps, m.Config.Steps, m.Config.Cond.StepsPerRun)
	}
	def, err := condConfig(0).Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if def.Steps != 0 || def.Cond.StepsPerRun != DefaultStepsPerRun || def.WarmUp != 0 {
		t.Errorf("Defaults of a conditional config with Steps 0: steps %d, %d per run, warm-up %d; want 0 (set by FitConditional), %d, 0",
			def.Steps, def.Cond.StepsPerRun, def.WarmUp, DefaultStepsPerRun)
	}
	u, err := Config{}.Defaults()
	if err != nil || u.Steps != 2000 {
		t.Errorf("unconditional default steps %d (%v), want 2000", u.Steps, err)
	}
	explicit, err := FitConditional(context.Background(), tasks, condConfig(3), Options{Backend: be, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if explicit.Steps != 3 || explicit.Config.Cond.StepsPerRun != 0 {
		t.Errorf("explicit 3 steps: fitted %d, %d per run recorded (want 0)", explicit.Steps, explicit.Config.Cond.StepsPerRun)
	}
	bad := condConfig(5)
	bad.Cond.StepsPerRun = 2
	if _, err := FitConditional(context.Background(), tasks, bad, Options{Backend: be, Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("Steps 5 with 2 per run × 32 runs: err = %v, want one saying they disagree", err)
	}
}

// With AlignWeights a conditional fit aligns each task's zoo on its own (alignTasks): the result
// equals aligning that task's zoo alone, whatever the other tasks; AlignNone — a conditional
// fit's default — leaves the zoos as they are; the caller's tasks are not modified.
func TestConditionalAlignsPerTask(t *testing.T) {
	net := arch.MustNew(arch.MLP([]int{4}, 2, 3))
	mk := func(seed uint64) *traj.Zoo { // odd runs have hidden units 0 and 1 swapped
		z := driftZoo(net.Layout(), 6, 2, seed)
		z.Meta.Arch = net.Spec()
		for r := 1; r < z.Runs; r += 2 {
			for k := range z.Checkpoints {
				w := z.At(r, k) // fc1.weight [3,4], fc1.bias [3], fc2.weight [2,3], fc2.bias [2]
				for j := range 4 {
					w[j], w[4+j] = w[4+j], w[j]
				}
				w[12], w[13] = w[13], w[12]
				for o := range 2 {
					w[15+3*o], w[15+3*o+1] = w[15+3*o+1], w[15+3*o]
				}
			}
		}
		return z
	}
	tasks := []CondTask{{Name: "a", Zoo: mk(1)}, {Name: "b", Zoo: mk(2)}}
	before := slices.Clone(tasks[1].Zoo.Weights)
	got, err := alignTasks(tasks, Config{Align: AlignWeights, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	alone, _, err := align.Zoo(tasks[1].Zoo, align.Options{Checkpoint: -1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got[1].Zoo.Meta.Aligned == nil || !slices.Equal(got[1].Zoo.Weights, alone.Weights) {
		t.Error("task b's zoo is not aligned on its own")
	}
	if slices.Equal(got[1].Zoo.Weights, before) {
		t.Error("alignment changed nothing: the test zoo needs permuted units")
	}
	if tasks[1].Zoo.Meta.Aligned != nil || !slices.Equal(tasks[1].Zoo.Weights, before) {
		t.Error("alignTasks modified the caller's zoo")
	}
	none, err := alignTasks(tasks, Config{Align: AlignNone})
	if err != nil || none[1].Zoo != tasks[1].Zoo {
		t.Errorf("AlignNone: zoo replaced (%v)", err)
	}
	def, err := condConfig(5).Defaults()
	if err != nil || def.Align != AlignNone {
		t.Errorf("a conditional config's default alignment is %q (%v), want %q", def.Align, err, AlignNone)
	}
	if u, _ := (Config{}).Defaults(); u.Align != AlignWeights {
		t.Errorf("an unconditional config's default alignment is %q, want %q", u.Align, AlignWeights)
	}
}
