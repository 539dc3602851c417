package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseIDX(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	dims, got, err := ParseIDX(idxBytes(idxImagesMagic, []int{2, 3, 2}, data))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dims, []int{2, 3, 2}) || !bytes.Equal(got, data) {
		t.Fatalf("dims %v data %v", dims, got)
	}
	img, n, err := parseIDXImages(idxBytes(idxImagesMagic, []int{2, 2, 3}, data), 2, 3)
	if err != nil || n != 2 || !bytes.Equal(img, data) {
		t.Fatalf("images: n=%d err=%v", n, err)
	}
	lbl, err := parseIDXLabels(idxBytes(idxLabelsMagic, []int{3}, []byte{0, 9, 4}), 10)
	if err != nil || !slices.Equal(lbl, []int{0, 9, 4}) {
		t.Fatalf("labels %v, %v", lbl, err)
	}
}

func TestParseIDXRejects(t *testing.T) {
	good := idxBytes(idxImagesMagic, []int{2, 2, 2}, make([]byte, 8))
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"too short", func() error { _, _, e := ParseIDX([]byte{0, 0}); return e }, "shorter than its 4-byte magic"},
		{"not ubyte", func() error { _, _, e := ParseIDX(idxBytes(0x00000903, []int{2, 2, 2}, make([]byte, 8))); return e }, "bad IDX magic 0x00000903"},
		{"zero dims", func() error { _, _, e := ParseIDX([]byte{0, 0, 8, 0}); return e }, "bad IDX magic"},
		{"header truncated", func() error { _, _, e := ParseIDX(good[:9]); return e }, "shorter than its 16-byte header"},
		{"data truncated", func() error { _, _, e := ParseIDX(good[:len(good)-1]); return e }, "8 data bytes, but the file has 7 (truncated)"},
		{"trailing bytes", func() error { _, _, e := ParseIDX(append(slices.Clone(good), 0)); return e }, "file has 9 (trailing bytes)"},
		{"huge dims", func() error {
			_, _, e := ParseIDX(idxBytes(idxImagesMagic, []int{1 << 31, 1 << 31, 1 << 31}, make([]byte, 8)))
			return e
		}, "truncated"},
		{"labels as images", func() error {
			_, _, e := parseIDXImages(idxBytes(idxLabelsMagic, []int{8}, make([]byte, 8)), 2, 2)
			return e
		}, "bad magic 0x00000801, want 0x00000803 (IDX images)"},
		{"images as labels", func() error { _, e := parseIDXLabels(good, 10); return e }, "bad magic 0x00000803, want 0x00000801 (IDX labels)"},
		{"wrong image size", func() error { _, _, e := parseIDXImages(good, 28, 28); return e }, "images are 2x2, want 28x28"},
		{"label out of range", func() error {
			_, e := parseIDXLabels(idxBytes(idxLabelsMagic, []int{3}, []byte{1, 10, 2}), 10)
			return e
		}, "label 10 of example 1 is out of range [0,10)"},
	}
	for _, c := range cases {
		err := c.err()
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an ErrFormat containing %q", c.name, err, c.want)
		}
	}
}

func TestParseCIFAR(t *testing.T) {
	b := cifarBytes(3, 5)
	img, lbl, err := ParseCIFAR(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lbl, []int{5, 6, 7}) || len(img) != 3*3072 {
		t.Fatalf("labels %v, %d pixels", lbl, len(img))
	}
	// Record k's pixels follow its label byte unchanged: R plane, then G, then B.
	if img[3072] != b[cifarRecord+1] || img[3072+1024] != b[cifarRecord+1+1024] || img[2*3072-1] != b[2*cifarRecord-1] {
		t.Fatal("pixels not copied record by record")
	}
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":     {nil, "not a whole number"},
		"truncated": {b[:len(b)-1], "9218 bytes is not a whole number of 3073-byte records"},
		"label":     {func() []byte { x := slices.Clone(b); x[cifarRecord] = 10; return x }(), "record 1: label 10 is out of range [0,10)"},
	} {
		if _, _, err := ParseCIFAR(c.b, 10); err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}

// A user's own subset loads from a local folder with SkipChecksum, raw or gzipped, directly
// in the folder or in the dataset-named subfolder, and comes back exactly as written.
func TestLoadFolderSubset(t *testing.T) {
	isolate(t, "mnist", nil, "", true)
	syn := makeSynthIDX(6, 4)
	for _, c := range []struct {
		sub string
		gz  bool
	}{{"", false}, {"mnist", true}, {"MNIST/raw", false}} {
		root := t.TempDir()
		syn.write(t, filepath.Join(root, c.sub), c.gz)
		ds, err := Load("mnist", Options{Dir: root, Cache: t.TempDir(), NoDownload: true, SkipChecksum: true})
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if !strings.HasPrefix(ds.Source, "folder "+filepath.Join(root, c.sub)) {
			t.Errorf("source %q", ds.Source)
		}
		if ds.Train.N != 6 || ds.Test.N != 4 || !bytes.Equal(ds.Train.Images, syn.train.Images) ||
			!slices.Equal(ds.Test.Labels, syn.test.Labels) || !slices.Equal(ds.Shape, []int{1, 28, 28}) {
			t.Errorf("%+v: loaded data differs from what was written", c)
		}
	}
}

// Structural errors in a user's folder are reported with the file's name even without checksums.
func TestLoadFolderCorrupt(t *testing.T) {
	isolate(t, "mnist", nil, "", true)
	syn := makeSynthIDX(5, 3)
	cases := map[string]struct {
		mutate func(dir string)
		want   []string
	}{
		"count mismatch": {func(dir string) {
			writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(idxLabelsMagic, []int{4}, []byte{1, 2, 3, 4}))
		}, []string{"train-images-idx3-ubyte holds 5 images but train-labels-idx1-ubyte holds 4 labels"}},
		"truncated gzip": {func(dir string) {
			g := gz(t, syn.testImg)
			writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), g[:len(g)/2])
		}, []string{"t10k-images-idx3-ubyte.gz", "corrupt gzip"}},
		"flipped gzip byte": {func(dir string) {
			g := gz(t, syn.trainImg)
			g[len(g)-6] ^= 0xff // inside the CRC-32/length trailer
			writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), g)
		}, []string{"train-images-idx3-ubyte.gz", "corrupt gzip"}},
		"bad magic": {func(dir string) {
			writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxBytes(0x00000802, []int{3}, []byte{1, 2, 3}))
		}, []string{"t10k-labels-idx1-ubyte", "bad magic 0x00000802"}},
		"label out of range": {func(dir string) {
			writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxBytes(idxLabelsMagic, []int{3}, []byte{1, 200, 3}))
		}, []string{"t10k-labels-idx1-ubyte", "label 200 of example 1 is out of range"}},
		"header vs length": {func(dir string) {
			writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), syn.trainImg[:len(syn.trainImg)-10])
		}, []string{"train-images-idx3-ubyte", "(truncated)"}},
		"missing file": {func(dir string) {
			writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), nil)
		}, nil}, // an empty file: still a format error
	}
	for name, c := range cases {
		dir := t.TempDir()
		syn.write(t, dir, false)
		c.mutate(dir)
		// Remove the raw twin when the case wrote a .gz, so the corrupt one is the one found.
		for _, n := range listDir(t, dir) {
			if base, ok := strings.CutSuffix(n, ".gz"); ok {
				_ = os.Remove(filepath.Join(dir, base))
			}
		}
		_, err := Load("mnist", Options{Dir: dir, Cache: t.TempDir(), NoDownload: true, SkipChecksum: true})
		if err == nil {
			t.Errorf("%s: loaded a corrupt folder", name)
			continue
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error is not ErrFormat: %v", name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", name, w, err)
			}
		}
	}
}

func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// CIFAR-10 loads from batch files or from the unextracted tar.gz; both are checked.
func TestLoadCIFARSynthetic(t *testing.T) {
	isolate(t, "cifar10", nil, "", true)
	files := map[string][]byte{}
	for i, f := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		files["cifar-10-batches-bin/"+f] = cifarBytes(2+i, i)
	}
	files["cifar-10-batches-bin/readme.html"] = []byte("ignored")

	check := func(ds *Dataset, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if ds.Train.N != 2+3+4+5+6 || ds.Test.N != 7 || len(ds.Train.Images) != ds.Train.N*3072 || ds.ExampleSize() != 3072 {
			t.Fatalf("train %d test %d", ds.Train.N, ds.Test.N)
		}
		// Batches are concatenated in order: example 2 is batch 2's first record (label 1).
		if ds.Train.Labels[2] != 1 || ds.Train.Images[2*3072] != byte(1) || ds.Test.Labels[0] != 5 {
			t.Fatalf("labels %v", ds.Train.Labels[:4])
		}
	}
	// Extracted, in the cifar-10-batches-bin subfolder of the root.
	root := t.TempDir()
	for n, b := range files {
		writeFile(t, filepath.Join(root, n), b)
	}
	check(Load("cifar10", Options{Dir: root, Cache: t.TempDir(), NoDownload: true, SkipChecksum: true}))

	// As the archive.
	arch := t.TempDir()
	writeFile(t, filepath.Join(arch, "cifar-10-binary.tar.gz"), tarGz(t, files))
	ds, err := Load("cifar10", Options{Dir: arch, Cache: t.TempDir(), NoDownload: true, SkipChecksum: true})
	check(ds, err)

	// Verified, the synthetic archive is rejected with the member's name and the sizes.
	_, err = Load("cifar10", Options{Dir: arch, Cache: t.TempDir(), NoDownload: true})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "data_batch_1.bin") ||
		!strings.Contains(err.Error(), "want 30730000") {
		t.Fatalf("unverified archive accepted or badly reported: %v", err)
	}

	// A truncated record in a batch.
	bad := t.TempDir()
	for n, b := range files {
		if strings.HasSuffix(n, "test_batch.bin") {
			b = b[:len(b)-1]
		}
		writeFile(t, filepath.Join(bad, n), b)
	}
	_, err = Load("cifar10", Options{Dir: bad, Cache: t.TempDir(), NoDownload: true, SkipChecksum: true})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "test_batch.bin") {
		t.Fatalf("truncated batch: %v", err)
	}
}
