package membudget

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// EnvOverride names the variable that replaces MemTotal, in GiB ("inf" lifts the check).
const EnvOverride = "NMFLOW_MEMORY_GIB"

const gib = 1 << 30

// Total returns the memory budget in bytes and where it came from. Without NMFLOW_MEMORY_GIB and
// without /proc/meminfo (not Linux) it returns +Inf: nothing is refused.
func Total() (float64, string, error) {
	if v := strings.TrimSpace(os.Getenv(EnvOverride)); v != "" {
		g, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(g) || !(g > 0) {
			return 0, "", fmt.Errorf("%s=%q: want a positive number of GiB (or inf)", EnvOverride, v)
		}
		return g * gib, EnvOverride, nil
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return math.Inf(1), "", nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// MemTotal:       131841232 kB
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil && kb > 0 {
				return kb * 1024, "MemTotal", nil
			}
		}
	}
	return math.Inf(1), "", nil
}

// Check refuses a job needing about need bytes when that exceeds the budget. what says what is
// being sized and lower says which flags shrink it, e.g. ("a zoo of 1000000000 runs", "--runs").
func Check(what string, need float64, lower string) error {
	total, src, err := Total()
	if err != nil {
		return err
	}
	if !(need <= total) { // NaN (an overflowing estimate) is refused too
		return fmt.Errorf("%s needs %s of memory, this machine has %.3g GiB (%s): lower %s, or set %s=<GiB> to override this check",
			what, human(need), total/gib, src, lower, EnvOverride)
	}
	return nil
}

func human(b float64) string {
	if math.IsInf(b, 0) || math.IsNaN(b) || b > 1e6*gib {
		return "more than 1,000,000 GiB"
	}
	if b < gib/10 {
		return fmt.Sprintf("~%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("~%.1f GiB", b/gib)
}

// Floats is the size in bytes of n float32 values, given as factors multiplied in float64 so
// that absurd sizes do not overflow an int.
func Floats(factors ...int) float64 {
	b := 4.0
	for _, f := range factors {
		b *= float64(f)
	}
	return b
}
