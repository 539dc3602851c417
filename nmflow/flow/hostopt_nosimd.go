//go:build !amd64 || !goexperiment.simd

package flow

// update8 has no vector form in this build: adamEMA.update does every element.
func (k adamEMA) update8(w, m1, m2, e, g []float32) int { return 0 }

// squares8 has no vector form in this build: squares does every element.
func squares8(v []float32, lanes *[8]float32) int { return 0 }
