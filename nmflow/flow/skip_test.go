package flow

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/solve"
)

// TestSkipRemovesSourceNoiseOutsideTheOutputSpan: the network's output W_out·s spans only Width
// directions of the D weights, so without the per-coordinate skip term a sample keeps its source
// draw in the other D − Width − 1 directions (measured on MNIST zoos: generated nets at energy 2.3
// from the zoo, against −0.01 with the term). Here D = 48 and Width = 4: targets are N(μ, 0.05²)
// and only the skip term can shrink the source's unit spread in 43 directions.
func TestSkipRemovesSourceNoiseOutsideTheOutputSpan(t *testing.T) {
	be := testBackend(t)
	const p, runs, s = 48, 128, 0.05
	mu := make([]float64, p)
	for i := range mu {
		mu[i] = math.Sin(float64(i))
	}
	z := gaussZoo(p, runs, mu, s, 5)
	spread := map[string]float64{}
	for _, skip := range []string{SkipNone, SkipDiag} {
		cfg := Config{Source: SourceGaussian, Norm: NormNone, Net: NetConfig{Width: 4, TimeDim: 8, Skip: skip},
			Steps: 300, BatchSize: 64, LR: 1e-2, Seed: 2}
		m, err := Fit(context.Background(), z, cfg, Options{Backend: be, Progress: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{SkipNone: "", SkipDiag: SkipDiag}[skip]; m.Config.Net.Skip != want {
			t.Fatalf("model records skip %q, want %q", m.Config.Net.Skip, want)
		}
		const n = 256
		smp, err := m.Sample(n, SampleOptions{Solve: solve.Options{Method: "euler", Steps: 20}, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		_, std := moments(smp.Weights, n, p)
		var mean float64
		for _, v := range std {
			mean += v / p
		}
		spread[skip] = mean
	}
	t.Logf("mean per-coordinate std of the samples (targets %.2f, source 1): no skip %.3f, diag %.3f", s, spread[SkipNone], spread[SkipDiag])
	if spread[SkipNone] < 0.5 {
		t.Errorf("without the skip term the samples' spread is %.3f: the test no longer shows the span limit", spread[SkipNone])
	}
	if spread[SkipDiag] > 0.25 {
		t.Errorf("with the skip term the samples still spread %.3f per coordinate (targets %.2f)", spread[SkipDiag], s)
	}
}

// TestSkipNoneKeepsEarlierModelConfigs: the default (and an explicit SkipNone) must serialize as
// model.json did before the field existed, or every earlier fit would refuse to resume or be reused.
func TestSkipNoneKeepsEarlierModelConfigs(t *testing.T) {
	for _, skip := range []string{"", SkipNone} {
		c, err := Config{Net: NetConfig{Skip: skip}}.Defaults()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(c.Net)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "skip") {
			t.Errorf("Skip %q serializes as %s: earlier model.json files (no skip field) would no longer match", skip, b)
		}
	}
	if _, err := (Config{Net: NetConfig{Skip: "wide"}}).Defaults(); err == nil || !strings.Contains(err.Error(), "diag") {
		t.Errorf("unknown skip: error %v, want one naming the choices", err)
	}
}
