package flow

import (
	"math"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/solve"
)

// StartTime 0 with Near is the usual sampler bit for bit; StartTime 1 returns Near unchanged;
// in between the nets land between the two, closer to Near the later the start, and bad
// combinations are refused with the fix.
func TestSampleStartTime(t *testing.T) {
	z := driftZoo(tinyLayout(), 16, 3, 1)
	m, err := fitQuiet(t, z, smallConfig(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	so := solve.Options{Method: "rk4", Steps: 8}
	f := append([]float32(nil), z.At(0, z.Checkpoints-1)...)
	p := len(f)
	usual, err := m.Sample(4, SampleOptions{Solve: so, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	zero, err := m.Sample(4, SampleOptions{Solve: so, Seed: 3, Near: f})
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, "StartTime 0 with Near", usual, zero)
	if zero.Steps != usual.Steps {
		t.Errorf("StartTime 0 took %d steps, the usual sampler %d", zero.Steps, usual.Steps)
	}
	one, err := m.Sample(4, SampleOptions{Solve: so, Seed: 3, Near: f, StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range one.Weights {
		if w != f[i%p] {
			t.Fatalf("StartTime 1: weight %d is %v, want f's %v", i, w, f[i%p])
		}
	}
	// The distance to f shrinks as the start moves towards it.
	dist := func(t0 float64) float64 {
		s, err := m.Sample(4, SampleOptions{Solve: so, Seed: 3, Near: f, StartTime: t0})
		if err != nil {
			t.Fatal(err)
		}
		if want := max(1, int(math.Round(8*(1-t0)))); s.Steps != want {
			t.Errorf("StartTime %v: %d steps, want %d", t0, s.Steps, want)
		}
		var d float64
		for i, w := range s.Weights {
			d += math.Pow(float64(w-f[i%p]), 2)
		}
		return math.Sqrt(d / 4)
	}
	d0, d5, d9 := dist(0), dist(0.5), dist(0.9)
	t.Logf("RMS distance to f: start 0 %.3f, 0.5 %.3f, 0.9 %.3f", d0, d5, d9)
	if !(d9 < d5 && d5 < d0) {
		t.Errorf("distances to f %.3f, %.3f, %.3f for starts 0, 0.5, 0.9: want decreasing", d0, d5, d9)
	}
	// From as the state at StartTime: the same nets as Near when From is Near's noised start.
	half, err := m.Sample(4, SampleOptions{Solve: so, Seed: 3, Near: f, StartTime: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	from, err := m.Sample(4, SampleOptions{Solve: so, From: half.Inits, StartTime: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if worst := maxAbsDiff(half.Weights, from.Weights); worst > 1e-4 {
		t.Errorf("From = Near's noised start moved the nets by up to %g", worst)
	}
	at, err := m.Sample(4, SampleOptions{Solve: so, Seed: 3, Near: f, StartTime: 0.5, At: []float64{0.75}})
	if err != nil || len(at.Marginals) != 1 {
		t.Fatalf("At after StartTime: %v", err)
	}
	for _, c := range []struct {
		opt  SampleOptions
		want string
	}{
		{SampleOptions{StartTime: 1.5, Near: f}, "must be in [0, 1]"},
		{SampleOptions{StartTime: math.NaN(), Near: f}, "must be in [0, 1]"},
		{SampleOptions{StartTime: 0.5}, "set Near"},
		{SampleOptions{StartTime: 0.5, Near: f, From: half.Inits}, "not both"},
		{SampleOptions{StartTime: 0.5, Near: f[:3]}, "Near holds 3 values"},
		{SampleOptions{StartTime: 0.5, Near: f, At: []float64{0.25}}, "within (0.5, 1]"},
	} {
		if _, err := m.Sample(4, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.opt.StartTime, err, c.want)
		}
	}
}
