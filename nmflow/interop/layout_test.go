package interop

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func TestSequentialNames(t *testing.T) {
	m, err := SequentialNames(mlpSpec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"fc1.weight": "1.weight", "fc1.bias": "1.bias", "fc2.weight": "3.weight", "fc2.bias": "3.bias", "fc3.weight": "5.weight", "fc3.bias": "5.bias"}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("mlp: %v", m)
	}
	c, err := SequentialNames(arch.CNN([]int{1, 8, 8}, 3, []int{4, 6}, 5))
	if err != nil {
		t.Fatal(err)
	}
	// conv1 Conv2d 0, ReLU 1, pool 2; conv2 3, 4, 5; Flatten 6; fc1 7; ReLU 8; fc2 9.
	if c["conv1.weight"] != "0.weight" || c["conv2.bias"] != "3.bias" || c["fc1.weight"] != "7.weight" || c["fc2.bias"] != "9.bias" {
		t.Errorf("cnn: %v", c)
	}
	if _, err := Rename(mlpSpec, "keras"); err == nil {
		t.Error("unknown naming accepted")
	}
}

// sdOf makes a state dict of zero-filled float32 tensors with the given names and shapes.
func sdOf(kv ...any) *StateDict {
	sd := newStateDict("test", "mem")
	for i := 0; i < len(kv); i += 2 {
		shape := kv[i+1].([]int)
		n := 1
		for _, d := range shape {
			n *= d
		}
		sd.Add(kv[i].(string), traj.F32Tensor(shape, make([]float32, n)))
	}
	return sd
}

func TestMapReportsProblems(t *testing.T) {
	spec := arch.MLP([]int{4}, 2, 3)
	l := arch.MustNew(spec).Layout()
	cases := []struct {
		name string
		sd   *StateDict
		opt  MapOptions
		want []string // in the error
	}{
		{"missing", sdOf("fc1.weight", []int{3, 4}, "fc1.bias", []int{3}, "fc2.weight", []int{2, 3}), MapOptions{}, []string{"missing: fc2.bias [2]"}},
		{"transposed", sdOf("fc1.weight", []int{4, 3}, "fc1.bias", []int{3}, "fc2.weight", []int{2, 3}, "fc2.bias", []int{2}),
			MapOptions{}, []string{"mis-shaped: fc1.weight is [4 3]", "transposed"}},
		{"other size", sdOf("fc1.weight", []int{5, 4}, "fc1.bias", []int{3}, "fc2.weight", []int{2, 3}, "fc2.bias", []int{2}),
			MapOptions{}, []string{"another architecture"}},
		{"unexpected", sdOf("net.fc1.weight", []int{3, 4}, "net.fc1.bias", []int{3}, "net.fc2.weight", []int{2, 3}, "net.fc2.bias", []int{2}, "net.bn.running_mean", []int{3}),
			MapOptions{}, []string{`prefix "net."`, "unexpected: net.bn.running_mean [3]"}},
		{"nothing", sdOf("encoder.w", []int{3}), MapOptions{}, []string{"none of the layout's tensors", "encoder.w"}},
		{"mixed stacking", sdOf("fc1.weight", []int{2, 3, 4}, "fc1.bias", []int{3}, "fc2.weight", []int{2, 3}, "fc2.bias", []int{2}),
			MapOptions{}, []string{"stacked as [] while other tensors are stacked as [2]"}},
	}
	for _, c := range cases {
		_, rep, err := Map(c.sd, l, c.opt)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
		if rep == nil || rep.OK() {
			t.Errorf("%s: report says OK", c.name)
		}
	}
	// Unexpected tensors can be allowed; they stay in the report.
	sd := sdOf("fc1.weight", []int{3, 4}, "fc1.bias", []int{3}, "fc2.weight", []int{2, 3}, "fc2.bias", []int{2}, "extra", []int{1})
	if _, rep, err := Map(sd, l, MapOptions{AllowUnexpected: true}); err != nil || len(rep.Unexpected) != 1 {
		t.Errorf("AllowUnexpected: %v %+v", err, rep)
	}
	// Non-finite and non-float weights are refused.
	sd = sdOf("fc1.weight", []int{3, 4}, "fc1.bias", []int{3}, "fc2.weight", []int{2, 3}, "fc2.bias", []int{2})
	sd.Tensors["fc1.bias"] = traj.F32Tensor([]int{3}, []float32{0, float32(posInf()), 0})
	if _, _, err := Map(sd, l, MapOptions{}); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("Inf weight: %v", err)
	}
	sd.Tensors["fc1.bias"] = traj.I64Tensor([]int{3}, []int64{1, 2, 3})
	if _, _, err := Map(sd, l, MapOptions{}); err == nil || !strings.Contains(err.Error(), "not a floating-point") {
		t.Errorf("integer weight: %v", err)
	}
}

func posInf() float64 { var z float64; return 1 / z }

// TestMapStackedRoundTrip: FromFlat with leading axes and Map give back the same rows.
func TestMapStackedRoundTrip(t *testing.T) {
	l := arch.MustNew(mlpSpec).Layout()
	p := l.Size()
	flat := make([]float32, 6*p)
	for i := range flat {
		flat[i] = float32(i%977) / 97
	}
	for _, lead := range [][]int{{6}, {2, 3}} {
		sd, err := FromFlat(l, flat, lead, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, rep, err := Map(sd, l, MapOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(got, flat) || !reflect.DeepEqual(rep.Lead, lead) {
			t.Errorf("lead %v: round trip lost rows (report lead %v)", lead, rep.Lead)
		}
	}
	if _, err := FromFlat(l, flat, []int{5}, nil); err == nil {
		t.Error("FromFlat accepted 6 rows as 5")
	}
}

func TestInferSpec(t *testing.T) {
	sd, err := Read(fixture("torch", "mlp_checkpoint.pt"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := InferSpec(sd, "mlp", []int{1, 4, 4})
	if err != nil || s.String() != mlpSpec.String() || !reflect.DeepEqual(s.Input, []int{1, 4, 4}) {
		t.Errorf("mlp: %v %v", s, err)
	}
	if s, err := InferSpec(sd, "mlp", nil); err != nil || !reflect.DeepEqual(s.Input, []int{16}) {
		t.Errorf("mlp without input: %v %v", s, err)
	}
	cnn, err := Read(fixture("torch", "cnn.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := InferSpec(cnn, "cnn", []int{1, 6, 6}); err != nil || !reflect.DeepEqual(s, cnnSpec) {
		t.Errorf("cnn: %+v %v", s, err)
	}
	for _, c := range []struct {
		sd    *StateDict
		kind  string
		input []int
		want  string
	}{{cnn, "cnn", nil, "input shape"}, {cnn, "mlp", nil, "use --arch cnn"}, {sd, "cnn", []int{1, 4, 4}, "use --arch mlp"}, {sd, "rnn", nil, "unknown"}} {
		if _, err := InferSpec(c.sd, c.kind, c.input); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.kind, err, c.want)
		}
	}
}
