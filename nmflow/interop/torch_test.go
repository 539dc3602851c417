package interop

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// TestTorchFixturesMatchPyTorchLogits: weights read from files PyTorch wrote give, through
// nmflow's own forward pass, the logits PyTorch computed on the same batch.
func TestTorchFixturesMatchPyTorchLogits(t *testing.T) {
	xm, xmShape := npyFloats(t, fixture("torch", "x_mlp.npy"))
	xc, xcShape := npyFloats(t, fixture("torch", "x_cnn.npy"))
	cases := []struct {
		file, logits string
		spec         arch.Spec
		x            []float32
		xshape       []int
		prefix       string
		naming       string
	}{
		{"mlp.pt", "mlp_logits.npy", mlpSpec, xm, xmShape, "", NamesLayout},
		{"mlp_checkpoint.pt", "mlp_checkpoint_logits.npy", mlpSpec, xm, xmShape, "state_dict.", NamesSequential},
		{"cnn.pt", "cnn_logits.npy", cnnSpec, xc, xcShape, "", NamesSequential},
	}
	for _, c := range cases {
		flat, rep := mustMap(t, fixture("torch", c.file), c.spec)
		if rep.Prefix != c.prefix || rep.Naming != c.naming || !rep.OK() {
			t.Errorf("%s: prefix %q naming %s, want %q %s\n%s", c.file, rep.Prefix, rep.Naming, c.prefix, c.naming, rep)
		}
		want, _ := npyFloats(t, fixture("torch", c.logits))
		got := logits(t, c.spec, flat, c.x, c.xshape)
		if d := maxAbsDiff(got, want); d > 1e-5 {
			t.Errorf("%s: nmflow logits differ from PyTorch's by %g\n got %v\nwant %v", c.file, d, got, want)
		}
	}
}

// TestTorchDTypesAndViews: float64/16/bfloat16 files and non-contiguous views decode to the
// float32 weights, exactly where the dtype allows.
func TestTorchDTypesAndViews(t *testing.T) {
	ref, _ := mustMap(t, fixture("torch", "mlp.pt"), mlpSpec)
	views, _ := mustMap(t, fixture("torch", "mlp_views.pt"), mlpSpec)
	if !sameBits(ref, views) {
		t.Error("transposed and sliced views decode to other values than the contiguous tensors")
	}
	f64, rep := mustMap(t, fixture("torch", "mlp_f64.pt"), mlpSpec)
	if !sameBits(ref, f64) || rep.Matched[0].DType != traj.DTypeF64 || rep.Matched[0].Rounded {
		t.Errorf("float64 copy of float32 weights is not exact (report %+v)", rep.Matched[0])
	}
	for _, c := range []struct {
		file string
		rel  float64 // relative precision of the dtype
	}{{"mlp_f16.pt", 1.0 / 2048}, {"mlp_bf16.pt", 1.0 / 256}} {
		got, rep := mustMap(t, fixture("torch", c.file), mlpSpec)
		for i := range ref {
			if d := math.Abs(float64(got[i] - ref[i])); d > c.rel*math.Abs(float64(ref[i]))+1e-7 {
				t.Fatalf("%s: weight %d is %v, float32 original %v", c.file, i, got[i], ref[i])
			}
		}
		if !strings.Contains(rep.String(), "converted 6 tensors from") {
			t.Errorf("%s: report does not mention the conversion:\n%s", c.file, rep)
		}
	}
}

func TestTorchCheckpointScalarsAndIgnored(t *testing.T) {
	sd, err := ReadTorch(fixture("torch", "mlp_checkpoint.pt"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"epoch": 5, "test_acc": 0.75, "train_loss": 0.5, "optimizer.param_groups.0.momentum": 0.9} {
		if got, ok := sd.Scalars[k]; !ok || got != want {
			t.Errorf("scalar %s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	_, rep, err := Map(sd, arch.MustNew(mlpSpec).Layout(), MapOptions{Spec: &mlpSpec})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ignored) != 6 || !strings.HasPrefix(rep.Ignored[0], "optimizer.state.") {
		t.Errorf("optimizer buffers should be ignored, report: %+v", rep.Ignored)
	}
}

// TestWriteTorchRoundTrip: what WriteTorch writes reads back bit for bit, is deterministic, and
// is laid out as torch.save lays it out (one top folder, stored members, 64-byte aligned data).
func TestWriteTorchRoundTrip(t *testing.T) {
	ref, _ := mustMap(t, fixture("torch", "mlp.pt"), mlpSpec)
	l := arch.MustNew(mlpSpec).Layout()
	for _, naming := range []string{NamesLayout, NamesSequential} {
		rename, err := Rename(mlpSpec, naming)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := FromFlat(l, ref, nil, rename)
		if err != nil {
			t.Fatal(err)
		}
		sd.Tensors[sd.Names[0]] = traj.F32Tensor([]int{8, 16}, ref[:128]) // an explicit copy, same values
		path := filepath.Join(t.TempDir(), "out.pt")
		if err := WriteTorch(path, sd); err != nil {
			t.Fatal(err)
		}
		back, rep := mustMap(t, path, mlpSpec)
		if !sameBits(back, ref) || rep.Naming != naming {
			t.Errorf("%s: round trip changed the weights or naming (%s)", naming, rep.Naming)
		}
		b1, _ := os.ReadFile(path)
		if err := WriteTorch(path, sd); err != nil {
			t.Fatal(err)
		}
		if b2, _ := os.ReadFile(path); !bytes.Equal(b1, b2) {
			t.Errorf("%s: two writes of the same state dict differ", naming)
		}
		zr, err := zip.NewReader(bytes.NewReader(b1), int64(len(b1)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(f.Name, "archive/") || f.Method != zip.Store || off%64 != 0 {
				t.Errorf("member %s: method %d, data at %d; want archive/*, stored, 64-byte aligned", f.Name, f.Method, off)
			}
		}
	}
	if err := WriteTorch(filepath.Join(t.TempDir(), "x.pt"), &StateDict{}); err == nil {
		t.Error("writing an empty state dict succeeded")
	}
	bad := &StateDict{Names: []string{"a"}, Tensors: map[string]Tensor{"a": {DType: traj.DTypeF32, Shape: []int{3}, Data: make([]byte, 8)}}}
	if err := WriteTorch(filepath.Join(t.TempDir(), "x.pt"), bad); err == nil || !strings.Contains(err.Error(), "needs 12 bytes") {
		t.Errorf("a tensor whose data disagrees with its shape was written: %v", err)
	}
}

// torchZip builds a torch.save-like archive from a pickle and storages, for malformed inputs.
func torchZip(t testing.TB, pkl []byte, storages map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pkl)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorPickle is the pickle of {"w": tensor(storage key "0", numel, size, stride, offset)}.
func tensorPickle(numel, offset int64, size, stride []int64) []byte {
	var p pickleWriter
	p.proto()
	p.op('}')
	p.str("w")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.mark()
	p.mark()
	p.str("storage")
	p.global("torch", "FloatStorage")
	p.str("0")
	p.str("cpu")
	p.int(numel)
	p.op('t')
	p.op('Q')
	p.int(offset)
	p.tuple(size)
	p.tuple(stride)
	p.op(0x89)
	p.op('N')
	p.op('t')
	p.op('R')
	p.op('s')
	p.stop()
	return p.Bytes()
}

func TestTorchRejectsBadFiles(t *testing.T) {
	f32 := func(v ...float32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	six := f32(1, 2, 3, 4, 5, 6)
	good := torchZip(t, tensorPickle(6, 0, []int64{2, 3}, []int64{3, 1}), map[string][]byte{"0": six})
	if sd, err := parseTorch(good); err != nil || !reflect.DeepEqual(sd.Tensors["w"].Shape, []int{2, 3}) {
		t.Fatalf("the well-formed archive does not read: %v", err)
	}
	// A transposed view of the same storage.
	tr := torchZip(t, tensorPickle(6, 0, []int64{3, 2}, []int64{1, 3}), map[string][]byte{"0": six})
	if sd, err := parseTorch(tr); err != nil || !bytes.Equal(sd.Tensors["w"].Data, f32(1, 4, 2, 5, 3, 6)) {
		t.Fatalf("transposed view: %v", err)
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"not a zip", []byte("hello"), "not a zip archive"},
		{"legacy", append(append([]byte{}, legacyMagic...), 0, 0), "legacy"},
		{"no data.pkl", func() []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, _ := zw.Create("archive/constants.pkl")
			w.Write([]byte("x"))
			zw.Close()
			return buf.Bytes()
		}(), "TorchScript"},
		{"missing storage record", torchZip(t, tensorPickle(6, 0, []int64{2, 3}, []int64{3, 1}), nil), "no record"},
		{"storage size lies", torchZip(t, tensorPickle(6, 0, []int64{2, 3}, []int64{3, 1}), map[string][]byte{"0": six[:20]}), "record holds 20 bytes"},
		{"huge numel", torchZip(t, tensorPickle(1<<40, 0, []int64{2, 3}, []int64{3, 1}), map[string][]byte{"0": six}), "more than the"},
		{"view past storage", torchZip(t, tensorPickle(6, 1, []int64{2, 3}, []int64{3, 1}), map[string][]byte{"0": six}), "reaches past"},
		{"expanded view", torchZip(t, tensorPickle(6, 0, []int64{1 << 30, 6}, []int64{0, 1}), map[string][]byte{"0": six}), "more elements than its storage"},
		{"negative stride", torchZip(t, tensorPickle(6, 0, []int64{2, 3}, []int64{-3, 1}), map[string][]byte{"0": six}), "negative"},
		{"truncated pickle", torchZip(t, tensorPickle(6, 0, []int64{2, 3}, []int64{3, 1})[:40], map[string][]byte{"0": six}), "pickle byte"},
		{"no tensors", torchZip(t, []byte{0x80, 2, '}', '.'}, nil), "holds no tensors"},
	}
	for _, c := range cases {
		_, err := parseTorch(c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.pt")
	os.WriteFile(path, []byte("hello"), 0o644)
	if _, err := ReadTorch(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "not a readable PyTorch checkpoint") {
		t.Errorf("Read of a damaged .pt: %v", err)
	}
	other := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(other, []byte("hello"), 0o644)
	if _, err := Read(other); err == nil || !strings.Contains(err.Error(), "no format nmflow reads") {
		t.Errorf("Read of an unknown format: %v", err)
	}
}
