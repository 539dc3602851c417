package vae

import (
	"fmt"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/eval"
	"github.com/nmflow/nmflow/nmflow/task"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Reconstruction compares the zoo's nets at one checkpoint with their VAE reconstructions
// D(E(θ)): test accuracy of both (the number that matters, METHODS.md §5) and the error in
// normalized space, per parameter.
type Reconstruction struct {
	Checkpoint   int          `json:"checkpoint"`    // zoo checkpoint compared
	N            int          `json:"n"`             // nets compared (the zoo's runs)
	TestExamples int          `json:"test_examples"` // test examples each net was scored on (0: the zoo's whole test set)
	Original     eval.Summary `json:"original_accuracy"`
	Decoded      eval.Summary `json:"decoded_accuracy"`
	// OriginalAcc and DecodedAcc are per net, in run order.
	OriginalAcc []float32 `json:"original_per_net"`
	DecodedAcc  []float32 `json:"decoded_per_net"`
	// MSE is the mean squared error per parameter in normalized space at this checkpoint;
	// MSEAll over every checkpoint of the zoo (what the VAE was trained on).
	MSE    float64 `json:"mse"`
	MSEAll float64 `json:"mse_all_checkpoints"`
}

// Evaluate measures the reconstruction of z's nets at checkpoint k (negative counts from the
// end: -1 is the final one) on the zoo's test set (its first limit examples when limit > 0), and
// keeps the result in m.Reconstruction (saved with the model). Originals and reconstructions run
// through one compiled evaluator.
func (m *Model) Evaluate(be compute.Backend, z *traj.Zoo, k, limit int) (*Reconstruction, error) {
	res, err := m.EvaluateOn(be, z, nil, k, limit)
	if err != nil {
		return nil, err
	}
	m.Reconstruction = res
	return res, nil
}

// EvaluateOn is Evaluate on the test split of ds, a dataset already loaded (nil: the zoo's own,
// as Evaluate), e.g. a task's (task.Load) for a task zoo; it keeps nothing in m.
func (m *Model) EvaluateOn(be compute.Backend, z *traj.Zoo, ds *data.Dataset, k, limit int) (*Reconstruction, error) {
	if err := m.CheckZoo(z); err != nil {
		return nil, err
	}
	z, err := m.AlignZoo(z) // the nets as the VAE saw them in training; functions unchanged
	if err != nil {
		return nil, err
	}
	if k < 0 {
		k += z.Checkpoints
	}
	if k < 0 || k >= z.Checkpoints {
		return nil, fmt.Errorf("vae: checkpoint %d out of range 0..%d (negative counts from the end)", k, z.Checkpoints-1)
	}
	if be == nil {
		be = m.be
	}
	all, err := m.Reconstruct(z.Weights, z.Runs*z.Checkpoints)
	if err != nil {
		return nil, err
	}
	r, p := z.Runs, z.Params
	orig, dec := z.Checkpoint(k), make([]float32, 0, r*p)
	for i := 0; i < r; i++ {
		off := (i*z.Checkpoints + k) * p
		dec = append(dec, all[off:off+p]...)
	}
	res := &Reconstruction{Checkpoint: k, N: r, TestExamples: limit,
		MSE: m.normMSE(orig, dec), MSEAll: m.normMSE(z.Weights, all)}
	var acc []float32
	if ds == nil {
		acc, _, err = eval.ZooAccuracy(be, z, append(orig, dec...), 2*r, limit)
	} else {
		acc, err = task.Accuracy(be, z.Meta.Arch, z.Meta.Dataset, ds, append(orig, dec...), 2*r, limit)
	}
	if err != nil {
		return nil, err
	}
	res.OriginalAcc, res.DecodedAcc = acc[:r], acc[r:]
	res.Original, res.Decoded = eval.Summarize(res.OriginalAcc), eval.Summarize(res.DecodedAcc)
	return res, nil
}

// normMSE is the mean squared difference of two raw weight matrices in normalized space.
func (m *Model) normMSE(a, b []float32) float64 {
	p := m.P()
	var s float64
	for i := range a {
		d := float64(a[i]-b[i]) / float64(m.Norm.Std[i%p])
		s += d * d
	}
	return s / float64(len(a))
}
