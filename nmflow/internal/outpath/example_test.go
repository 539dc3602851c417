package outpath_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nmflow/nmflow/nmflow/internal/outpath"
)

// Writing generated weights into the model folder they come from is refused before any work.
func ExampleNotInput() {
	dir, _ := os.MkdirTemp("", "outpath-example")
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "model")
	os.Mkdir(model, 0o755)
	err := outpath.NotInput("--out", filepath.Join(model, "model.json"), outpath.In("--model", model))
	fmt.Println(err != nil)
	l, _ := outpath.Acquire(model, true)
	_, err = outpath.Acquire(model, true)
	fmt.Println(err != nil)
	l.Release()
	// Output:
	// true
	// true
}
