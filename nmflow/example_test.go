package nmflow_test

import (
	"fmt"
	"strings"

	"github.com/nmflow/nmflow/nmflow"
)

// Every artifact records these versions in its metadata.
func Example() {
	fmt.Println(strings.HasPrefix(nmflow.Version, "0."), nmflow.GoMLXVersion)
	// Output: true v0.28.2
}
