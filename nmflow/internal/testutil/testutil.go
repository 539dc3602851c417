// Package testutil holds the helpers the packages' tests share: the test backend, bitwise
// comparison of float slices (same seed, same backend → same bits), a tiny learnable dataset and
// the real datasets, loaded or failed.
package testutil

import (
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
)

// Backend is the process-wide backend (GOMLX_BACKEND, else the default choice), without the
// notice naming it; it fails t when none can be made.
func Backend(t testing.TB) compute.Backend {
	t.Helper()
	backend.Notice = io.Discard
	be, _, err := backend.Default()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// SameBits reports whether a and b hold the same float32 bits, element by element (NaNs with the
// same payload are equal, 0 and −0 are not).
func SameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// Quadrants is a synthetic 3-class task on 1×4×4 images, learnable in a few steps: the class says
// which of the top-left, top-right and bottom-left quadrants is bright. n examples, from seed.
func Quadrants(n int, seed uint64) data.Split {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := data.Split{Images: make([]uint8, n*16), Labels: make([]int, n), N: n}
	for i := range n {
		c := rng.IntN(3)
		s.Labels[i] = c
		for p := range 16 {
			v := rng.IntN(90)
			row, col := p/4, p%4
			if q := (row/2)*2 + col/2; q == c {
				v += 140
			}
			s.Images[i*16+p] = uint8(v)
		}
	}
	return s
}

// Datasets loads each named dataset (offline sources: NMFLOW_DATA, the cache, the Go module
// cache, Debian's packages), failing t on the first that cannot be loaded.
func Datasets(t testing.TB, names ...string) []*data.Dataset {
	t.Helper()
	out := make([]*data.Dataset, len(names))
	for i, name := range names {
		ds, err := data.Load(name, data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ds
	}
	return out
}
