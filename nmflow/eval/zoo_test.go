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
