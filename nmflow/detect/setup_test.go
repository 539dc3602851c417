package detect

import (
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/data"
)

// BenchFor picks the bench a (dataset, shift) pair names and refuses the pairs that do not exist;
// a recipe's Spec follows the dataset's shape and refuses a cnn on tabular rows.
func TestBenchForAndRecipe(t *testing.T) {
	test := data.Split{Images: make([]uint8, 4*4), Labels: []int{0, 1, 2, 3}, N: 4}
	img := &data.Dataset{Name: "tiny", Shape: []int{1, 2, 2}, Classes: []string{"a", "b", "c", "d"}, Train: test, Test: test}
	b, err := BenchFor(img, "translate:1", "", 0)
	if err != nil || b.Name != "tiny translate:1,0" || b.Alt.N != 2 {
		t.Errorf("synthetic shift: %+v, %v", b.Name, err)
	}
	for _, c := range []struct{ spec, want string }{
		{"ood", "uci-heart's real shift"},
		{"cifar10.1", "needs the cifar10 dataset"},
		{"melt:3", "melt"},
	} {
		if _, err := BenchFor(img, c.spec, "", 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", c.spec, err, c.want)
		}
	}
	heart := &data.Dataset{Name: "uci-heart", Shape: []int{9}, Classes: []string{"no", "yes"}, Train: test, Test: test}
	if _, err := BenchFor(heart, "rotate:10", "", 0); err == nil || !strings.Contains(err.Error(), "one real shift") {
		t.Errorf("uci-heart rotate: %v", err)
	}

	r := DefaultRecipe("uci-heart")
	if r.Shift != "ood" || r.Optimizer != "adam" || !r.Standardize {
		t.Errorf("uci-heart recipe %+v", r)
	}
	spec, err := r.Spec(heart)
	if err != nil || !slices.Equal(spec.Input, []int{9}) || spec.Classes != 2 {
		t.Errorf("uci-heart spec %+v, %v", spec, err)
	}
	r.Arch = "cnn"
	if _, err := r.Spec(heart); err == nil || !strings.Contains(err.Error(), "needs images") {
		t.Errorf("cnn on rows: %v", err)
	}
	if DefaultRecipe("mnist").Shift != "rotate:45" || DefaultRecipe("cifar10").Shift != "contrast:5" {
		t.Error("default shifts changed")
	}
}
