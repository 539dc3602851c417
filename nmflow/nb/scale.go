package nb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvScale selects how big the notebooks' experiments are: unset or "default" for the documented
// defaults (what `make demo` runs), "ci" for the small runs CI does, "full" for paper-scale
// settings where a notebook offers them (hours on a CPU; other notebooks treat it as default).
const EnvScale = "NMFLOW_SCALE"

// EnvOut names the folder where notebooks write their artifacts (zoos, models, samples).
const EnvOut = "NMFLOW_OUT"

// Scale returns "default", "ci" or "full" from NMFLOW_SCALE; any other value panics with a message
// that says what is accepted (a typo must not silently run the hour-long default).
func Scale() string {
	switch s := strings.ToLower(strings.TrimSpace(os.Getenv(EnvScale))); s {
	case "", "default":
		return "default"
	case "ci", "full":
		return s
	default:
		panic(fmt.Sprintf("nb: %s=%q: want \"ci\", \"default\" (or unset) or \"full\"", EnvScale, s))
	}
}

// IsCI reports whether notebooks run at the small CI scale.
func IsCI() bool { return Scale() == "ci" }

// IsFull reports whether notebooks run at paper scale (NMFLOW_SCALE=full).
func IsFull() bool { return Scale() == "full" }

// OutPath returns the path of a notebook artifact: $NMFLOW_OUT/name, or by default
// _build/artifacts/<scale>/name at the root of the repository holding the working directory
// (found by its go.mod), so notebooks in notebooks/ and tutorials/ share their artifacts and a
// CI-scale run never meets a default-scale model (whose settings differ). The folder is created.
func OutPath(name string) string {
	dir := os.Getenv(EnvOut)
	if dir == "" {
		dir = filepath.Join(repoRoot(), "_build", "artifacts", Scale())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(fmt.Sprintf("nb: cannot create the artifact folder %s: %v (set %s to a writable folder)", dir, err, EnvOut))
	}
	return filepath.Join(dir, name)
}

func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}
