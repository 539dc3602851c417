package backend_test

import (
	"fmt"
	"os"

	"github.com/nmflow/nmflow/nmflow/backend"
)

// With GOMLX_BACKEND=go the pure-Go backend is used; without it, XLA is tried first (no
// downloads) and the pure-Go backend is the fallback.
func Example() {
	os.Setenv("GOMLX_BACKEND", "go")
	b, info, err := backend.New()
	if err != nil {
		panic(err)
	}
	defer b.Finalize()
	fmt.Println(info.Config, info.Reason)
	// Output: go GOMLX_BACKEND
}
