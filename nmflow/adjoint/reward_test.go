package adjoint

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/feed"
)

// The cross-entropy reward is −(eval's mean cross-entropy) and its accuracy is eval's, and its
// autodiff gradient matches a central finite difference. Every example of the split is the same
// image and label, so any minibatch drawn with replacement gives the split's values.
func TestCrossEntropyReward(t *testing.T) {
	be := testBackend(t)
	net := arch.MustNew(arch.MLP([]int{1, 2, 4}, 3, 5))
	p := net.Layout().Size()
	const n = 40
	img := []uint8{0, 30, 200, 255, 17, 90, 140, 60}
	norm, err := feed.NewNorm([]float32{0.4}, []float32{0.3}, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	const models = 4
	theta, err := arch.InitBatch(net.Layout(), arch.InitPyTorch, []uint64{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range theta {
		theta[i] *= 4 // spread the logits
	}
	// The label: one that some nets get right and others not, so the accuracy check can fail.
	var split data.Split
	var wantAcc, wantLoss []float32
	for label := range 3 {
		split = data.Split{N: n}
		for range n {
			split.Images = append(split.Images, img...)
			split.Labels = append(split.Labels, label)
		}
		if wantAcc, wantLoss, err = eval.Accuracy(be, net, theta, models, split, nil, norm, 0); err != nil {
			t.Fatal(err)
		}
		if s := wantAcc[0] + wantAcc[1] + wantAcc[2] + wantAcc[3]; s > 0 && s < models {
			break
		}
	}
	r, err := NewCrossEntropy(net, "toy", split, norm, 16)
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Inputs(rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := make([]float32, models*p)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range dir {
		dir[i] = float32(rng.NormFloat64())
	}
	e, err := NewExec(be, func(xs []*Node) []*Node {
		th, d, eps := xs[0], xs[1], xs[2]
		rv, metrics := r.Graph(th, xs[3:])
		g := Gradient(ReduceAllSum(rv), th)[0]
		plus, _ := r.Graph(Add(th, Mul(d, eps)), xs[3:])
		minus, _ := r.Graph(Sub(th, Mul(d, eps)), xs[3:])
		return []*Node{rv, metrics[0], ReduceAllSum(Mul(g, d)), Div(ReduceAllSum(Sub(plus, minus)), MulScalar(eps, 2))}
	})
	if err != nil {
		t.Fatal(err)
	}
	args := []any{tensors.FromFlatDataAndDimensions(theta, models, p), tensors.FromFlatDataAndDimensions(dir, models, p), float32(1e-2)}
	for _, x := range in {
		args = append(args, x)
	}
	out, err := e.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	rv, acc := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	for i := range models {
		if math.Abs(float64(rv[i]+wantLoss[i])) > 1e-4*(1+math.Abs(float64(wantLoss[i]))) || acc[i] != wantAcc[i] {
			t.Errorf("net %d: reward %v accuracy %v, want −%v and %v", i, rv[i], acc[i], wantLoss[i], wantAcc[i])
		}
	}
	if s := wantAcc[0] + wantAcc[1] + wantAcc[2] + wantAcc[3]; s == 0 || s == models {
		t.Fatalf("no label splits the nets into right and wrong (accuracies %v); change the seeds", wantAcc)
	}
	ad, fd := tensors.MustCopyFlatData[float32](out[2])[0], tensors.MustCopyFlatData[float32](out[3])[0]
	if math.Abs(float64(ad-fd)) > 0.02*math.Abs(float64(fd))+1e-3 {
		t.Errorf("directional derivative: autodiff %v, finite difference %v", ad, fd)
	}
	if r.Name() != "ce:toy" || len(r.Metrics()) != 1 {
		t.Errorf("name %q, metrics %v", r.Name(), r.Metrics())
	}
	if _, err := NewCrossEntropy(net, "bad", data.Split{N: 1, Images: img, Labels: []int{7}}, nil, 4); err == nil {
		t.Error("a label beyond the net's classes was accepted")
	}
}
