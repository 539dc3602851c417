//go:build !amd64 || !goexperiment.simd

package eval

// clearUpper has nothing to clear where no AVX code is compiled in.
func clearUpper() {}
