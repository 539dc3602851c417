package testutil_test

import (
	"fmt"
	"math"
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
