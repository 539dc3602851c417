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

// MapOptions tune Map.
type MapOptions struct {
	// Spec, when set, lets Map also recognize nn.Sequential index keys (NamesSequential).
	Spec *arch.Spec
	// Prefix forces the key prefix ("state_dict.", "module.", ...); empty finds it.
	Prefix string
	// AllowUnexpected accepts tensors under the prefix that the layout does not use (they are still
	// reported); by default they are an error, as in load_state_dict(strict=True).
	AllowUnexpected bool
}

// Report says how a state dict was mapped onto a Layout.
type Report struct {
	Source     string     `json:"source"`
	Prefix     string     `json:"prefix"` // key prefix the layout was found under
	Naming     string     `json:"naming"` // NamesLayout or NamesSequential
	Lead       []int      `json:"lead"`   // leading (stacking) dims before each segment's shape
	Matched    []Match    `json:"matched"`
	Missing    []string   `json:"missing,omitempty"`    // layout segments with no tensor
	Mismatched []Mismatch `json:"mismatched,omitempty"` // found, but with another shape or dtype
	Unexpected []string   `json:"unexpected,omitempty"` // tensors under Prefix the layout lacks
	Ignored    []string   `json:"ignored,omitempty"`    // tensors outside Prefix (optimizer state, ...)
}

// Match pairs a layout segment with the tensor that fills it.
type Match struct {
	Segment string `json:"segment"`
	Key     string `json:"key"`
	DType   string `json:"dtype"`
	Rounded bool   `json:"rounded,omitempty"` // converting to float32 changed some value (F64 input)
}

// Mismatch is a tensor found under a segment's name that cannot fill it.
type Mismatch struct {
	Segment string `json:"segment"`
	Key     string `json:"key"`
	Shape   []int  `json:"shape"`
	Want    []int  `json:"want"`
	Problem string `json:"problem"`
}

// OK reports whether every segment was filled and nothing was left over.
func (r *Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Mismatched) == 0 && len(r.Unexpected) == 0
}

// String is a readable summary, one finding per line.
func (r *Report) String() string {
	var b strings.Builder
	total := len(r.Matched) + len(r.Missing) + len(r.Mismatched)
	fmt.Fprintf(&b, "%s: %d/%d layout tensors found (prefix %q, %s names", r.Source, len(r.Matched), total, r.Prefix, r.Naming)
	if len(r.Lead) > 0 {
		fmt.Fprintf(&b, ", stacked %v", r.Lead)
	}
	b.WriteString(")\n")
	conv, rounded := map[string]int{}, 0
	for _, m := range r.Matched {
		if m.DType != traj.DTypeF32 {
			conv[m.DType]++
		}
		if m.Rounded {
			rounded++
		}
	}
	for _, dt := range sortedKeys(conv) {
		fmt.Fprintf(&b, "  converted %d tensors from %s to F32\n", conv[dt], dt)
	}
	if rounded > 0 {
		fmt.Fprintf(&b, "  %d tensors had values that float32 rounds\n", rounded)
	}
	for _, s := range r.Missing {
		fmt.Fprintf(&b, "  missing: %s\n", s)
	}
	for _, m := range r.Mismatched {
		fmt.Fprintf(&b, "  mis-shaped: %s is %v, layout segment %s wants %v: %s\n", m.Key, m.Shape, m.Segment, m.Want, m.Problem)
	}
	for _, s := range r.Unexpected {
		fmt.Fprintf(&b, "  unexpected: %s\n", s)
	}
	if n := len(r.Ignored); n > 0 {
		fmt.Fprintf(&b, "  ignored %d tensors outside %q (e.g. %s)\n", n, r.Prefix, r.Ignored[0])
	}
	return strings.TrimRight(b.String(), "\n")
}

// Map fills a Layout from a state dict by name and shape and returns the flat weights, [n, P]
// row-major with n the product of Report.Lead (1 for a plain state dict; a stacked file, e.g. one
// exported with a leading [N] axis, gives n = N). The key prefix and naming scheme are found
// automatically (the pair that matches the most segments). Missing or mis-shaped tensors, non-
// finite values and (unless allowed) unexpected tensors are errors; the report says which.
func Map(sd *StateDict, l arch.Layout, opt MapOptions) ([]float32, *Report, error) {
	if err := l.Validate(); err != nil {
		return nil, nil, err
	}
	rep := &Report{Source: sd.Path, Naming: NamesLayout}
	schemes := map[string]map[string]string{NamesLayout: nil}
	if opt.Spec != nil {
		seq, err := SequentialNames(*opt.Spec)
		if err != nil {
			return nil, nil, err
		}
		schemes[NamesSequential] = seq
	}
	keyOf := func(naming, seg string) string {
		if m := schemes[naming]; m != nil {
			return m[seg]
		}
		return seg
	}
	// Score every (prefix, naming) pair by how many segments it finds.
	type cand struct{ prefix, naming string }
	score := map[cand]int{}
	for _, k := range sd.Names {
		for naming := range schemes {
			for _, s := range l.Segments {
				name := keyOf(naming, s.Name)
				if p, ok := strings.CutSuffix(k, name); ok && (p == "" || strings.HasSuffix(p, ".")) {
					if opt.Prefix == "" || p == opt.Prefix {
						score[cand{p, naming}]++
					}
				}
			}
		}
	}
	best, bestN := cand{opt.Prefix, NamesLayout}, 0
	for c, n := range score {
		better := n > bestN || (n == bestN && (c.naming < best.naming || (c.naming == best.naming && len(c.prefix) < len(best.prefix))))
		if better {
			best, bestN = c, n
		}
	}
	rep.Prefix, rep.Naming = best.prefix, best.naming
	if bestN == 0 {
		for _, s := range l.Segments {
			rep.Missing = append(rep.Missing, fmt.Sprintf("%s %v", s.Name, s.Shape))
		}
		want := make([]string, 0, 3)
		for _, s := range l.Segments[:min(3, len(l.Segments))] {
			want = append(want, s.Name)
		}
		have := sd.Names[:min(5, len(sd.Names))]
		return nil, rep, fmt.Errorf("interop: %s has none of the layout's tensors (want e.g. %s; the file has %s): wrong --arch, or keys in another convention (see docs/interop.md)",
			sd.Path, strings.Join(want, ", "), strings.Join(have, ", "))
	}

	used := map[string]bool{}
	vals := make([][]float32, len(l.Segments))
	var lead []int
	for i, s := range l.Segments {
		key := rep.Prefix + keyOf(rep.Naming, s.Name)
		t, ok := sd.Tensors[key]
		if !ok {
			rep.Missing = append(rep.Missing, fmt.Sprintf("%s %v (key %q)", s.Name, s.Shape, key))
			continue
		}
		used[key] = true
		mis := Mismatch{Segment: s.Name, Key: key, Shape: t.Shape, Want: s.Shape}
		if len(t.Shape) < len(s.Shape) || !slices.Equal(t.Shape[len(t.Shape)-len(s.Shape):], s.Shape) || len(t.Shape)-len(s.Shape) > 2 {
			mis.Problem = shapeHint(t.Shape, s.Shape)
			rep.Mismatched = append(rep.Mismatched, mis)
			continue
		}
		tl := t.Shape[:len(t.Shape)-len(s.Shape)]
		if lead == nil {
			lead = append([]int{}, tl...)
		} else if !slices.Equal(lead, tl) {
			mis.Problem = fmt.Sprintf("stacked as %v while other tensors are stacked as %v", tl, lead)
			rep.Mismatched = append(rep.Mismatched, mis)
			continue
		}
		switch t.DType {
		case traj.DTypeF32, traj.DTypeF64, traj.DTypeF16, traj.DTypeBF16:
		default:
			mis.Problem = fmt.Sprintf("dtype %s is not a floating-point type", t.DType)
			rep.Mismatched = append(rep.Mismatched, mis)
			continue
		}
		v, rounded, err := Float32s(t)
		if err != nil {
			return nil, rep, fmt.Errorf("interop: %s: tensor %q: %w", sd.Path, key, err)
		}
		if j := traj.FirstNonFinite(v); j >= 0 {
			return nil, rep, fmt.Errorf("interop: %s: tensor %q holds %v at flat index %d: refusing non-finite weights", sd.Path, key, v[j], j)
		}
		vals[i] = v
		rep.Matched = append(rep.Matched, Match{Segment: s.Name, Key: key, DType: t.DType, Rounded: rounded})
	}
	for _, k := range sd.Names {
		switch {
		case used[k]:
		case strings.HasPrefix(k, rep.Prefix):
			t := sd.Tensors[k]
			rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s %v", k, t.Shape))
		default:
			rep.Ignored = append(rep.Ignored, k)
		}
	}
	rep.Lead = lead
	if len(rep.Missing) > 0 || len(rep.Mismatched) > 0 || (len(rep.Unexpected) > 0 && !opt.AllowUnexpected) {
		return nil, rep, fmt.Errorf("interop: %s does not fit the layout:\n%s", sd.Path, rep)
	}
	n := 1
	for _, d := range lead {
		n *= d
	}
	p := l.Size()
	flat := make([]float32, n*p)
	for i, s := range l.Segments {
		size := s.Size()
		for r := 0; r < n; r++ {
			copy(flat[r*p+s.Offset:r*p+s.Offset+size], vals[i][r*size:(r+1)*size])
		}
	}
	return flat, rep, nil
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
// dict's weight tensors (2-D Linear, 4-D Conv2d, in file order; weights stacked on leading axes,
// as Export writes them, are recognized too). input is optional for an MLP ([D] is taken from the
// first layer) and required for a CNN ([C,H,W]).
func InferSpec(sd *StateDict, kind string, input []int) (arch.Spec, error) {
	var weights [][]int
	for _, k := range sd.Names {
		if strings.HasSuffix(k, "weight") || strings.HasSuffix(k, "weights") {
			weights = append(weights, sd.Tensors[k].Shape)
		}
	}
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
