package eval

import (
	"encoding/json"
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float32{4, 1, 3, 2})
	want := Summary{Mean: 2.5, Median: 2.5, Max: 4, Min: 1, Std: math.Sqrt(1.25), N: 4}
	if s != want {
		t.Fatalf("Summarize = %+v, want %+v", s, want)
	}
	s = Summarize([]float64{5, math.NaN(), 1, math.Inf(1), 3})
	if s.N != 3 || s.NonFinite != 2 || s.Median != 3 || s.Mean != 3 || s.Max != 5 {
		t.Fatalf("non-finite handling: %+v", s)
	}
	if b, err := json.Marshal(Summarize([]float64{})); err != nil || string(b) != `{"mean":0,"median":0,"max":0,"min":0,"std":0,"n":0}` {
		t.Fatalf("empty summary JSON %s, %v", b, err)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{10, 0, 30, 20, 40} // sorted 0..40 step 10
	for _, c := range []struct{ q, want float64 }{{0, 0}, {5, 2}, {50, 20}, {62.5, 25}, {100, 40}} {
		if got := Percentile(xs, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Fatalf("Percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Fatal("empty percentile should be NaN")
	}
}
