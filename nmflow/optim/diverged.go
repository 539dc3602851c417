package optim

import "fmt"

// Divergence is what a trainer knows when a loss or gradient norm is NaN or ±Inf. Nothing of that
// step is kept; the last checkpoint in Dir (if any) is from before it. The trainers' error types
// embed it and add the step or iteration; Message words the error and the way out.
type Divergence struct {
	What     string  // "loss" or "gradient norm"
	Value    float64 // the NaN or ±Inf found
	LR       float64 // the learning rate of that step (the configured one times the cuts so far)
	LastGood int     // steps or iterations done at the last checkpoint in Dir (0: none saved)
	Dir      string  // the run's output folder, Options.Dir ("" when it keeps no checkpoints)
}

// Trainer names a training loop in the words of its users.
type Trainer struct {
	Pkg   string // the error's prefix, e.g. "flow"
	Unit  string // what At counts: "step" or "iteration"
	Run   string // what a run is called: "fit", "fine-tuning"
	Knobs string // the settings that calm it: "the learning rate or the gradient clip"
}

// Message says what became non-finite at step at (0-based) and what to do next: lower the
// settings, or continue from the last checkpoint with a cut learning rate (Options.LRCut).
func (d Divergence) Message(t Trainer, at int) string {
	msg := fmt.Sprintf("%s: %s became %v at %s %d (learning rate %g)", t.Pkg, d.What, d.Value, t.Unit, at, d.LR)
	switch {
	case d.Dir == "":
		return msg + fmt.Sprintf("; lower %s, or rerun the same %s with an output folder (Options.Dir, --out) and Options.LRCut (--lr-cut, e.g. 0.5) to go back to the last checkpoint with a lower learning rate and continue", t.Knobs, t.Run)
	case d.LastGood == 0:
		return msg + fmt.Sprintf("; no checkpoint was saved in %s before it: rerun the same %s with Options.LRCut (--lr-cut, e.g. 0.5) to restart it with a lower learning rate, or lower %s in another output folder", d.Dir, t.Run, t.Knobs)
	}
	return msg + fmt.Sprintf(". The last checkpoint (%s %d) is kept in %s: rerun the same %s with Options.LRCut (--lr-cut, e.g. 0.5) to continue from it with a lower learning rate, or lower %s in another output folder (a resume needs the same settings)", t.Unit, d.LastGood, d.Dir, t.Run, t.Knobs)
}
