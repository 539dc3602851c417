package vae

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/adjoint"
	"github.com/nmflow/nmflow/nmflow/flow"
	"github.com/nmflow/nmflow/nmflow/solve"
)

// runDecoder evaluates a graph decoder on n rows of width d.
func runDecoder(t *testing.T, dec adjoint.Decoder, x []float32, n, d int) []float32 {
	t.Helper()
	e, err := NewExec(testBackend(t), func(z *Node) *Node { return dec(z) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, n, d))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// The graph decoders compute what the host code does: DecoderGraph = Decode on raw latents, and
// LatentFlow.Decoder = the flow's inverse normalization, then Decode.
func TestDecoderGraphMatchesDecode(t *testing.T) {
	z := tinyZoo(6, 3, 1)
	v := fitTiny(t, z, Config{LatentDim: 4, Width: 16, Depth: 2, Steps: 20, BatchSize: 8, Seed: 1})
	lf, err := FitLatent(context.Background(), v, z, flow.Config{Net: flow.NetConfig{Width: 8, Depth: 1, TimeDim: 4}, Steps: 2, BatchSize: 8},
		flow.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	const n, dz = 5, 4
	rng := rand.New(rand.NewPCG(7, 7))
	lat := make([]float32, n*dz)
	for i := range lat {
		lat[i] = float32(2 * rng.NormFloat64())
	}
	host, err := v.Decode(lat, n)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := v.DecoderGraph()
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(runDecoder(t, dec, lat, n, dz), host); !(d < 1e-4) {
		t.Errorf("DecoderGraph differs from Decode by %g", d)
	}
	// The flow's space: its normalizer (per latent coordinate, not the identity here) comes first.
	if slices.Equal(lf.Flow.Norm.Std, []float32{1, 1, 1, 1}) {
		t.Fatalf("the latent flow's normalizer is the identity: the test would not see it")
	}
	raw := append([]float32(nil), lat...)
	lf.Flow.Norm.Inverse(raw)
	if host, err = v.Decode(raw, n); err != nil {
		t.Fatal(err)
	}
	fdec, err := lf.Decoder()
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(runDecoder(t, fdec, lat, n, dz), host); !(d < 1e-4) {
		t.Errorf("LatentFlow.Decoder differs from denormalize+Decode by %g", d)
	}
	if _, err := (&Model{}).DecoderGraph(); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Errorf("DecoderGraph of an empty model: %v", err)
	}
}

// Reward fine-tuning of a latent meta-model through the decoder: a linear reward on the raw
// weights, r(θ) = aᵀθ, raises the mean aᵀθ of the decoded samples by a clear margin; λ = 0 leaves
// the samples exactly as the base's. The output folder is a latent meta-model (vae/ inside) that
// LoadLatent reads back to the same samples; a folder of another VAE is refused.
func TestLatentFineTuneThroughDecoder(t *testing.T) {
	ctx := context.Background()
	z := tinyZoo(16, 3, 1)
	v := fitTiny(t, z, Config{LatentDim: 4, Width: 32, Steps: 100, BatchSize: 16, LR: 1e-2, Seed: 1})
	// Velocity prediction on uniform times: adjoint matching's memoryless schedule is exact for
	// this base, as in package adjoint's closed-form test.
	fcfg := flow.Config{Coupling: flow.CouplingIndependent, Predict: flow.PredictVelocity, TimeSkew: 1,
		Net: flow.NetConfig{Width: 32, Depth: 1, TimeDim: 8}, Steps: 200, BatchSize: 32, LR: 3e-3, Seed: 1}
	lf, err := FitLatent(ctx, v, z, fcfg, flow.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	p := z.Params
	a := make([]float32, p)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range a {
		a[i] = float32(rng.NormFloat64() / math.Sqrt(float64(p)))
	}
	const n = 256
	opt := flow.SampleOptions{Solve: solve.Options{Method: "rk4", Steps: 10}, Seed: 9}
	score := func(m *LatentFlow) (mean, std float64, w []float32) {
		s, err := m.Sample(n, opt)
		if err != nil {
			t.Fatal(err)
		}
		var sum, sq float64
		for i := range n {
			var r float64
			for j, aj := range a {
				r += float64(aj) * float64(s.Weights[i*p+j])
			}
			sum, sq = sum+r, sq+r*r
		}
		mean = sum / n
		return mean, math.Sqrt(max(sq/n-mean*mean, 0)), s.Weights
	}
	_, bs, _ := score(lf)
	for i := range a { // aᵀθ of unit std under the base: the tilt then shifts its mean by ≈ λ std
		a[i] /= float32(bs)
	}
	bm, bs, bw := score(lf)
	cfg := adjoint.Config{Lambda: 1.5, Steps: 10, Times: 4, Batch: 32, Iters: 25, LR: 1e-2, Seed: 2}
	dir := filepath.Join(t.TempDir(), "tuned")
	res, tuned, err := lf.FineTune(ctx, adjoint.Linear(a), cfg, adjoint.Options{Dir: dir, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	fm, fs, fw := score(tuned)
	first, last := res.RewardHistory[0], res.RewardHistory[len(res.RewardHistory)-1]
	t.Logf("aᵀθ of decoded samples: base %.3f ± %.3f, fine-tuned (λ=%g) %.3f ± %.3f; SDE reward %.3f → %.3f", bm, bs, cfg.Lambda, fm, fs, first, last)
	if !(fm-bm > 0.5*bs) || !(last > first) {
		t.Errorf("fine-tuning through the decoder moved mean aᵀθ from %.3f to %.3f (base std %.3f), want a rise of > 0.5 std", bm, fm, bs)
	}
	if !IsLatent(dir) {
		t.Fatalf("%s has no VAE: 'nmflow sample' would not decode", dir)
	}
	loaded, err := LoadLatent(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, lw := score(loaded); !slices.Equal(lw, fw) {
		t.Error("the fine-tuned folder samples other nets than the returned model")
	}

	cfg.Lambda, cfg.Iters = 0, 5
	_, still, err := lf.FineTune(ctx, adjoint.Linear(a), cfg, adjoint.Options{Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, sw := score(still); !slices.Equal(sw, bw) {
		t.Errorf("λ = 0 changed the samples (max difference %g)", maxAbsDiff(sw, bw))
	}

	other := fitTiny(t, z, Config{LatentDim: 4, Width: 8, Steps: 2, BatchSize: 8, Seed: 1})
	if _, _, err := (&LatentFlow{VAE: other, Flow: lf.Flow}).FineTune(ctx, adjoint.Linear(a), cfg, adjoint.Options{Dir: dir, Progress: io.Discard}); err == nil ||
		!strings.Contains(err.Error(), "another VAE") {
		t.Errorf("fine-tuning into a folder of another VAE: %v", err)
	}
	if _, _, err := lf.FineTune(ctx, adjoint.Linear(a), cfg, adjoint.Options{Decoder: adjoint.Denormalize(nil, nil)}); err == nil ||
		!strings.Contains(err.Error(), "Decoder unset") {
		t.Errorf("a decoder of one's own: %v", err)
	}
}
