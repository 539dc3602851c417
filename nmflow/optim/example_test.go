package optim_test

import (
	"fmt"
	"math"

	"github.com/nmflow/nmflow/nmflow/optim"
)

// A trainer fills its unset schedule fields with its own defaults; the warm-up defaults to a
// twentieth of the steps.
func ExampleSchedule_Fill() {
	s := optim.Schedule{LR: 3e-4}.Fill(optim.Schedule{LR: 1e-3, MinLR: 0.01, WeightDecay: 0.01}, 1000)
	fmt.Printf("lr %g, warm-up %d steps, floor %g·lr, weight decay %g\n", s.LR, s.WarmUp, s.MinLR, s.WeightDecay)
	// Output:
	// lr 0.0003, warm-up 50 steps, floor 0.01·lr, weight decay 0.01
}

func ExampleDivergence_Message() {
	d := optim.Divergence{What: "loss", Value: math.NaN(), LR: 1e-3, LastGood: 200, Dir: "_build/model"}
	fmt.Println(d.Message(optim.Trainer{Pkg: "flow", Unit: "step", Run: "fit", Knobs: "the learning rate"}, 215))
	// Output:
	// flow: loss became NaN at step 215 (learning rate 0.001). The last checkpoint (step 200) is kept in _build/model: rerun the same fit with Options.LRCut (--lr-cut, e.g. 0.5) to continue from it with a lower learning rate, or lower the learning rate in another output folder (a resume needs the same settings)
}
