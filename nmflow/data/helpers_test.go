package data

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestMain points the default cache at a temporary folder, so neither the tests nor the
// Example write into the user's real cache.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nmflow-data-test-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv(EnvCache, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// idxBytes builds an IDX file with the given magic, dimensions and data.
func idxBytes(magic uint32, dims []int, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// synthIDX is a small MNIST-shaped dataset: pixel i of example k is byte(k*7+i), label k%10.
type synthIDX struct {
	trainImg, trainLbl, testImg, testLbl []byte // IDX file contents
	train, test                          Split
}

func makeSynthIDX(nTrain, nTest int) synthIDX {
	mk := func(n, seed int) ([]byte, []byte, Split) {
		s := Split{Images: make([]byte, n*28*28), Labels: make([]int, n), N: n}
		lbl := make([]byte, n)
		for k := range n {
			for i := range 28 * 28 {
				s.Images[k*784+i] = byte(k*7 + i + seed)
			}
			s.Labels[k] = (k + seed) % 10
			lbl[k] = byte(s.Labels[k])
		}
		return idxBytes(idxImagesMagic, []int{n, 28, 28}, s.Images), idxBytes(idxLabelsMagic, []int{n}, lbl), s
	}
	var d synthIDX
	d.trainImg, d.trainLbl, d.train = mk(nTrain, 0)
	d.testImg, d.testLbl, d.test = mk(nTest, 3)
	return d
}

// write stores the four files in dir, gzipped or raw.
func (d synthIDX) write(t testing.TB, dir string, gzipped bool) {
	t.Helper()
	for name, b := range map[string][]byte{
		"train-images-idx3-ubyte": d.trainImg, "train-labels-idx1-ubyte": d.trainLbl,
		"t10k-images-idx3-ubyte": d.testImg, "t10k-labels-idx1-ubyte": d.testLbl,
	} {
		if gzipped {
			writeFile(t, filepath.Join(dir, name+".gz"), gz(t, b))
		} else {
			writeFile(t, filepath.Join(dir, name), b)
		}
	}
}

// cifarBytes builds a CIFAR batch of n records: label (k+seed)%10, pixel i = byte(k+i+seed).
func cifarBytes(n, seed int) []byte {
	b := make([]byte, 0, n*cifarRecord)
	for k := range n {
		b = append(b, byte((k+seed)%10))
		for i := range cifarRecord - 1 {
			b = append(b, byte(k+i+seed))
		}
	}
	return b
}

// closedURL returns an http URL on a local port nobody listens on: connecting fails at once.
func closedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/"
}

// isolate makes a test independent of the machine: no NMFLOW_DATA, the dataset's mirrors
// replaced (by a closed port unless given), and, with noOffline, its offline routes failing.
func isolate(t *testing.T, name string, mirrors []string, archiveURL string, noOffline bool) *spec {
	t.Helper()
	t.Setenv(EnvData, "")
	sp, err := lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	saved := *sp
	t.Cleanup(func() { *sp = saved })
	if mirrors == nil {
		mirrors = []string{closedURL(t)}
	}
	sp.mirrors = mirrors
	if sp.archiveURL != "" {
		if archiveURL == "" {
			archiveURL = closedURL(t) + sp.archiveName
		}
		sp.archiveURL = archiveURL
	}
	if noOffline {
		var routes []offlineRoute
		for _, r := range sp.offline {
			routes = append(routes, offlineRoute{what: r.what, dir: func(context.Context, bool, *session) (string, error) {
				return "", errors.New("disabled by the test")
			}})
		}
		sp.offline = routes
	}
	return sp
}

// needed fails in CI (CI=true), where every real-data route must work, and skips elsewhere.
func needed(t *testing.T, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not available, but CI must provide it: %v", what, err)
	}
	t.Skipf("%s is not available here: %v", what, err)
}

// mnistModuleDir returns the GoMNIST module's data folder (the Go proxy allowed).
func mnistModuleDir(t *testing.T) string {
	t.Helper()
	s, _ := newSession("mnist", Options{})
	d, err := goMNISTDir(context.Background(), true, s)
	if err != nil {
		needed(t, "the Go module "+goMNISTModule, err)
	}
	return d
}

func labelCounts(labels []int, classes int) []int {
	c := make([]int, classes)
	for _, l := range labels {
		c[l]++
	}
	return c
}

func meanOf(px []uint8) float64 {
	var s float64
	for _, v := range px {
		s += float64(v)
	}
	return s / float64(len(px)) / 255
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
