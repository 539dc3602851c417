//go:build !amd64 || !goexperiment.simd

package eval

// score8 has no vector form in this build: score's scalar loop does every example.
func score8(rows []float32, classes int, m, s *[8]float32, best *[8]int32) bool { return false }
