package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedDatasets is the project's offline copy of datasets, if present (CI has it).
func sharedDatasets(t *testing.T, sub string) string {
	t.Helper()
	d := "testdata" // committed copies of the small datasets (testdata/README.md)
	if !isDir(filepath.Join(d, sub)) {
		t.Fatalf("missing test copy %s", filepath.Join(d, sub))
	}
	return d
}

// Python's repr, printed by python3 for each value.
func TestPyFloat(t *testing.T) {
	for v, want := range map[float64]string{
		52: "52.0", 1e-05: "1e-05", 1.5e16: "1.5e+16", 1e16: "1e+16", 0.0001: "0.0001",
		1234567890123456: "1234567890123456.0", 123456789012345678: "1.2345678901234568e+17",
		-0.0019245566000788972: "-0.0019245566000788972", 281.6310386540241: "281.6310386540241",
		0.1: "0.1", 100: "100.0", 5e-324: "5e-324", 1.7976931348623157e308: "1.7976931348623157e+308", 12345.678: "12345.678",
	} {
		if got := PyFloat(v); got != want {
			t.Errorf("PyFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := PyFloat(math.Copysign(0, -1)); got != "-0.0" {
		t.Errorf("PyFloat(-0) = %q", got)
	}
}

// The shared copy loads with its canonical checksums; counts and label balance were read
// independently with Python's csv module.
func TestUCIHeartLoad(t *testing.T) {
	root := sharedDatasets(t, "uci-heart")
	isolate(t, "uci-heart", nil, "", true)
	ds, err := Load("heart", Options{Dir: root, Cache: t.TempDir(), NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != "uci-heart" || !slices.Equal(ds.Shape, []int{9, 1, 1}) || len(ds.Classes) != 2 {
		t.Fatalf("name %q shape %v classes %v", ds.Name, ds.Shape, ds.Classes)
	}
	sizes := map[string]int{"train": ds.Train.N, "iid_test": ds.Test.N, "val": ds.Extra["val"].N, "ood_test": ds.Extra["ood_test"].N}
	if want := map[string]int{"train": 358, "iid_test": 119, "val": 120, "ood_test": 323}; !maps2Equal(sizes, want) {
		t.Fatalf("split sizes %v, want %v", sizes, want)
	}
	// Label means 0.388 (train) and 0.817 (ood_test): 139 and 264 positives.
	if got := labelCounts(ds.Train.Labels, 2); got[1] != 139 {
		t.Errorf("train positives %d, want 139", got[1])
	}
	if got := labelCounts(ds.Extra["ood_test"].Labels, 2); got[1] != 264 {
		t.Errorf("ood_test positives %d, want 264", got[1])
	}
	// First train row: 44,0,3,108,141,0,0,175,0 → chol 141/3 = 47.
	if got := ds.Train.Images[:9]; !slices.Equal(got, []uint8{44, 0, 3, 108, 47, 0, 0, 175, 0}) {
		t.Errorf("first train row %v", got)
	}
	mean, std := ds.ChannelStats()
	if len(mean) != 9 || math.Abs(float64(mean[0])*255-51.078) > 0.01 || !(std[4] > 0) {
		t.Errorf("per-feature stats: mean %v std %v (age mean should be 51.078)", mean, std)
	}
}

func maps2Equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// matBytes writes a little-endian MAT level-5 file of double matrices, compressed or not.
func matBytes(vars map[string]matArray, order []string, compress bool) []byte {
	le := binary.LittleEndian
	elem := func(typ uint32, data []byte) []byte {
		b := le.AppendUint32(le.AppendUint32(nil, typ), uint32(len(data)))
		b = append(b, data...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		return b
	}
	out := make([]byte, 128)
	copy(out, "MATLAB 5.0 MAT-file, written by a test")
	out[124], out[125], out[126], out[127] = 0, 1, 'I', 'M'
	for _, name := range order {
		v := vars[name]
		flags := le.AppendUint32(le.AppendUint32(nil, mxDOUBLE), 0)
		var dims, vals []byte
		for _, d := range v.Dims {
			dims = le.AppendUint32(dims, uint32(d))
		}
		for _, x := range v.Data {
			vals = le.AppendUint64(vals, math.Float64bits(x))
		}
		body := append(append(append(elem(miUINT32, flags), elem(miINT32, dims)...), elem(miINT8, []byte(name))...), elem(miDOUBLE, vals)...)
		m := elem(miMATRIX, body)
		if compress {
			var zb bytes.Buffer
			zw := zlib.NewWriter(&zb)
			zw.Write(m)
			zw.Close()
			m = le.AppendUint32(le.AppendUint32(nil, miCOMPRESSED), uint32(zb.Len()))
			m = append(m, zb.Bytes()...)
		}
		out = append(out, m...)
	}
	return out
}

// heartMAT builds the .mat a Detectron user would have from the CSV files: per split, data
// [N,9] column-major and labels [1,N].
func heartMAT(t *testing.T, dir string, compress bool) []byte {
	t.Helper()
	vars := map[string]matArray{}
	var order []string
	for _, s := range heartSplits {
		b, err := os.ReadFile(filepath.Join(dir, s.file))
		if err != nil {
			t.Fatal(err)
		}
		x, y, err := parseHeartCSV(b)
		if err != nil {
			t.Fatal(err)
		}
		n, d := len(y), len(HeartFeatures)
		cm := make([]float64, n*d)
		for i := range n {
			for j := range d {
				cm[j*n+i] = x[i*d+j]
			}
		}
		ys := make([]float64, n)
		for i, l := range y {
			ys[i] = float64(l)
		}
		vars[s.name+"_data"] = matArray{Dims: []int{n, d}, Data: cm}
		vars[s.name+"_labels"] = matArray{Dims: []int{1, n}, Data: ys}
		order = append(order, s.name+"_data", s.name+"_labels")
	}
	return matBytes(vars, order, compress)
}

// The download route renders the .mat back to byte-identical CSV files (so the MD5s apply), for
// uncompressed and zlib-compressed MAT files, and a file with other values fails the checksum.
func TestUCIHeartDownloadRoute(t *testing.T) {
	root := sharedDatasets(t, "uci-heart")
	dir := filepath.Join(root, "uci-heart")
	for _, compress := range []bool{false, true} {
		mat := heartMAT(t, dir, compress)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(mat) }))
		sp := isolate(t, "uci-heart", nil, srv.URL+"/uci_heart_processed.mat", true)
		cache := t.TempDir()
		ds, err := Load("uci-heart", Options{Cache: cache})
		srv.Close()
		if err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		if ds.Extra["ood_test"].N != 323 || !strings.HasPrefix(ds.Source, "download ") {
			t.Fatalf("compress=%v: source %q ood %d", compress, ds.Source, ds.Extra["ood_test"].N)
		}
		for _, f := range sp.files {
			want, _ := os.ReadFile(filepath.Join(dir, f.name))
			got, err := os.ReadFile(filepath.Join(cache, "uci-heart", f.name))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("cached %s differs from the canonical copy (err %v)", f.name, err)
			}
		}
	}
	// One value changed: the rendered file no longer has the canonical MD5.
	vars, err := readMAT(heartMAT(t, dir, false))
	if err != nil {
		t.Fatal(err)
	}
	vars["val_data"].Data[0]++
	var order []string
	for name := range vars {
		order = append(order, name)
	}
	slices.Sort(order)
	bad := matBytes(vars, order, false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bad) }))
	defer srv.Close()
	isolate(t, "uci-heart", nil, srv.URL+"/x.mat", true)
	if _, err := Load("uci-heart", Options{Cache: t.TempDir()}); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "val.csv") {
		t.Fatalf("altered .mat accepted or misreported: %v", err)
	}
}

func TestReadMATRejects(t *testing.T) {
	good := matBytes(map[string]matArray{"a": {Dims: []int{2, 1}, Data: []float64{1, 2}}}, []string{"a"}, false)
	if v, err := readMAT(good); err != nil || !slices.Equal(v["a"].Data, []float64{1, 2}) {
		t.Fatalf("good file: %v %v", v, err)
	}
	for name, b := range map[string][]byte{
		"short":     good[:100],
		"endian":    append(append([]byte{}, good[:126]...), 'X', 'X'),
		"truncated": good[:len(good)-12],
	} {
		if _, err := readMAT(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

func TestParseHeartCSVRejects(t *testing.T) {
	for name, s := range map[string]string{
		"header": "a,b\n",
		"label":  heartHeader + "\n1,1,1,1,1,1,1,1,1,2\n",
		"nan":    heartHeader + "\n1,1,1,1,NaN,1,1,1,1,0\n",
		"fields": heartHeader + "\n1,1,1\n",
		"empty":  heartHeader + "\n",
	} {
		if _, _, err := parseHeartCSV([]byte(s)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

// CIFAR-10.1: the shared copy has labels only, so the loader must name the missing image file
// and its address; with a synthetic image file beside the real labels it returns NCHW pixels.
func TestLoadCIFAR101(t *testing.T) {
	root := sharedDatasets(t, "cifar-10.1")
	_, err := LoadCIFAR101(root)
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), CIFAR101Images) || !strings.Contains(err.Error(), "github.com/modestyachts/CIFAR-10.1") {
		t.Fatalf("missing images misreported: %v", err)
	}
	dir := t.TempDir()
	lb, err := os.ReadFile(filepath.Join(root, "cifar-10.1", CIFAR101Labels))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, CIFAR101Labels), lb)
	hdr := "{'descr': '|u1', 'fortran_order': False, 'shape': (2000, 32, 32, 3), }"
	hdr += strings.Repeat(" ", 127-10-len(hdr)) + "\n"
	img := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), 0)
	img = append(img, hdr...)
	px := make([]byte, 2000*3072)
	for i := range px {
		px[i] = byte(i % 3) // channel index in NHWC order
	}
	writeFile(t, filepath.Join(dir, CIFAR101Images), append(img, px...))
	s, err := LoadCIFAR101(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 2000 || len(s.Images) != 2000*3072 || s.Images[0] != 0 || s.Images[1024] != 1 || s.Images[2048+5] != 2 {
		t.Fatalf("N %d, planes start %d %d %d", s.N, s.Images[0], s.Images[1024], s.Images[2048+5])
	}
	// 200 of each class, counted with Python from the .npy.
	if c := labelCounts(s.Labels, 10); !slices.Equal(c, slices.Repeat([]int{200}, 10)) {
		t.Errorf("label counts %v, want 200 each", c)
	}
	writeFile(t, filepath.Join(dir, CIFAR101Labels), append(lb[:len(lb)-1], 9))
	if _, err := LoadCIFAR101(dir); !errors.Is(err, ErrChecksum) {
		t.Errorf("altered labels accepted: %v", err)
	}
}
