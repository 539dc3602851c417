package testutil_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/nmflow/nmflow/nmflow/internal/testutil"
)

func TestSameBits(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	for _, c := range []struct {
		a, b []float32
		want bool
	}{
		{[]float32{1, 2}, []float32{1, 2}, true},
		{[]float32{nan}, []float32{nan}, true},
		{[]float32{0}, []float32{negZero}, false},
		{[]float32{1, 2}, []float32{1, 2.0000002}, false},
		{[]float32{1}, []float32{1, 1}, false},
		{nil, []float32{}, true},
	} {
		if got := testutil.SameBits(c.a, c.b); got != c.want {
			t.Errorf("SameBits(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestBackend(t *testing.T) {
	if be := testutil.Backend(t); be == nil || be.Name() == "" {
		t.Fatalf("backend %v", be)
	}
}

// 0 and −0 compare equal as numbers but not as bits; the same NaN is equal to itself as bits.
func ExampleSameBits() {
	zero, negZero, nan := float32(0), float32(math.Copysign(0, -1)), float32(math.NaN())
	fmt.Println(zero == negZero, testutil.SameBits([]float32{zero}, []float32{negZero}))
	fmt.Println(nan == nan, testutil.SameBits([]float32{nan}, []float32{nan}))
	// Output:
	// true false
	// false true
}

// The bright quadrant is the label's, in every example; the same seed gives the same split.
func TestQuadrants(t *testing.T) {
	s := testutil.Quadrants(50, 4)
	for i := range s.N {
		var sum [4]int
		for p := range 16 {
			sum[(p/8)*2+(p%4)/2] += int(s.Images[i*16+p])
		}
		for q := range 4 {
			if q != s.Labels[i] && sum[q] >= sum[s.Labels[i]] {
				t.Fatalf("example %d (label %d): quadrant sums %v", i, s.Labels[i], sum)
			}
		}
	}
	if again := testutil.Quadrants(50, 4); !slices.Equal(again.Images, s.Images) || !slices.Equal(again.Labels, s.Labels) {
		t.Error("same seed, different split")
	}
}

func TestDatasets(t *testing.T) {
	ds := testutil.Datasets(t, "mnist")
	if len(ds) != 1 || ds[0].Train.N != 60000 || ds[0].Test.N != 10000 {
		t.Fatalf("Datasets(mnist) = %d datasets, want one with 60,000 train and 10,000 test images", len(ds))
	}
}
