//go:build !amd64 || !goexperiment.simd

package flow

// update8 has no vector form in this build: adamEMA.update does every element.
func (k adamEMA) update8(w, m1, m2, e, g []float32) int { return 0 }
