package interop

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// Key naming schemes of a state_dict for an nmflow architecture.
const (
	// NamesLayout: the Layout's own names (fc1.weight, conv1.bias), i.e. an nn.Sequential built
	// from an OrderedDict with those module names (see docs/interop.md).
	NamesLayout = "layout"
	// NamesSequential: the indices of a plain nn.Sequential(nn.Flatten(), nn.Linear(...),
	// nn.ReLU(), ...) — 1.weight, 3.weight, ... for an MLP.
	NamesSequential = "sequential"
)

// SequentialNames maps each Layout segment name to its key in the plain nn.Sequential that equals
// the architecture:
//
//	mlp: Flatten, Linear, ReLU, Linear, ..., Linear            fc_i → 2i−1
//	cnn: (Conv2d, ReLU, AvgPool2d(2)) per conv, Flatten, then Linear, ReLU, ..., Linear
func SequentialNames(s arch.Spec) (map[string]string, error) {
	net, err := arch.New(s)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	convs := len(s.Channels)
	for _, seg := range net.Layout().Segments {
		module, param, _ := strings.Cut(seg.Name, ".")
		var idx int
		switch {
		case strings.HasPrefix(module, "conv"):
			i, _ := strconv.Atoi(strings.TrimPrefix(module, "conv"))
			idx = 3 * (i - 1)
		case strings.HasPrefix(module, "fc"):
			i, _ := strconv.Atoi(strings.TrimPrefix(module, "fc"))
			start := 1 // after Flatten
			if s.Kind == "cnn" {
				start = 3*convs + 1
			}
			idx = start + 2*(i-1)
		default:
			return nil, fmt.Errorf("interop: layout segment %q has no nn.Sequential position", seg.Name)
		}
		out[seg.Name] = strconv.Itoa(idx) + "." + param
	}
	return out, nil
}

// Rename returns the key of each layout segment under a naming scheme (nil for NamesLayout).
func Rename(s arch.Spec, naming string) (func(string) string, error) {
	switch naming {
	case "", NamesLayout:
		return nil, nil
	case NamesSequential:
		m, err := SequentialNames(s)
		if err != nil {
			return nil, err
		}
		return func(n string) string { return m[n] }, nil
	}
	return nil, fmt.Errorf("interop: unknown key naming %q (want %s or %s)", naming, NamesLayout, NamesSequential)
}

// shapeHint explains a shape mismatch, recognizing the usual suspects.
func shapeHint(got, want []int) string {
	prod := func(v []int) int {
		n := 1
		for _, d := range v {
			n *= d
		}
		return n
	}
	switch {
	case len(got) == 2 && len(want) == 2 && got[0] == want[1] && got[1] == want[0]:
		return "transposed: PyTorch Linear weights are [out, in]; this looks like [in, out] (GoMLX, Keras, JAX): transpose it"
	case prod(got) == prod(want):
		return "same number of values, different shape: reshape it, or check the architecture"
	}
	return "different size: the checkpoint is for another architecture (check --arch, --hidden, --channels, --input)"
}

// FromFlat builds a float32 state dict from flat weights: rows [n, P] row-major of layout l,
// each tensor with leading dims lead (nil for one net: n must be 1), named by rename (nil: the
// layout's names).
func FromFlat(l arch.Layout, flat []float32, lead []int, rename func(string) string) (*StateDict, error) {
	n := 1
	for _, d := range lead {
		n *= d
	}
	p := l.Size()
	if len(flat) != n*p {
		return nil, fmt.Errorf("interop: %d weights, want %d nets × P=%d", len(flat), n, p)
	}
	sd := newStateDict("", "")
	for _, s := range l.Segments {
		size := s.Size()
		v := make([]float32, 0, n*size)
		for r := 0; r < n; r++ {
			v = append(v, flat[r*p+s.Offset:r*p+s.Offset+size]...)
		}
		name := s.Name
		if rename != nil {
			name = rename(name)
		}
		if err := sd.Add(name, traj.F32Tensor(append(append([]int{}, lead...), s.Shape...), v)); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// InferSpec reads an architecture of the given kind ("mlp" or "cnn") off the shapes of a state
// dict's *.weight tensors (2-D Linear, 4-D Conv2d, in file order, whatever the rest of their
// names; weights stacked on leading axes, as Export writes them, are recognized too). input is optional for an MLP ([D] is taken from the
// first layer) and required for a CNN ([C,H,W]).
func InferSpec(sd *StateDict, kind string, input []int) (arch.Spec, error) {
	// The weights of the dict that holds the most of them: the model's state dict, not an EMA
	// copy beside it (optimizer state has other names). GoMLX's [in, out] weights are turned first.
	view, _ := torchConventions(sd)
	byDict, most := map[string][][]int{}, ""
	for _, k := range view.Names {
		if strings.HasSuffix(k, "weight") || strings.HasSuffix(k, "weights") {
			c := view.Container[k]
			byDict[c] = append(byDict[c], view.Tensors[k].Shape)
			if len(byDict[c]) > len(byDict[most]) {
				most = c
			}
		}
	}
	weights := byDict[most]
	if len(weights) == 0 {
		return arch.Spec{}, fmt.Errorf("interop: %s has no *.weight tensors to read an architecture from", sd.Path)
	}
	// The last layer is always a Linear: its rank beyond 2 is the stacking.
	lead := len(weights[len(weights)-1]) - 2
	if lead < 0 || lead > 2 {
		return arch.Spec{}, fmt.Errorf("interop: %s: the last weight has shape %v, want a Linear weight [out, in] (possibly stacked)", sd.Path, weights[len(weights)-1])
	}
	var convs, dense [][]int
	for _, s := range weights {
		if len(s) < lead || !slices.Equal(s[:lead], weights[len(weights)-1][:lead]) {
			continue
		}
		switch s = s[lead:]; len(s) {
		case 2:
			dense = append(dense, s)
		case 4:
			convs = append(convs, s)
		}
	}
	if len(dense) == 0 {
		return arch.Spec{}, fmt.Errorf("interop: %s has no 2-D *.weight tensors to read an architecture from", sd.Path)
	}
	var hidden []int
	for _, d := range dense[:len(dense)-1] {
		hidden = append(hidden, d[0])
	}
	classes := dense[len(dense)-1][0]
	switch kind {
	case "mlp":
		if len(convs) > 0 {
			return arch.Spec{}, fmt.Errorf("interop: %s has conv weights: use --arch cnn", sd.Path)
		}
		if input == nil {
			input = []int{dense[0][1]}
		}
		return arch.MLP(input, classes, hidden...), nil
	case "cnn":
		if len(convs) == 0 {
			return arch.Spec{}, fmt.Errorf("interop: %s has no 4-D conv weights: use --arch mlp", sd.Path)
		}
		if len(input) != 3 {
			return arch.Spec{}, fmt.Errorf("interop: a cnn needs its input shape C,H,W (e.g. --input 1,28,28); it cannot be read off the weights")
		}
		var ch []int
		for _, c := range convs {
			ch = append(ch, c[0])
		}
		s := arch.CNN(input, classes, ch, hidden...)
		s.Kernel = convs[0][2]
		return s, nil
	}
	return arch.Spec{}, fmt.Errorf("interop: unknown architecture kind %q (want mlp or cnn)", kind)
}
