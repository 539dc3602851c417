package arch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
)

// Spec describes a base architecture; it is stored in every artifact and rebuilds the Net.
type Spec struct {
	// Kind is "mlp" or "cnn".
	Kind string `json:"kind"`
	// Input is the shape of one example, [C,H,W] (PyTorch NCHW without N).
	Input []int `json:"input"`
	// Classes is the number of outputs.
	Classes int `json:"classes"`
	// Hidden are the MLP's hidden widths (ReLU after each), or the CNN's dense widths after pooling.
	Hidden []int `json:"hidden,omitempty"`
	// Channels are the CNN's conv output channels (3x3, padding 1, ReLU, then 2x2 mean-pool each).
	Channels []int `json:"channels,omitempty"`
	// Kernel is the CNN's square kernel size (default 3).
	Kernel int `json:"kernel,omitempty"`
}

// Net is a base network as a pure function of a flat parameter vector, batched over models.
type Net interface {
	Spec() Spec
	Layout() Layout
	// Forward maps params [R,P] and inputs x — shared [B, C,H,W] (or [B, D]) or per model
	// [R,B, C,H,W] (or [R,B,D]), float32 — to logits [R,B,Classes].
	Forward(params, x *Node) *Node
	// ForwardParts is Forward with the parameters already split by layout segment (see SplitParams).
	// Taking gradients with respect to the parts and joining them (JoinParts) avoids the zero-padded
	// [R,P] copy per segment that the gradient of Forward's slicing makes.
	ForwardParts(parts Parts, x *Node) *Node
}

// New builds the Net a Spec describes.
func New(s Spec) (Net, error) {
	if len(s.Input) == 0 || s.Classes < 2 {
		return nil, fmt.Errorf("arch: spec needs an input shape and at least 2 classes, got input %v classes %d", s.Input, s.Classes)
	}
	for _, d := range s.Input {
		if d <= 0 {
			return nil, fmt.Errorf("arch: input shape %v has a non-positive dimension", s.Input)
		}
	}
	switch s.Kind {
	case "mlp":
		return newMLP(s)
	case "cnn":
		return newCNN(s)
	default:
		return nil, fmt.Errorf("arch: unknown kind %q (want mlp or cnn)", s.Kind)
	}
}

// MLP is the Spec of a ReLU MLP with the given hidden widths.
func MLP(input []int, classes int, hidden ...int) Spec {
	return Spec{Kind: "mlp", Input: input, Classes: classes, Hidden: hidden}
}

// CNN is the Spec of the small CNN: conv(3x3)+ReLU+2x2 mean-pool per channel count, then dense layers.
func CNN(input []int, classes int, channels []int, hidden ...int) Spec {
	return Spec{Kind: "cnn", Input: input, Classes: classes, Channels: channels, Hidden: hidden, Kernel: 3}
}

// ParseWidths reads "32,16" into []int{32,16}; "" gives nil.
func ParseWidths(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("arch: bad width %q in %q: want positive integers separated by commas, e.g. 32,16", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// String is a short human name, e.g. "mlp 784-32-10".
// CheckLayout says whether l is the layout of the net s describes (shapes and offsets; names may
// differ): files record both, and every consumer builds nets from one and slices weights by the
// other, so a disagreement (damaged or edited metadata) would give silently wrong nets.
func (s Spec) CheckLayout(l Layout) error {
	net, err := New(s)
	if err != nil {
		return fmt.Errorf("arch %s is invalid: %v", s, err)
	}
	want := net.Layout()
	if len(want.Segments) != len(l.Segments) {
		return fmt.Errorf("arch %s has %d parameter tensors (P=%d), the layout %d (P=%d)", s, len(want.Segments), want.Size(), len(l.Segments), l.Size())
	}
	for i, w := range want.Segments {
		g := l.Segments[i]
		if !slices.Equal(w.Shape, g.Shape) || w.Offset != g.Offset {
			return fmt.Errorf("arch %s has %s of shape %v at %d, the layout %s of shape %v at %d", s, w.Name, w.Shape, w.Offset, g.Name, g.Shape, g.Offset)
		}
	}
	return nil
}

func (s Spec) String() string {
	dims := func(ds []int) string {
		parts := make([]string, len(ds))
		for i, d := range ds {
			parts[i] = strconv.Itoa(d)
		}
		return strings.Join(parts, "-")
	}
	switch s.Kind {
	case "cnn":
		return fmt.Sprintf("cnn %s c[%s] h[%s] %d", dims(s.Input), dims(s.Channels), dims(s.Hidden), s.Classes)
	default:
		return fmt.Sprintf("mlp %d-%s", prod(s.Input), dims(append(append([]int{}, s.Hidden...), s.Classes)))
	}
}

// InputSize is the number of values in one input example (the product of Input).
func (s Spec) InputSize() int { return prod(s.Input) }

func prod(ds []int) int {
	n := 1
	for _, d := range ds {
		n *= d
	}
	return n
}

// MustNew is New for notebooks and examples: it panics on an invalid spec.
func MustNew(s Spec) Net {
	n, err := New(s)
	if err != nil {
		panic(err)
	}
	return n
}
