package downstream

import (
	"context"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/internal/testutil"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

var quadrants = testutil.Quadrants // 3 classes on 1×4×4 images: which quadrant is bright

func tiny() *data.Dataset {
	return &data.Dataset{Name: "quadrants", Shape: []int{1, 4, 4}, Classes: []string{"a", "b", "c"},
		Train: quadrants(320, 1), Test: quadrants(150, 2), Source: "test"}
}

func tinyConfig() Config {
	return Config{Train: zoo.Config{Arch: arch.MLP([]int{1, 4, 4}, 3, 8), BatchSize: 32, LR: 0.05, Seed: 3, EvalTrain: 64}, Points: 3}
}

var quiet = zoo.Options{Progress: io.Discard}

// trained returns n nets trained on the task: what a good generator would produce.
func trained(t *testing.T, n int) Set {
	cfg := tinyConfig().Train
	cfg.Runs, cfg.Epochs, cfg.Checkpoints, cfg.LR, cfg.Seed = n, 4, 1, 0.2, 99
	z, err := zoo.Train(context.Background(), cfg, tiny(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	return Set{Name: "trained", Weights: z.Checkpoint(1), Layout: z.Meta.Layout}
}

func kaiming(t *testing.T, n int, seed uint64) Set {
	s, err := InitLaw("kaiming", arch.MustNew(tinyConfig().Train.Arch).Layout(), arch.InitPyTorch, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompareReproducibleAndDistinct(t *testing.T) {
	sets := []Set{trained(t, 4), kaiming(t, 4, 1)}
	cfg := tinyConfig()
	cfg.Steps = 25 // 10 steps per epoch
	a, err := Compare(context.Background(), cfg, tiny(), sets, quiet)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compare(context.Background(), cfg, tiny(), sets, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Sets, b.Sets) || !slices.Equal(a.Steps, b.Steps) {
		t.Fatal("the same config and sets gave different curves")
	}
	if want := []int64{0, 1, 2, 5, 10, 25}; !slices.Equal(a.Steps, want) || a.StepsPerEpoch != 10 {
		t.Fatalf("steps %v (per epoch %d), want %v", a.Steps, a.StepsPerEpoch, want)
	}
	tr, km := a.Curve("trained"), a.Curve("kaiming")
	if tr.AccMean[0] < 0.85 || km.AccMean[0] > 0.6 || km.AccMean[len(a.Steps)-1] < km.AccMean[0]+0.15 {
		t.Fatalf("trained starts at %.3f, kaiming at %.3f → %.3f", tr.AccMean[0], km.AccMean[0], km.AccMean[len(a.Steps)-1])
	}
	h, rows := a.Table()
	if len(h) != 4 || len(rows) != 4 || rows[1][0] != "1/4 epoch" || rows[1][1] != "2" || rows[3][1] != "25" {
		t.Fatalf("table %v %v", h, rows)
	}
	if txt := a.Text(); !strings.Contains(txt, "kaiming (n=4)") || !strings.Contains(txt, "±") {
		t.Fatalf("text:\n%s", txt)
	}
	if bs := a.Bands(); len(bs) != 2 || len(bs[1].X) != 6 || bs[1].Std[0] != km.AccStd[0] {
		t.Fatalf("bands %+v", bs)
	}
	if _, err := json.Marshal(a); err != nil {
		t.Fatal(err)
	}
	// A different Kaiming draw gives a different curve.
	c, err := Compare(context.Background(), cfg, tiny(), []Set{sets[0], kaiming(t, 4, 2)}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(c.Sets[1].Acc, a.Sets[1].Acc) || !reflect.DeepEqual(c.Sets[0], a.Sets[0]) {
		t.Fatal("another Kaiming draw should change its curve and only its curve")
	}
}

// Net i of every set sees the same minibatches: equal starts give equal curves.
func TestSetsArePaired(t *testing.T) {
	k := kaiming(t, 3, 7)
	twin := k
	twin.Name = "twin"
	cfg := tinyConfig()
	cfg.Steps = 12
	r, err := Compare(context.Background(), cfg, tiny(), []Set{k, twin}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Sets[0].Acc, r.Sets[1].Acc) || !reflect.DeepEqual(r.Sets[0].Loss, r.Sets[1].Loss) {
		t.Fatal("identical sets fine-tuned apart: the data order is not paired")
	}
	if r.Sets[0].Loss[0][0] == r.Sets[0].Loss[len(r.Steps)-1][0] {
		t.Fatal("no training happened")
	}
}

func TestCompareBadInput(t *testing.T) {
	cfg := tinyConfig()
	other := arch.MustNew(arch.MLP([]int{1, 4, 4}, 3, 5)).Layout()
	k := kaiming(t, 2, 1)
	wrongLayout := Set{Name: "other", Weights: make([]float32, 2*other.Size()), Layout: other}
	ragged := Set{Name: "ragged", Weights: k.Weights[:len(k.Weights)-1]}
	dup := k
	cases := []struct {
		sets []Set
		want string
	}{
		{nil, "no sets"},
		{[]Set{k, wrongLayout}, `set "other" holds nets of another layout`},
		{[]Set{ragged}, "not a whole number of mlp"},
		{[]Set{k, dup}, "needs a name of its own"},
	}
	for _, c := range cases {
		_, err := Compare(context.Background(), cfg, tiny(), c.sets, quiet)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
	if _, err := InitLaw("x", other, "nope", 2, 1); err == nil {
		t.Error("unknown init law accepted")
	}
}

func TestCheckpoints(t *testing.T) {
	steps, marks := Checkpoints(100, 300, 4)
	if want := []int64{0, 1, 7, 25, 45, 100, 300}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	if len(marks) != 4 || steps[marks[1].Index] != 25 || steps[marks[2].Index] != 100 || marks[3].Label != "final" || steps[marks[3].Index] != 300 {
		t.Fatalf("marks %+v", marks)
	}
	// Fewer steps than an epoch: no "1 epoch" row; exactly one epoch: "1 epoch" is "final".
	_, marks = Checkpoints(100, 60, 2)
	if len(marks) != 3 || marks[2].Label != "final" || marks[2].Step != 60 {
		t.Fatalf("marks %+v", marks)
	}
	steps, marks = Checkpoints(100, 100, 2)
	if len(marks) != 4 || marks[2].Index != marks[3].Index || steps[marks[3].Index] != 100 {
		t.Fatalf("steps %v marks %+v", steps, marks)
	}
}
