package ckptcheck_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nmflow/nmflow/nmflow/internal/ckptcheck"
)

// A checkpoint whose metadata claims a 2^31 × 2^31 variable is refused before GoMLX allocates it.
func ExampleDir() {
	dir, _ := os.MkdirTemp("", "ckptcheck-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "c.json"), []byte(`{"Variables":[{"ParameterName":"w","Dimensions":[2147483648,2147483648],"DType":"Float32","Length":16}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "c.bin"), make([]byte, 16), 0o644)
	fmt.Println(ckptcheck.Dir(dir) != nil)
	// Output: true
}
