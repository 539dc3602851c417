package main

import (
	"flag"
	"fmt"
)

// lrCutFlags registers --lr-cut and --max-lr-cuts (zoo.Options and flow.Options LRCut, MaxLRCuts).
func lrCutFlags(fs *flag.FlagSet, what string) (cut *float64, maxCuts *int) {
	cut = fs.Float64("lr-cut", 0, "when "+what+" diverges (NaN/Inf), go back to the last checkpoint, multiply the learning rate by this factor in (0,1) and continue (0: stop with an error; rerun the same command with it to continue a stopped run)")
	maxCuts = fs.Int("max-lr-cuts", 3, "with --lr-cut: give up after this many cuts")
	return cut, maxCuts
}

// checkLRCut validates the values of lrCutFlags.
func checkLRCut(cut float64, maxCuts int) error {
	if !(cut >= 0 && cut < 1) {
		return fmt.Errorf("--lr-cut must be in (0,1), or 0 to stop on divergence; got %g", cut)
	}
	if maxCuts < 1 {
		return fmt.Errorf("--max-lr-cuts must be ≥ 1, got %d", maxCuts)
	}
	return nil
}
