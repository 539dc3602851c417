package task

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// fakeMNIST is a 3-class dataset named mnist with 4×4 images whose pixel i of example j is j+i.
func fakeMNIST() *data.Dataset {
	split := func(n int) data.Split {
		s := data.Split{Images: make([]uint8, n*16), Labels: make([]int, n), N: n}
		for j := range n {
			s.Labels[j] = j % 3
			for i := range 16 {
				s.Images[j*16+i] = uint8(j*7 + i*11)
			}
		}
		return s
	}
	return &data.Dataset{Name: "mnist", Shape: []int{1, 4, 4}, Classes: []string{"a", "b", "c"}, Train: split(30), Test: split(9)}
}

func TestParse(t *testing.T) {
	s, err := Parse(" MNIST+rotate:45.0+perm:3 ")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "mnist+rotate:45+perm:3" || s.Dataset != "mnist" {
		t.Errorf("Parse = %q on %q, want mnist+rotate:45+perm:3 on mnist", s.Name, s.Dataset)
	}
	for _, bad := range []string{"mnistt", "mnist+perm:1.5", "mnist+rotate", "mnist+flip:1", "mnist+perm:-1"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "task") {
			t.Errorf("Parse(%q): err = %v, want a task error", bad, err)
		}
	}
}

func TestApply(t *testing.T) {
	ds := fakeMNIST()
	s, _ := Parse("mnist+perm:2")
	p, err := s.Apply(ds)
	if err != nil {
		t.Fatal(err)
	}
	perm := Permutation(2, 3)
	if slices.Equal(perm, []int{0, 1, 2}) {
		t.Fatalf("Permutation(2, 3) is the identity")
	}
	for i, l := range ds.Train.Labels {
		if p.Train.Labels[i] != perm[l] {
			t.Fatalf("train label %d: %d → %d, want %d", i, l, p.Train.Labels[i], perm[l])
		}
	}
	if p.Name != "mnist+perm:2" || p.Classes[perm[0]] != "a" || !slices.Equal(ds.Train.Labels[:3], []int{0, 1, 2}) {
		t.Errorf("permuted dataset: name %q classes %v; original labels changed: %v", p.Name, p.Classes, ds.Train.Labels[:3])
	}
	r, _ := Parse("mnist+rotate:90")
	rot, err := r.Apply(ds)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(rot.Test.Images, ds.Test.Images) || !slices.Equal(rot.Test.Labels, ds.Test.Labels) {
		t.Error("rotate:90 left the test pixels unchanged or changed the labels")
	}
	f, _ := Parse("fashion-mnist")
	if _, err := f.Apply(ds); err == nil {
		t.Error("a fashion-mnist task applied to mnist: no error")
	}
}

func TestPoolAndSupport(t *testing.T) {
	pool, err := Pool(fakeMNIST(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(pool.ByClass) != 3 || len(pool.ByClass[1]) != 4*16 || pool.ByClass[1][0] != float32(uint8(7))/255 {
		t.Fatalf("pool: %d classes, class 1 holds %d values starting %v", len(pool.ByClass), len(pool.ByClass[1]), pool.ByClass[1][:1])
	}
	a, err := Support(pool, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Support(pool, 3, 9)
	c, _ := Support(pool, 3, 10)
	if len(a) != 3*3*16 || !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Errorf("support sets: %d values (want 144); same seed equal %v (want true), other seed equal %v (want false)", len(a), slices.Equal(a, b), slices.Equal(a, c))
	}
	if _, err := Support(pool, 5, 1); err == nil || !strings.Contains(err.Error(), "k ≤ 4") {
		t.Errorf("k = 5 from 4 images per class: err = %v, want one saying k ≤ 4", err)
	}
}

// Train writes one zoo per task, reuses them, and Open finds them again by task.
func TestTrainOpen(t *testing.T) {
	dir := t.TempDir()
	cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 8), Runs: 2, Epochs: 2, Checkpoints: 2, BatchSize: 32, LR: 0.1, Momentum: 0.9, TrainSize: 512, TestSize: 100, EvalTrain: 64, Seed: 3}
	names := []string{"mnist+perm:1", "mnist"}
	set, err := Train(context.Background(), dir, names, cfg, data.Options{}, zoo.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.Names, names) || set.Zoos[0].Meta.Extra[ExtraTask] != "mnist+perm:1" {
		t.Fatalf("set names %v, first zoo's task %q", set.Names, set.Zoos[0].Meta.Extra[ExtraTask])
	}
	if _, err := os.Stat(filepath.Join(dir, "mnist+perm_1.safetensors")); err != nil {
		t.Fatal(err)
	}
	all, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all.Names, []string{"mnist", "mnist+perm:1"}) || !slices.Equal(all.Zoos[1].Weights, set.Zoos[0].Weights) {
		t.Errorf("Open: names %v, want [mnist mnist+perm:1] with the trained weights", all.Names)
	}
	if _, err := Open(dir, "mnist+rotate:10"); err == nil || !strings.Contains(err.Error(), "mnist+rotate:10") {
		t.Errorf("Open of a missing task: err = %v, want one naming it", err)
	}
	// The nets of task mnist do worse on its permutation than on mnist itself.
	ds, err := Load("mnist", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pds, _ := Load("mnist+perm:1", data.Options{})
	final := set.Zoos[1].Checkpoint(2)
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	own, err := Accuracy(be, set.Zoos[1].Meta.Arch, set.Zoos[1].Meta.Dataset, ds, final, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Accuracy(be, set.Zoos[1].Meta.Arch, set.Zoos[1].Meta.Dataset, pds, final, 2, 0)
	if !(own[0] > other[0]+0.2) {
		t.Errorf("accuracy of mnist nets: %.3f on mnist, %.3f on mnist+perm:1; want the first higher by > 0.2", own[0], other[0])
	}
}

// A name listed twice is refused before the first zoo trains, not after (here the training would
// fail at once on the cancelled context, with another error, and write the first zoo's folder).
func TestTaskListedTwiceIsRefusedBeforeTraining(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tasks")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := zoo.Config{Arch: arch.MLP([]int{1, 28, 28}, 10, 4), Runs: 1, Epochs: 1, Checkpoints: 1, TrainSize: 64, TestSize: 10}
	_, err := Train(ctx, dir, []string{"mnist", "fashion-mnist", "mnist"}, cfg, data.Options{}, zoo.Options{Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "mnist is listed twice") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the refused list created %s (%v)", dir, err)
	}
}
