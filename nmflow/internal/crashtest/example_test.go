package crashtest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nmflow/nmflow/nmflow/internal/crashtest"
)

// A writer that would block at its third write passes the first two through. (In a child
// process the third write creates the marker and waits there for crashtest.Kill.)
func ExampleBlockAt() {
	var out strings.Builder
	marker := filepath.Join(os.TempDir(), "crashtest-example.marker")
	os.Remove(marker)
	w := crashtest.BlockAt(3, marker, &out)
	fmt.Fprintln(w, "line 1")
	fmt.Fprintln(w, "line 2")
	_, err := os.Stat(marker)
	fmt.Print(out.String())
	fmt.Println("marker exists:", err == nil)
	// Output:
	// line 1
	// line 2
	// marker exists: false
}
