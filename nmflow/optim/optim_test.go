package optim

import (
	"math"
	"strings"
	"testing"
)

func TestFill(t *testing.T) {
	def := Schedule{LR: 1e-3, MinLR: 0.01, WeightDecay: 1e-5}
	if got, want := (Schedule{}).Fill(def, 2000), (Schedule{LR: 1e-3, WarmUp: 100, MinLR: 0.01, WeightDecay: 1e-5}); got != want {
		t.Errorf("zero schedule: %+v, want %+v", got, want)
	}
	set := Schedule{LR: 2, WarmUp: 7, MinLR: 0.5, WeightDecay: -1}
	if got := set.Fill(def, 2000); got != set {
		t.Errorf("set fields changed: %+v, want %+v", got, set)
	}
	if got := (Schedule{}).Fill(Schedule{WarmUp: 3}, 2000); got.WarmUp != 3 {
		t.Errorf("default warm-up 3: got %d", got.WarmUp)
	}
}

// The three cases of the advice: no folder, a folder with no checkpoint yet, a kept checkpoint.
func TestMessage(t *testing.T) {
	tr := Trainer{Pkg: "adjoint", Unit: "iteration", Run: "fine-tuning", Knobs: "the learning rate, λ or the gradient clip"}
	for _, c := range []struct {
		d    Divergence
		want []string
	}{
		{Divergence{What: "gradient norm", Value: math.Inf(1), LR: 0.5}, []string{"adjoint: gradient norm became +Inf at iteration 9 (learning rate 0.5)", "output folder (Options.Dir, --out)", "lower the learning rate, λ or the gradient clip"}},
		{Divergence{What: "loss", Value: math.NaN(), Dir: "out"}, []string{"loss became NaN", "no checkpoint was saved in out", "rerun the same fine-tuning with Options.LRCut"}},
		{Divergence{What: "loss", Value: math.NaN(), Dir: "out", LastGood: 8}, []string{"last checkpoint (iteration 8) is kept in out", "--lr-cut"}},
	} {
		msg := c.d.Message(tr, 9)
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
	}
}
