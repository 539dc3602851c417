package interop

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// TestNumPyFixtures: arrays NumPy wrote (C order, Fortran order, big-endian, .npz plain and
// compressed) decode to the same values as the PyTorch file they came from.
func TestNumPyFixtures(t *testing.T) {
	ref, _ := mustMap(t, fixture("torch", "mlp.pt"), mlpSpec)
	for _, f := range []string{"mlp.npz", "mlp_compressed.npz"} {
		got, rep := mustMap(t, fixture("numpy", f), mlpSpec)
		if !sameBits(got, ref) || !rep.OK() {
			t.Errorf("%s: weights differ from mlp.pt\n%s", f, rep)
		}
	}
	plain, shape := npyFloats(t, fixture("numpy", "plain.npy"))
	if !sameBits(plain, ref[:128]) || shape[0] != 8 || shape[1] != 16 {
		t.Fatalf("plain.npy: shape %v", shape)
	}
	for _, f := range []string{"fortran.npy", "bigendian.npy"} {
		got, s := npyFloats(t, fixture("numpy", f))
		if !sameBits(got, plain) || s[0] != 8 || s[1] != 16 {
			t.Errorf("%s decodes to other values than plain.npy (shape %v)", f, s)
		}
	}
}

func TestNpyWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sd := newStateDict("", "")
	sd.Add("fc1.weight", traj.F32Tensor([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
	sd.Add("scalar", traj.F32Tensor(nil, []float32{7}))
	sd.Add("steps", traj.I64Tensor([]int{3}, []int64{0, 10, 1 << 40}))
	path := filepath.Join(dir, "x.npz")
	if err := WriteNpz(path, sd); err != nil {
		t.Fatal(err)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Format != FormatNpz || strings.Join(back.Names, ",") != "fc1.weight,scalar,steps" {
		t.Fatalf("read back %s %v", back.Format, back.Names)
	}
	for _, n := range sd.Names {
		a, b := sd.Tensors[n], back.Tensors[n]
		if a.DType != b.DType || !bytes.Equal(a.Data, b.Data) || len(a.Shape) != len(b.Shape) {
			t.Errorf("%s: wrote %s %v, read %s %v", n, a.DType, a.Shape, b.DType, b.Shape)
		}
	}
	one := filepath.Join(dir, "w.npy")
	if err := WriteNpy(one, sd.Tensors["fc1.weight"]); err != nil {
		t.Fatal(err)
	}
	got, err := Read(one)
	if err != nil || got.Names[0] != "w" || !bytes.Equal(got.Tensors["w"].Data, sd.Tensors["fc1.weight"].Data) {
		t.Fatalf("npy round trip: %v %v", got, err)
	}
}

func npyFile(header string, data []byte) []byte {
	b := []byte("\x93NUMPY\x01\x00\x00\x00")
	binary.LittleEndian.PutUint16(b[8:], uint16(len(header)))
	return append(append(b, header...), data...)
}

func TestNpyRejectsBadFiles(t *testing.T) {
	eight := make([]byte, 8)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"no magic", []byte("hello world!"), "magic"},
		{"version 9", []byte("\x93NUMPY\x09\x00\x00\x00"), "format version"},
		{"header past the end", []byte("\x93NUMPY\x01\x00\xff\x00{}"), "longer than the file"},
		{"no newline, no dict", npyFile("'descr'", eight), "not a dict"},
		{"shape lies", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }\n", eight), "needs more bytes"},
		{"shape vs data", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", eight), "needs 12 data bytes"},
		{"object array", npyFile("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", eight), "not supported"},
		{"missing key", npyFile("{'descr': '<f4', 'shape': (2,), }\n", eight), "lacks"},
		{"unknown key", npyFile("{'descr': '<f4', 'x': 1}\n", eight), "unexpected key"},
		{"bad order", npyFile("{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,)}\n", eight), "True or False"},
		{"bad dim", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}\n", eight), "bad dimension"},
		{"trailing", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x\n", eight), "trailing"},
	}
	for _, c := range cases {
		_, err := parseNpy(c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := parseNpz([]byte("PK\x05\x06" + strings.Repeat("\x00", 18))); err == nil || !strings.Contains(err.Error(), "no arrays") {
		t.Errorf("empty npz: %v", err)
	}
}
