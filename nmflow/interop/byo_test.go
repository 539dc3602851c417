package interop

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// The bring-your-own-checkpoint fixtures (testdata/byo, made by make_byo.py with PyTorch 1.13):
// one MLP 12-5-3 saved under each naming and wrapper PyTorch users meet.
var (
	byoMLP = arch.MLP([]int{12}, 3, 5)
	byoCNN = arch.CNN([]int{1, 6, 6}, 3, []int{3}, 5)
)

// byoCase is one fixture and how it must map.
type byoCase struct {
	file, prefix, container string
	source                  []string // the saved state_dict's keys, in layout order
	ignored                 int      // tensors outside the state dict (optimizer state)
}

var byoCases = []byoCase{
	{"sequential.pt", "", "", []string{"0.weight", "0.bias", "2.weight", "2.bias"}, 0},
	{"layers.pt", "layers.", "", []string{"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}, 0},
	{"custom.pt", "", "", []string{"net.fc_in.weight", "net.fc_in.bias", "classifier.weight", "classifier.bias"}, 0},
	{"training_loop.pt", "model_state_dict.", "model_state_dict.", []string{"0.weight", "0.bias", "2.weight", "2.bias"}, 12},
	{"lightning.pt", "state_dict.model.", "state_dict.", []string{"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}, 4},
	{"dataparallel.pt", "module.", "", []string{"module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"}, 0},
}

// TestImportEveryNamingAndWrapper: each fixture imports with exactly PyTorch's weights (the flat
// vector PyTorch wrote beside them), computes PyTorch's logits, and records its source keys.
func TestImportEveryNamingAndWrapper(t *testing.T) {
	want, _ := npyFloats(t, fixture("byo", "mlp_flat.npy"))
	x, xs := npyFloats(t, fixture("byo", "x_mlp.npy"))
	wantLogits, _ := npyFloats(t, fixture("byo", "mlp_logits.npy"))
	for _, c := range byoCases {
		z, rep, err := ImportFile(fixture("byo", c.file), AssembleOptions{Spec: byoMLP})
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if !sameBits(z.Weights, want) {
			t.Errorf("%s: imported weights differ from PyTorch's", c.file)
		}
		keys, err := SourceKeys(z.Meta)
		if err != nil || !reflect.DeepEqual(keys, c.source) {
			t.Errorf("%s: source keys %v (%v), want %v", c.file, keys, err, c.source)
		}
		if rep.Prefix != c.prefix || rep.Container != c.container || len(rep.Ignored) != c.ignored || len(rep.Unexpected) != 0 {
			t.Errorf("%s: prefix %q container %q, %d ignored; want %q %q %d\n%s", c.file, rep.Prefix, rep.Container, len(rep.Ignored), c.prefix, c.container, c.ignored, rep)
		}
		// The report prints the mapping it chose.
		if s := rep.String(); !strings.Contains(s, rep.Matched[0].Key+" [5 12] -> fc1.weight") || !strings.Contains(s, rep.Matched[3].Key+" [3] -> fc2.bias") {
			t.Errorf("%s: report does not show the mapping:\n%s", c.file, s)
		}
		if d := maxAbsDiff(logits(t, byoMLP, z.Weights, x, xs), wantLogits); d > 1e-6 {
			t.Errorf("%s: nmflow's logits differ from PyTorch's by %g", c.file, d)
		}
	}
	// The training-loop and Lightning files' numbers are counted, the optimizer's among them.
	_, rep, _ := ImportFile(fixture("byo", "lightning.pt"), AssembleOptions{Spec: byoMLP})
	if !strings.Contains(rep.String(), "numbers beside the tensors (epoch, global_step") {
		t.Errorf("lightning: numbers not reported:\n%s", rep)
	}
}

// TestImportConvNetByStructure: a cnn saved as features.0.* / classifier.1.* / classifier.3.*.
func TestImportConvNetByStructure(t *testing.T) {
	spec := byoCNN
	want, _ := npyFloats(t, fixture("byo", "cnn_flat.npy"))
	z, rep, err := ImportFile(fixture("byo", "convnet.pt"), AssembleOptions{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(z.Weights, want) || rep.Matched[0].Key != "features.0.weight" || rep.Matched[2].Segment != "fc1.weight" || rep.Matched[2].Key != "classifier.1.weight" {
		t.Fatalf("convnet: weights equal %v, mapping\n%s", sameBits(z.Weights, want), rep)
	}
	x, xs := npyFloats(t, fixture("byo", "x_cnn.npy"))
	wantLogits, _ := npyFloats(t, fixture("byo", "cnn_logits.npy"))
	if d := maxAbsDiff(logits(t, spec, z.Weights, x, xs), wantLogits); d > 1e-5 {
		t.Errorf("convnet: logits differ from PyTorch's by %g", d)
	}
	sd, _ := Read(fixture("byo", "convnet.pt"))
	if got, err := InferSpec(sd, "cnn", []int{1, 6, 6}); err != nil || !reflect.DeepEqual(got, spec) {
		t.Errorf("InferSpec on custom names: %+v %v", got, err)
	}
}

// TestImportOrdinaryLoopZoo: run{r}/epoch{k}.pt files of nn.Sequential state dicts become a zoo
// holding exactly the weights PyTorch trained.
func TestImportOrdinaryLoopZoo(t *testing.T) {
	want, _ := npyFloats(t, fixture("byo", "zoo_flat.npy"))
	z, rep, err := Import(fixture("byo", "zoo"), AssembleOptions{Spec: byoMLP})
	if err != nil {
		t.Fatal(err)
	}
	if z.Runs != 2 || z.Checkpoints != 3 || !sameBits(z.Weights, want) {
		t.Fatalf("zoo %d×%d, weights equal %v", z.Runs, z.Checkpoints, sameBits(z.Weights, want))
	}
	if keys, _ := SourceKeys(z.Meta); !reflect.DeepEqual(keys, []string{"0.weight", "0.bias", "2.weight", "2.bias"}) || rep.Files != 6 {
		t.Errorf("source keys %v, %d files", keys, rep.Files)
	}
	// A file saved otherwise than the first is refused, naming both.
	dir := copyTree(t, fixture("byo", "zoo"))
	b, _ := os.ReadFile(fixture("byo", "custom.pt"))
	os.WriteFile(filepath.Join(dir, "run1", "epoch2.pt"), b, 0o644)
	if _, _, err := Import(dir, AssembleOptions{Spec: byoMLP}); err == nil || !strings.Contains(err.Error(), "is not saved like") {
		t.Errorf("a file with other keys: %v", err)
	}
}

// TestWholeModuleRefused: torch.save(net) is refused with the fix, whether torch's own class or a
// user's.
func TestWholeModuleRefused(t *testing.T) {
	_, err := Read(fixture("byo", "whole_module.pt"))
	if err == nil || !strings.Contains(err.Error(), "save net.state_dict()") || !strings.Contains(err.Error(), "torch.nn.modules.container.Sequential") {
		t.Errorf("whole module: %v", err)
	}
	// A user's class, recognized by the state an nn.Module pickles.
	var p pickleWriter
	p.proto()
	p.global("__main__", "Net")
	p.op(')')
	p.op(0x81) // NEWOBJ
	p.op('}')
	p.str("_modules")
	p.op('}')
	p.op('s')
	p.op('b') // BUILD
	p.stop()
	if _, err := parseTorch(torchZip(t, p.Bytes(), nil)); err == nil || !strings.Contains(err.Error(), "__main__.Net") {
		t.Errorf("a user's pickled module: %v", err)
	}
}

// TestExportSourceKeysRoundTrip: weights exported under the recorded source keys hold, under the
// very keys of the saved state dict, bit-identical tensors, and import back to the same zoo.
func TestExportSourceKeysRoundTrip(t *testing.T) {
	for _, c := range byoCases {
		z, _, err := ImportFile(fixture("byo", c.file), AssembleOptions{Spec: byoMLP})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "out.pt")
		sd := exportSource(t, z, path)
		orig, _ := Read(fixture("byo", c.file))
		for i, name := range sd.Names {
			o := orig.Tensors[c.container+c.source[i]]
			if name != c.source[i] || !bytes.Equal(sd.Tensors[name].Data, o.Data) || !reflect.DeepEqual(sd.Tensors[name].Shape, o.Shape) {
				t.Errorf("%s: exported %s differs from the saved %s%s", c.file, name, c.container, c.source[i])
			}
		}
		back, _, err := ImportFile(path, AssembleOptions{Spec: byoMLP})
		if err != nil || !sameBits(back.Weights, z.Weights) {
			t.Errorf("%s: re-import: %v", c.file, err)
		}
	}
}

// exportSource writes z's nets, stacked unless there is one, under its source keys and reads the
// file back.
func exportSource(t *testing.T, z *traj.Zoo, path string) *StateDict {
	t.Helper()
	keys, err := SourceKeys(z.Meta)
	if err != nil || keys == nil {
		t.Fatalf("no source keys: %v", err)
	}
	rename, err := SourceRename(z.Meta.Layout, keys)
	if err != nil {
		t.Fatal(err)
	}
	var lead []int
	if z.Runs*z.Checkpoints > 1 {
		lead = []int{z.Runs, z.Checkpoints}
	}
	sd, err := FromFlat(z.Meta.Layout, z.Weights, lead, rename)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTorch(path, sd); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// TestMapAmbiguousAndStated: two equally good mappings are refused with both listed; --map
// settles them, and states mappings that no order of the file gives.
func TestMapAmbiguousAndStated(t *testing.T) {
	spec := arch.MLP([]int{4}, 2, 3)
	l := arch.MustNew(spec).Layout()
	// Two heads of the same shape: either could be fc2.
	heads := sdOf("body.weight", []int{3, 4}, "body.bias", []int{3}, "a.weight", []int{2, 3}, "a.bias", []int{2}, "b.weight", []int{2, 3}, "b.bias", []int{2})
	_, rep, err := Map(heads, l, MapOptions{AllowUnexpected: true})
	if err == nil || !strings.Contains(err.Error(), "candidate 1") || !strings.Contains(err.Error(), "candidate 2") || !strings.Contains(err.Error(), "--map") || len(rep.Candidates) != 2 {
		t.Fatalf("two heads: %v", err)
	}
	if _, rep, err := Map(heads, l, MapOptions{AllowUnexpected: true, Keys: map[string]string{"b": "fc2"}}); err != nil || rep.Matched[2].Key != "b.weight" || rep.Matched[3].Key != "b.bias" || len(rep.Unexpected) != 2 {
		t.Errorf("--map b=fc2: %v %+v", err, rep)
	}
	// Two dicts of the file that fit alike (a student and a teacher) are refused too; --prefix picks one.
	two := sdOf("student.0.weight", []int{3, 4}, "student.0.bias", []int{3}, "student.2.weight", []int{2, 3}, "student.2.bias", []int{2},
		"teacher.0.weight", []int{3, 4}, "teacher.0.bias", []int{3}, "teacher.2.weight", []int{2, 3}, "teacher.2.bias", []int{2})
	two.Container = map[string]string{}
	for _, k := range two.Names {
		two.Container[k], _, _ = strings.Cut(k, ".")
		two.Container[k] += "."
	}
	if _, _, err := Map(two, l, MapOptions{}); err == nil || !strings.Contains(err.Error(), "student.0.weight→fc1.weight") || !strings.Contains(err.Error(), "teacher.0.weight→fc1.weight") {
		t.Errorf("student and teacher: %v", err)
	}
	if _, rep, err := Map(two, l, MapOptions{Prefix: "teacher."}); err != nil || rep.Matched[0].Key != "teacher.0.weight" || rep.Matched[0].Source != "0.weight" {
		t.Errorf("--prefix teacher.: %v", err)
	}
	// Names break ties: a BatchNorm's [3] weight and bias could pass for fc1.bias; the bias of
	// fc1's own module wins.
	bn := sdOf("fc.weight", []int{3, 4}, "bn.weight", []int{3}, "bn.bias", []int{3}, "fc.bias", []int{3}, "out.weight", []int{2, 3}, "out.bias", []int{2})
	if _, rep, err := Map(bn, l, MapOptions{AllowUnexpected: true}); err != nil || rep.Matched[1].Key != "fc.bias" || len(rep.Unexpected) != 2 {
		t.Errorf("batchnorm tie: %v\n%v", err, rep)
	} else if _, _, err := Map(bn, l, MapOptions{}); err == nil || !strings.Contains(err.Error(), "unexpected: bn.weight [3]") || !strings.Contains(err.Error(), "--allow-unexpected") {
		t.Errorf("batchnorm buffers not reported as unexpected: %v", err)
	}
	// A module that defines its head before its body: no order fits, the error says so and
	// suggests --map; stating the mapping imports it.
	rev := sdOf("head.weight", []int{2, 3}, "head.bias", []int{2}, "body.weight", []int{3, 4}, "body.bias", []int{3})
	if _, _, err := Map(rev, l, MapOptions{}); err == nil || !strings.Contains(err.Error(), "in its order") || !strings.Contains(err.Error(), "--map") {
		t.Errorf("reversed definition order: %v", err)
	}
	keys, err := ParseKeyMap("body=fc1, head=fc2")
	if err != nil {
		t.Fatal(err)
	}
	if _, rep, err := Map(rev, l, MapOptions{Keys: keys}); err != nil || rep.Matched[0].Key != "body.weight" || rep.Matched[3].Key != "head.bias" {
		t.Errorf("stated mapping: %v", err)
	}
	bad := map[string]string{"body.weight": "fc1.weight", "body.bias": "fc1.bias", "head.weight": "fc2.weight", "head.bias": "fc1.bias"}
	if _, _, err := Map(rev, l, MapOptions{Keys: bad}); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("a segment stated twice: %v", err)
	}
	wrongShape := map[string]string{"body": "fc2", "head": "fc1"}
	if _, _, err := Map(rev, l, MapOptions{Keys: wrongShape}); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a stated mapping of the wrong shapes: %v", err)
	}
	for m, want := range map[string]string{"nobody=fc1": "no tensor nobody.weight", "body=fc9": "no segment or layer"} {
		k, _ := ParseKeyMap(m)
		if _, _, err := Map(rev, l, MapOptions{Keys: k}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--map %s: %v, want %q", m, err, want)
		}
	}
}

func TestParseKeyMap(t *testing.T) {
	dir := t.TempDir()
	lines := filepath.Join(dir, "map.txt")
	os.WriteFile(lines, []byte("# my module\nnet.fc_in = fc1\nclassifier=fc2  # the head\n"), 0o644)
	js := filepath.Join(dir, "map.json")
	os.WriteFile(js, []byte(`{"net.fc_in": "fc1", "classifier": "fc2"}`), 0o644)
	want := map[string]string{"net.fc_in": "fc1", "classifier": "fc2"}
	for _, s := range []string{"net.fc_in=fc1,classifier=fc2", lines, js} {
		if got, err := ParseKeyMap(s); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	for s, msg := range map[string]string{"fc1": "neither a file nor", "a=fc1,=fc2": "want key=segment", "a=fc1,a=fc2": "twice"} {
		if _, err := ParseKeyMap(s); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", s, err, msg)
		}
	}
	if m, err := ParseKeyMap(""); m != nil || err != nil {
		t.Errorf("empty: %v %v", m, err)
	}
}

// TestImportGoMLXCheckpoint: a GoMLX training checkpoint (layers.Dense's [in, out] "weights" and
// "biases", Adam's moments, the global step) imports through the same mapping, its weights
// turned to PyTorch's [out, in].
func TestImportGoMLXCheckpoint(t *testing.T) {
	want, _ := npyFloats(t, fixture("byo", "mlp_flat.npy"))
	l := arch.MustNew(byoMLP).Layout()
	sd := newStateDict("", "")
	for i, layer := range []string{"hidden.dense", "logits.dense"} {
		w, b := l.Segments[2*i], l.Segments[2*i+1]
		out, in := w.Shape[0], w.Shape[1]
		wt := make([]float32, in*out) // [in, out]
		for o := range out {
			for j := range in {
				wt[j*out+o] = want[w.Offset+o*in+j]
			}
		}
		sd.Add(layer+".weights", traj.F32Tensor([]int{in, out}, wt))
		sd.Add(layer+".biases", traj.F32Tensor([]int{out}, want[b.Offset:b.Offset+out]))
		sd.Add("AdamOptimizer."+layer+".weights_1st_moment", traj.F32Tensor([]int{in, out}, make([]float32, in*out)))
	}
	sd.Add("global_step", traj.I64Tensor(nil, []int64{42}))
	dir := t.TempDir()
	if err := WriteGoMLX(filepath.Join(dir, "ckpt"), sd); err != nil {
		t.Fatal(err)
	}
	if err := WriteGoMLX(filepath.Join(dir, "ckpt"), sd); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second write over the checkpoint: %v", err)
	}
	if !IsGoMLXCheckpoint(dir) || IsGoMLXCheckpoint(fixture("byo")) {
		t.Fatal("IsGoMLXCheckpoint is wrong")
	}
	sample, err := SampleFile(dir)
	if err != nil || sample != dir {
		t.Fatalf("SampleFile of a GoMLX folder: %q %v", sample, err)
	}
	read, err := Read(sample)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := InferSpec(read, "mlp", nil)
	if err != nil || spec.String() != byoMLP.String() {
		t.Fatalf("InferSpec: %v %v", spec, err)
	}
	z, rep, err := Import(dir, AssembleOptions{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(z.Weights, want) || !rep.First.Matched[0].Transposed || rep.First.Matched[0].Key != "hidden.dense.weights" || len(rep.First.Ignored) != 2 {
		t.Errorf("GoMLX import: weights equal %v\n%s", sameBits(z.Weights, want), rep.First)
	}
	if read.Scalars["global_step"] != 42 || !strings.Contains(rep.First.String(), "transposed 2 GoMLX weights") {
		t.Errorf("global step %v, report\n%s", read.Scalars["global_step"], rep.First)
	}
}

// TestSafetensorsOrder: a safetensors file keeps its writer's order (the data's), so custom names
// map by structure; one sorted by name, as Python's safetensors writes it (0.bias before
// 0.weight), maps too.
func TestSafetensorsOrder(t *testing.T) {
	want, _ := npyFloats(t, fixture("byo", "mlp_flat.npy"))
	custom, err := Read(fixture("byo", "custom.pt"))
	if err != nil {
		t.Fatal(err)
	}
	sorted := []string{"0.bias", "0.weight", "2.bias", "2.weight"}
	seq, _ := Read(fixture("byo", "sequential.pt"))
	for name, c := range map[string]struct {
		sd    *StateDict
		order []string
	}{"custom": {custom, custom.Names}, "sorted": {seq, sorted}} {
		path := filepath.Join(t.TempDir(), name+".safetensors")
		if err := traj.WriteSafetensors(path, c.sd.Tensors, c.order, nil); err != nil {
			t.Fatal(err)
		}
		back, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Names, c.order) {
			t.Errorf("%s: read in order %v, written %v", name, back.Names, c.order)
		}
		flat, rep, err := Map(back, arch.MustNew(byoMLP).Layout(), MapOptions{})
		if err != nil || !sameBits(flat, want) {
			t.Errorf("%s: %v\n%v", name, err, rep)
		}
	}
}

// TestPermute: GoMLX's [kh, kw, in, out] conv kernels turn to PyTorch's [out, in, kh, kw].
func TestPermute(t *testing.T) {
	v := make([]float32, 2*3*4*5)
	for i := range v {
		v[i] = float32(i)
	}
	got := permute(traj.F32Tensor([]int{2, 3, 4, 5}, v), []int{3, 2, 0, 1})
	w, _, _ := Float32s(got)
	if !reflect.DeepEqual(got.Shape, []int{5, 4, 2, 3}) {
		t.Fatalf("shape %v", got.Shape)
	}
	for o := range 5 {
		for i := range 4 {
			for h := range 2 {
				for k := range 3 {
					if w[((o*4+i)*2+h)*3+k] != v[((h*3+k)*4+i)*5+o] {
						t.Fatalf("element [%d %d %d %d] is wrong", o, i, h, k)
					}
				}
			}
		}
	}
}

// TestNestedStateDicts: a model saved as several state dicts in one dict maps as one, its source
// keys naming the parts.
func TestNestedStateDicts(t *testing.T) {
	l := arch.MustNew(arch.MLP([]int{4}, 2, 3)).Layout()
	sd := sdOf("model.encoder.0.weight", []int{3, 4}, "model.encoder.0.bias", []int{3}, "model.head.0.weight", []int{2, 3}, "model.head.0.bias", []int{2},
		"optimizer.state.0.momentum_buffer", []int{3, 4})
	sd.Container = map[string]string{"model.encoder.0.weight": "model.encoder.", "model.encoder.0.bias": "model.encoder.",
		"model.head.0.weight": "model.head.", "model.head.0.bias": "model.head.", "optimizer.state.0.momentum_buffer": "optimizer.state.0."}
	_, rep, err := Map(sd, l, MapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var src []string
	for _, m := range rep.Matched {
		src = append(src, m.Source)
	}
	if rep.Container != "model." || !reflect.DeepEqual(src, []string{"encoder.0.weight", "encoder.0.bias", "head.0.weight", "head.0.bias"}) || len(rep.Ignored) != 1 {
		t.Errorf("container %q, sources %v, ignored %v", rep.Container, src, rep.Ignored)
	}
}
