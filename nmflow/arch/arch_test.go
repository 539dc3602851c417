package arch

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/internal/testutil"
)

var testBackend = testutil.Backend // the process-wide backend

func TestLayoutRoundTrip(t *testing.T) {
	net, err := New(MLP([]int{1, 4, 4}, 3, 5))
	if err != nil {
		t.Fatal(err)
	}
	l := net.Layout()
	if l.Size() != 16*5+5+5*3+3 {
		t.Fatalf("size %d", l.Size())
	}
	flat := make([]float32, l.Size())
	for i := range flat {
		flat[i] = float32(i)
	}
	named, err := l.Unflatten(flat)
	if err != nil {
		t.Fatal(err)
	}
	if got := named["fc2.weight"][0]; got != float32(16*5+5) {
		t.Fatalf("fc2.weight starts at %v", got)
	}
	back, err := l.Flatten(named)
	if err != nil {
		t.Fatal(err)
	}
	for i := range flat {
		if back[i] != flat[i] {
			t.Fatalf("round trip differs at %d", i)
		}
	}
	delete(named, "fc1.bias")
	if _, err := l.Flatten(named); err == nil {
		t.Fatal("missing tensor accepted")
	}
	js, _ := json.Marshal(l)
	var l2 Layout
	if err := json.Unmarshal(js, &l2); err != nil {
		t.Fatal(err)
	}
	if l2.Size() != l.Size() || l2.Segments[2].Name != "fc2.weight" || l2.Segments[2].FanIn != 5 {
		t.Fatalf("json round trip: %+v", l2)
	}
	bad := []byte(`{"segments":[{"name":"a","shape":[2],"fan_in":1,"kind":"weight","offset":3}]}`)
	if err := json.Unmarshal(bad, &l2); err == nil {
		t.Fatal("non-contiguous layout accepted")
	}
}

func TestInitLawBoundsAndMoments(t *testing.T) {
	net, _ := New(MLP([]int{1, 28, 28}, 10, 64))
	l := net.Layout()
	for _, law := range Laws() {
		w, err := Init(l, law, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Segments {
			b, _ := Bound(law, s)
			seg := w[s.Offset : s.Offset+s.Size()]
			var sum, sq, maxAbs float64
			for _, v := range seg {
				sum += float64(v)
				sq += float64(v) * float64(v)
				maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
			}
			n := float64(len(seg))
			mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
			if maxAbs > b {
				t.Errorf("%s %s: |w| max %g exceeds bound %g", law, s.Name, maxAbs, b)
			}
			if n >= 500 {
				if maxAbs < 0.98*b {
					t.Errorf("%s %s: max %g far below bound %g", law, s.Name, maxAbs, b)
				}
				se := b / math.Sqrt(3*n)
				if math.Abs(mean) > 5*se {
					t.Errorf("%s %s: mean %g not ~0 (se %g)", law, s.Name, mean, se)
				}
				if want := b * b / 3; math.Abs(variance-want)/want > 0.1 {
					t.Errorf("%s %s: var %g want %g", law, s.Name, variance, want)
				}
			}
		}
	}
	w1, _ := Init(l, InitPyTorch, 7)
	w2, _ := Init(l, InitPyTorch, 7)
	w3, _ := Init(l, InitPyTorch, 8)
	if w1[100] != w2[100] || w1[100] == w3[100] {
		t.Fatal("init not deterministic in the seed")
	}
	if _, err := Init(l, "xavier", 1); err == nil {
		t.Fatal("unknown law accepted")
	}
	if s := RunSeeds(1, 3); s[0] == s[1] || RunSeeds(1, 5)[2] != s[2] {
		t.Fatal("run seeds must be distinct and independent of R")
	}
}

// refMLP is a plain-Go forward for one model and one example (PyTorch semantics).
func refMLP(l Layout, w []float32, x []float32) []float32 {
	h := x
	n := len(l.Segments) / 2
	for i := 0; i < n; i++ {
		ws, bs := l.Segments[2*i], l.Segments[2*i+1]
		out, in := ws.Shape[0], ws.Shape[1]
		next := make([]float32, out)
		for o := 0; o < out; o++ {
			acc := float64(w[bs.Offset+o])
			for j := 0; j < in; j++ {
				acc += float64(w[ws.Offset+o*in+j]) * float64(h[j])
			}
			if i < n-1 && acc < 0 {
				acc = 0
			}
			next[o] = float32(acc)
		}
		h = next
	}
	return h
}

// refCNN is a plain-Go forward of the CNN for one model and one example.
func refCNN(net *cnn, w []float32, x []float32) []float32 {
	c, h, wd := net.spec.Input[0], net.spec.Input[1], net.spec.Input[2]
	cur := x
	for _, cv := range net.convs {
		out, k, p := cv.w.Shape[0], cv.w.Shape[2], net.pad
		conv := make([]float32, out*h*wd)
		for o := 0; o < out; o++ {
			for i := 0; i < h; i++ {
				for j := 0; j < wd; j++ {
					acc := float64(w[cv.b.Offset+o])
					for ci := 0; ci < c; ci++ {
						for di := 0; di < k; di++ {
							for dj := 0; dj < k; dj++ {
								ii, jj := i+di-p, j+dj-p
								if ii < 0 || jj < 0 || ii >= h || jj >= wd {
									continue
								}
								acc += float64(w[cv.w.Offset+((o*c+ci)*k+di)*k+dj]) * float64(cur[(ci*h+ii)*wd+jj])
							}
						}
					}
					conv[(o*h+i)*wd+j] = float32(math.Max(acc, 0))
				}
			}
		}
		h2, w2 := h/2, wd/2
		pool := make([]float32, out*h2*w2)
		for o := 0; o < out; o++ {
			for i := 0; i < h2; i++ {
				for j := 0; j < w2; j++ {
					s := conv[(o*h+2*i)*wd+2*j] + conv[(o*h+2*i)*wd+2*j+1] + conv[(o*h+2*i+1)*wd+2*j] + conv[(o*h+2*i+1)*wd+2*j+1]
					pool[(o*h2+i)*w2+j] = s / 4
				}
			}
		}
		cur, c, h, wd = pool, out, h2, w2
	}
	// Dense part: reuse refMLP on a layout of the fc segments only.
	var dense []Segment
	for _, s := range net.layout.Segments[2*len(net.convs):] {
		dense = append(dense, s)
	}
	return refMLP(Layout{Segments: dense}, w, cur)
}

func checkForward(t *testing.T, net Net, ref func(w, x []float32) []float32, r, b int) {
	t.Helper()
	be := testBackend(t)
	l := net.Layout()
	p := l.Size()
	w, _ := InitBatch(l, InitHeUniform, RunSeeds(3, r))
	d := prod(net.Spec().Input)
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, r*b*d)
	for i := range xs {
		xs[i] = rng.Float32()
	}
	fwd := MustNewExec(be, func(params, x *Node) *Node { return net.Forward(params, x) })
	inDims := append([]int{b}, net.Spec().Input...)
	classes := net.Spec().Classes
	// Shared input: the first b examples for every model.
	shared := fwd.MustExec1(tensors.FromFlatDataAndDimensions(w, r, p), tensors.FromFlatDataAndDimensions(xs[:b*d], inDims...))
	got := tensors.MustCopyFlatData[float32](shared)
	perDims := append([]int{r}, inDims...)
	per := fwd.MustExec1(tensors.FromFlatDataAndDimensions(w, r, p), tensors.FromFlatDataAndDimensions(xs, perDims...))
	gotPer := tensors.MustCopyFlatData[float32](per)
	for m := 0; m < r; m++ {
		for i := 0; i < b; i++ {
			want := ref(w[m*p:(m+1)*p], xs[i*d:(i+1)*d])
			wantPer := ref(w[m*p:(m+1)*p], xs[(m*b+i)*d:(m*b+i+1)*d])
			for c := 0; c < classes; c++ {
				if g := got[(m*b+i)*classes+c]; math.Abs(float64(g-want[c])) > 1e-4*(1+math.Abs(float64(want[c]))) {
					t.Fatalf("shared: model %d example %d class %d: got %g want %g", m, i, c, g, want[c])
				}
				if g := gotPer[(m*b+i)*classes+c]; math.Abs(float64(g-wantPer[c])) > 1e-4*(1+math.Abs(float64(wantPer[c]))) {
					t.Fatalf("per-model: model %d example %d class %d: got %g want %g", m, i, c, g, wantPer[c])
				}
			}
		}
	}
}

func TestMLPForwardMatchesReference(t *testing.T) {
	net, err := New(MLP([]int{1, 6, 5}, 4, 7, 3))
	if err != nil {
		t.Fatal(err)
	}
	checkForward(t, net, func(w, x []float32) []float32 { return refMLP(net.Layout(), w, x) }, 3, 5)
}

func TestCNNForwardMatchesReference(t *testing.T) {
	net, err := New(CNN([]int{2, 8, 6}, 3, []int{3, 4}, 5))
	if err != nil {
		t.Fatal(err)
	}
	c := net.(*cnn)
	checkForward(t, net, func(w, x []float32) []float32 { return refCNN(c, w, x) }, 2, 3)
}

// Gradients must compile and run on the Go backend (grouped convolution, mean-pool, slicing).
func TestGradientsCompile(t *testing.T) {
	be := testBackend(t)
	for _, spec := range []Spec{MLP([]int{1, 4, 4}, 3, 5), CNN([]int{1, 4, 4}, 3, []int{2}, 4)} {
		net, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		r, b, p := 2, 3, net.Layout().Size()
		w, _ := InitBatch(net.Layout(), InitPyTorch, RunSeeds(1, r))
		x := make([]float32, r*b*16)
		for i := range x {
			x[i] = float32(i%7) / 7
		}
		grad := MustNewExec(be, func(params, x *Node) *Node {
			return Gradient(ReduceAllSum(Square(net.Forward(params, x))), params)[0]
		})
		g := tensors.MustCopyFlatData[float32](grad.MustExec1(tensors.FromFlatDataAndDimensions(w, r, p), tensors.FromFlatDataAndDimensions(x, r, b, 1, 4, 4)))
		var norm float64
		for _, v := range g {
			norm += float64(v * v)
		}
		if len(g) != r*p || norm == 0 || math.IsNaN(norm) {
			t.Fatalf("%s: gradient len %d norm %g", spec, len(g), norm)
		}
		// The same forward and gradient through the parts (what the zoo's step uses), bit for bit.
		viaParts := MustNewExec(be, func(params, x *Node) []*Node {
			parts := SplitParams(params, net.Layout())
			out := net.ForwardParts(parts, x)
			return []*Node{out, JoinParts(Gradient(ReduceAllSum(Square(out)), parts...)), net.Forward(params, x)}
		})
		outs := viaParts.MustExec(tensors.FromFlatDataAndDimensions(w, r, p), tensors.FromFlatDataAndDimensions(x, r, b, 1, 4, 4))
		if !slices.Equal(tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[2])) {
			t.Errorf("%s: ForwardParts differs from Forward", spec)
		}
		if gp := tensors.MustCopyFlatData[float32](outs[1]); !slices.Equal(gp, g) {
			t.Errorf("%s: the gradient through the parts differs from the gradient through params", spec)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	for _, s := range []Spec{{Kind: "rnn", Input: []int{3}, Classes: 2}, MLP(nil, 10), CNN([]int{5}, 10, []int{4}), CNN([]int{1, 1, 1}, 2, []int{4})} {
		if _, err := New(s); err == nil {
			t.Errorf("spec %+v accepted", s)
		}
	}
	if w, err := ParseWidths("32, 16"); err != nil || len(w) != 2 || w[1] != 16 {
		t.Fatalf("ParseWidths: %v %v", w, err)
	}
	if _, err := ParseWidths("32,x"); err == nil {
		t.Fatal("bad widths accepted")
	}
}
