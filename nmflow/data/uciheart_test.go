package data

import (
	"errors"
	"math"
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

// The committed copy of Detectron's split loads with its canonical checksums; counts and label balance were read
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
	if ds.Origin != heartOriginDetectron || !strings.HasSuffix(ds.Source, "(Detectron's split)") {
		t.Errorf("origin %q, source %q: the CSV files are Detectron's split", ds.Origin, ds.Source)
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
