package membudget_test

import (
	"fmt"
	"os"

	"github.com/nmflow/nmflow/nmflow/internal/membudget"
)

// A billion runs of a 25,450-parameter net do not fit on a 16 GiB budget.
func ExampleCheck() {
	os.Setenv(membudget.EnvOverride, "16")
	defer os.Unsetenv(membudget.EnvOverride)
	err := membudget.Check("a zoo of 1000000000 runs", membudget.Floats(1_000_000_000, 25_450), "--runs")
	fmt.Println(err)
	// Output:
	// a zoo of 1000000000 runs needs ~94808.6 GiB of memory, this machine has 16 GiB (NMFLOW_MEMORY_GIB): lower --runs, or set NMFLOW_MEMORY_GIB=<GiB> to override this check
}
