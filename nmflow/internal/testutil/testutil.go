// Package testutil holds the helpers the packages' tests share: the test backend and bitwise
// comparison of float slices (same seed, same backend → same bits).
package testutil

import (
	"io"
	"math"
	"testing"

	"github.com/gomlx/compute"

	"github.com/nmflow/nmflow/nmflow/backend"
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
