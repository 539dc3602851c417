package arch

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors/images"
	"github.com/gomlx/gomlx/support/exceptions"
)

// The MLP equals PyTorch's
//
//	nn.Sequential(nn.Flatten(), fc1=nn.Linear(D,h1), nn.ReLU(), …, fcN=nn.Linear(h_{N-1}, classes))
//
// with state_dict keys renamed to fc1.weight, fc1.bias, …. Weights are [out,in], so the flat vector
// is exactly the concatenation of the PyTorch tensors.
type mlp struct {
	spec   Spec
	layout Layout
	dense  []denseLayer
}

type denseLayer struct{ w, b Segment }

func newMLP(s Spec) (Net, error) {
	if len(s.Channels) != 0 {
		return nil, fmt.Errorf("arch: an mlp has no conv channels (got %v)", s.Channels)
	}
	segs, dense := denseSegments(prod(s.Input), s.Hidden, s.Classes, 1)
	l := NewLayout(segs...)
	return &mlp{spec: s, layout: l, dense: lookupDense(l, dense)}, nil
}

// denseSegments lays out fc{first}..fc{first+len(hidden)} from `in` features to `classes`.
func denseSegments(in int, hidden []int, classes, first int) ([]Segment, []string) {
	var segs []Segment
	var names []string
	widths := append(append([]int{}, hidden...), classes)
	for i, out := range widths {
		name := fmt.Sprintf("fc%d", first+i)
		segs = append(segs,
			Segment{Name: name + ".weight", Shape: []int{out, in}, FanIn: in, Kind: Weight},
			Segment{Name: name + ".bias", Shape: []int{out}, FanIn: in, Kind: Bias})
		names = append(names, name)
		in = out
	}
	return segs, names
}

func lookupDense(l Layout, names []string) []denseLayer {
	out := make([]denseLayer, len(names))
	for i, n := range names {
		out[i].w, _ = l.Segment(n + ".weight")
		out[i].b, _ = l.Segment(n + ".bias")
	}
	return out
}

func (m *mlp) Spec() Spec     { return m.spec }
func (m *mlp) Layout() Layout { return m.layout }

func (m *mlp) Forward(params, x *Node) *Node {
	return m.forward(sliced(params), checkParams(params, m.layout), x)
}

func (m *mlp) ForwardParts(parts Parts, x *Node) *Node {
	return m.forward(parts.getter(m.layout), checkParts(parts, m.layout), x)
}

func (m *mlp) forward(seg getter, r int, x *Node) *Node {
	shared := isShared(x, m.spec.Input, r)
	d := prod(m.spec.Input)
	first := m.dense[0]
	w := seg(first.w) // [R,out,D]
	var hT *Node      // feature-major activations [R,F,B]
	if shared {
		b := x.Shape().Dimensions[0]
		out := first.w.Shape[0]
		// One shared matmul for all models, feature-major: [R*out,D]·[B,D]ᵀ → [R*out,B] (no per-model
		// copy of x, and no transpose of the [B,R*out] product). The bias rides in it as a column of
		// W against a column of ones in x: on the pure-Go backend adding [R,out,1] to [R,out,B] walks
		// a generic broadcast iterator, 4× the cost of a plain add (backend.BenchmarkBroadcastAdd).
		wb := Concatenate([]*Node{Reshape(w, r*out, d), Reshape(seg(first.b), r*out, 1)}, 1)
		xb := Concatenate([]*Node{Reshape(x, b, d), Ones(x.Graph(), shapes.Make(x.DType(), b, 1))}, 1)
		hT = Reshape(DotGeneral(wb, []int{1}, nil, xb, []int{1}, nil), r, out, b)
		return denseStack(seg, hT, m.dense, true)
	} else {
		b := x.Shape().Dimensions[1]
		// hᵀ = W·xᵀ keeps the weight gradient in [out,in] layout with no minibatch transpose.
		hT = DotGeneral(w, []int{2}, []int{0}, Reshape(x, r, b, d), []int{2}, []int{0})
	}
	return denseStack(seg, hT, m.dense, false)
}

// denseStack applies bias (+ReLU except after the last layer) for layer 0 given hT = W0·x (its
// bias already in when biased), then the remaining layers; returns logits [R,B,C].
func denseStack(seg getter, hT *Node, layers []denseLayer, biased bool) *Node {
	for i, l := range layers {
		if i > 0 {
			hT = DotGeneral(seg(l.w), []int{2}, []int{0}, hT, []int{1}, []int{0})
		}
		if i > 0 || !biased {
			hT = Add(hT, InsertAxes(seg(l.b), -1))
		}
		if i < len(layers)-1 {
			hT = Max(hT, ZerosLike(hT))
		}
	}
	return TransposeAllAxes(hT, 0, 2, 1)
}

// The CNN equals PyTorch's, per entry c of Channels:
//
//	convK = nn.Conv2d(c_prev, c, k, padding=k//2); ReLU; nn.AvgPool2d(2)
//
// then nn.Flatten() (C,H,W order) and the dense layers fc1..fcN with ReLU between.
// Mean-pooling, not max-pooling: the Go backend has no MaxPool gradient.
type cnn struct {
	spec   Spec
	layout Layout
	convs  []denseLayer // w: [out,in,k,k]
	dense  []denseLayer
	pad    int
	hw     [][2]int // spatial size entering each conv
	flat   int
}

func newCNN(s Spec) (Net, error) {
	if len(s.Input) != 3 {
		return nil, fmt.Errorf("arch: a cnn needs input [C,H,W], got %v", s.Input)
	}
	if len(s.Channels) == 0 {
		return nil, fmt.Errorf("arch: a cnn needs at least one conv channel count")
	}
	if s.Kernel == 0 {
		s.Kernel = 3
	}
	if s.Kernel%2 == 0 {
		return nil, fmt.Errorf("arch: cnn kernel size must be odd, got %d", s.Kernel)
	}
	c, h, w := s.Input[0], s.Input[1], s.Input[2]
	k := s.Kernel
	var segs []Segment
	var names []string
	var hw [][2]int
	for i, out := range s.Channels {
		if h < 2 || w < 2 {
			return nil, fmt.Errorf("arch: cnn input %v too small for %d pooling stages", s.Input, len(s.Channels))
		}
		name := fmt.Sprintf("conv%d", i+1)
		fanIn := c * k * k
		segs = append(segs,
			Segment{Name: name + ".weight", Shape: []int{out, c, k, k}, FanIn: fanIn, Kind: Weight},
			Segment{Name: name + ".bias", Shape: []int{out}, FanIn: fanIn, Kind: Bias})
		names = append(names, name)
		hw = append(hw, [2]int{h, w})
		c, h, w = out, h/2, w/2
	}
	flat := c * h * w
	dsegs, dnames := denseSegments(flat, s.Hidden, s.Classes, 1)
	l := NewLayout(append(segs, dsegs...)...)
	return &cnn{spec: s, layout: l, convs: lookupDense(l, names), dense: lookupDense(l, dnames), pad: k / 2, hw: hw, flat: flat}, nil
}

func (m *cnn) Spec() Spec     { return m.spec }
func (m *cnn) Layout() Layout { return m.layout }

func (m *cnn) Forward(params, x *Node) *Node {
	return m.forward(sliced(params), checkParams(params, m.layout), x)
}

func (m *cnn) ForwardParts(parts Parts, x *Node) *Node {
	return m.forward(parts.getter(m.layout), checkParts(parts, m.layout), x)
}

func (m *cnn) forward(seg getter, r int, x *Node) *Node {
	var b int
	var h *Node // grouped layout [B, R*C, H, W]: model r owns channels r*C..(r+1)*C-1
	if isShared(x, m.spec.Input, r) {
		b = x.Shape().Dimensions[0]
		h = Reshape(x, append([]int{b}, m.spec.Input...)...)
	} else {
		b = x.Shape().Dimensions[1]
		c, hh, ww := m.spec.Input[0], m.spec.Input[1], m.spec.Input[2]
		h = Reshape(TransposeAllAxes(Reshape(x, r, b, c, hh, ww), 1, 0, 2, 3, 4), b, r*c, hh, ww)
	}
	for i, cv := range m.convs {
		out, in, k := cv.w.Shape[0], cv.w.Shape[1], cv.w.Shape[2]
		kernel := Reshape(seg(cv.w), r*out, in, k, k)
		conv := Convolve(h, kernel).ChannelsAxis(images.ChannelsFirst).
			PaddingPerDim([][2]int{{m.pad, m.pad}, {m.pad, m.pad}})
		if i > 0 || !isShared(x, m.spec.Input, r) {
			conv = conv.ChannelGroupCount(r) // each model convolves only its own channels
		}
		h = conv.Done()
		h = Add(h, Reshape(seg(cv.b), 1, r*out, 1, 1))
		h = Max(h, ZerosLike(h))
		h = meanPool2(h, m.hw[i])
	}
	// [B, R*C, H', W'] → [R, C*H'*W', B], flattening each example in PyTorch's (C,H,W) order.
	hT := TransposeAllAxes(Reshape(h, b, r, m.flat), 1, 2, 0)
	first := m.dense[0]
	hT = DotGeneral(seg(first.w), []int{2}, []int{0}, hT, []int{1}, []int{0})
	return denseStack(seg, hT, m.dense, false)
}

// meanPool2 is a 2x2 stride-2 average pool of [N,C,H,W] written as reshape+mean, which every backend
// differentiates (odd trailing rows/columns are dropped, as nn.AvgPool2d(2) does).
func meanPool2(x *Node, hw [2]int) *Node {
	dims := x.Shape().Dimensions
	n, c, h, w := dims[0], dims[1], hw[0], hw[1]
	if h%2 == 1 {
		x = SliceAxis(x, 2, AxisRange(0, h-1))
	}
	if w%2 == 1 {
		x = SliceAxis(x, 3, AxisRange(0, w-1))
	}
	return ReduceMean(Reshape(x, n, c, h/2, 2, w/2, 2), 3, 5)
}

// segment slices one named tensor out of params [R,P] as [R, shape...].
func segment(params *Node, s Segment) *Node {
	r := params.Shape().Dimensions[0]
	return Reshape(SliceAxis(params, 1, AxisRange(s.Offset, s.Offset+s.Size())), append([]int{r}, s.Shape...)...)
}

func checkParams(params *Node, l Layout) int {
	dims := params.Shape().Dimensions
	if len(dims) != 2 || dims[1] != l.Size() {
		exceptions.Panicf("arch: params must be [R, %d], got %s", l.Size(), params.Shape())
	}
	if params.DType() != dtypes.Float32 {
		exceptions.Panicf("arch: params must be float32, got %s", params.DType())
	}
	return dims[0]
}

// isShared tells whether x is [B, input...] (shared by all models) rather than [R, B, input...].
// An input given flattened ([B,D] or [R,B,D]) is accepted too.
func isShared(x *Node, input []int, r int) bool {
	rank := x.Rank()
	switch {
	case rank == len(input)+1 || (rank == 2 && len(input) > 1):
		return true
	case rank == len(input)+2 || rank == 3:
		if x.Shape().Dimensions[0] != r {
			exceptions.Panicf("arch: per-model inputs must be [R=%d, B, ...], got %s", r, x.Shape())
		}
		return false
	}
	exceptions.Panicf("arch: inputs must be [B,%v] or [R,B,%v], got %s", input, input, x.Shape())
	return false
}
