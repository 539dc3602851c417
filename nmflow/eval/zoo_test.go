package eval

import (
	"slices"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// ZooAccuracy judges nets on the zoo's own test examples with the zoo's normalization: the same
// numbers as Accuracy on the first Dataset.Test MNIST test images with pixels/255.
func TestZooAccuracy(t *testing.T) {
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	spec := arch.MLP([]int{1, 28, 28}, 10, 4)
	net := arch.MustNew(spec)
	w, err := arch.InitBatch(net.Layout(), arch.InitPyTorch, []uint64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	z := &traj.Zoo{Meta: traj.Meta{Arch: spec, Layout: net.Layout(), Dataset: traj.DatasetMeta{Name: "mnist", Test: 300}}}
	acc, loss, err := ZooAccuracy(be, z, w, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Load("mnist", data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantAcc, wantLoss, err := Accuracy(be, net, w, 3, ds.Test.Head(300), nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acc, wantAcc) || !slices.Equal(loss, wantLoss) {
		t.Errorf("ZooAccuracy %v %v, Accuracy %v %v", acc, loss, wantAcc, wantLoss)
	}
	if test, _, err := TestSet(z, 100, data.Options{}); err != nil || test.N != 100 {
		t.Errorf("TestSet limit 100: %d examples, %v", test.N, err)
	}
	z.Meta.Dataset.Name = ""
	if _, _, err := ZooAccuracy(be, z, w, 3, 0); err == nil {
		t.Error("a zoo without a dataset name was evaluated")
	}
}

// InputNorm takes the recorded statistics, falls back to the split's own for a zoo that
// standardized without recording them, and is pixels/255 without standardization.
func TestInputNorm(t *testing.T) {
	ds := data.NoiseMNIST(50, 10, 3)
	recorded := traj.DatasetMeta{Standardize: true, Mean: []float32{0.25}, Std: []float32{0.5}}
	n, fromSplit, err := InputNorm(recorded, ds)
	if err != nil || fromSplit || !n.On || n.Mean[0] != 0.25 || n.Std[0] != 0.5 {
		t.Errorf("recorded: %+v, fromSplit %v, err %v; want mean 0.25, std 0.5, on, not from the split", n, fromSplit, err)
	}
	n, fromSplit, err = InputNorm(traj.DatasetMeta{Standardize: true}, ds)
	mean, std := ds.ChannelStats()
	if err != nil || !fromSplit || n.Mean[0] != mean[0] || n.Std[0] != std[0] {
		t.Errorf("unrecorded: %+v, fromSplit %v, err %v; want the split's %v, %v", n, fromSplit, err, mean, std)
	}
	n, fromSplit, err = InputNorm(traj.DatasetMeta{}, ds)
	if err != nil || fromSplit || n.On {
		t.Errorf("no standardization: %+v, fromSplit %v, err %v; want off", n, fromSplit, err)
	}
}
