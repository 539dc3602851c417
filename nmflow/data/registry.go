package data

import (
	"fmt"
	"strings"
)

// fileSpec is one canonical file of a dataset, described by its decompressed content.
type fileSpec struct {
	name   string // canonical name without .gz, e.g. "train-images-idx3-ubyte"
	size   int64  // bytes after decompression
	md5    string // hex MD5 after decompression
	sha256 string // hex SHA-256 after decompression, checked after the MD5 where set
}

type format int

const (
	formatIDX    format = iota // 4 IDX files: train/t10k images and labels
	formatCIFAR                // 5 train batches + 1 test batch of 3073-byte records
	formatCustom               // decoded by spec.decode (UCI Heart's CSV tables)
)

// spec describes a dataset: its files, where to find them, and how to decode them.
type spec struct {
	name    string
	aliases []string // other names Load accepts
	format  format
	shape   [3]int
	classes []string
	files   []fileSpec
	// subdirs are tried under a local root, in order; "" is the root itself. Dataset-named
	// folders come first because MNIST and Fashion-MNIST share file names: a root holding
	// one of them directly must not shadow the other's subfolder.
	subdirs []string
	// mirrors are base URLs for the files (URL = base + name + ".gz", or base + name if plain).
	mirrors []string
	plain   bool // the mirrors serve the files uncompressed
	// archiveURL is CIFAR's tar.gz; archiveName is its file name when found in a folder.
	archiveURL, archiveName string
	offline                 []offlineRoute
	hint                    string // what to do when every source failed
	// decode builds a formatCustom dataset; fetch downloads and verifies its files when the
	// canonical source is neither IDX mirrors nor a tar.gz (used instead of both when set).
	decode func(sp *spec, fs fileSet) (*Dataset, error)
	fetch  func(s *session) (fileSet, string, error)
	// alt is another complete set of files that holds the same dataset in a form a local
	// folder or the cache may have instead (UCI Heart: Detectron's split as CSV files). It is
	// tried where none of files is present, and decodes with its own decode.
	alt *spec
}

var digitClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// idxFiles lists the four canonical IDX files with the MD5s of their decompressed content.
func idxFiles(trainImg, trainLbl, testImg, testLbl string) []fileSpec {
	return []fileSpec{
		{"train-images-idx3-ubyte", 16 + 60000*28*28, trainImg, ""},
		{"train-labels-idx1-ubyte", 8 + 60000, trainLbl, ""},
		{"t10k-images-idx3-ubyte", 16 + 10000*28*28, testImg, ""},
		{"t10k-labels-idx1-ubyte", 8 + 10000, testLbl, ""},
	}
}

const cifarBatchSize = 10000 * cifarRecord

// specs is the registry. Tests temporarily rewrite mirrors and offline routes.
var specs = []*spec{
	{
		name:    "mnist",
		format:  formatIDX,
		shape:   [3]int{1, 28, 28},
		classes: digitClasses,
		files: idxFiles("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
			"2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
		subdirs: []string{"mnist", "MNIST/raw", ""},
		mirrors: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"https://storage.googleapis.com/cvdf-datasets/mnist/",
		},
		offline: []offlineRoute{goMNISTRoute},
		hint: "set NMFLOW_DATA (or Options.Dir) to a folder holding train-images-idx3-ubyte.gz and the " +
			"other three IDX files (or a mnist/ subfolder), or run `nmflow data fetch mnist` where the " +
			"internet or the Go module proxy is reachable (`go mod download " + goMNISTModule + "@" +
			goMNISTVersion + "` is enough)",
	},
	{
		name:    "fashion-mnist",
		aliases: []string{"fashion_mnist", "fashionmnist", "fashion"},
		format:  formatIDX,
		shape:   [3]int{1, 28, 28},
		classes: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
			"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
		files: idxFiles("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
			"8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
		subdirs: []string{"fashion-mnist", "fashion_mnist", "FashionMNIST/raw", ""},
		mirrors: []string{"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
		offline: []offlineRoute{debianFashionRoute},
		hint: "install the Debian package (`apt-get install dataset-fashion-mnist`), set NMFLOW_DATA " +
			"(or Options.Dir) to a folder holding the four IDX files (or a fashion-mnist/ subfolder), " +
			"or run `nmflow data fetch fashion-mnist` on a machine with internet access",
	},
	{
		name:    "cifar10",
		aliases: []string{"cifar-10", "cifar_10"},
		format:  formatCIFAR,
		shape:   [3]int{3, 32, 32},
		classes: []string{"airplane", "automobile", "bird", "cat", "deer",
			"dog", "frog", "horse", "ship", "truck"},
		files: []fileSpec{
			{"data_batch_1.bin", cifarBatchSize, "5dd7e06a14cb22eb9f671a540d1b7c25", ""},
			{"data_batch_2.bin", cifarBatchSize, "5ea93a67294ea407fff1d09f752e9692", ""},
			{"data_batch_3.bin", cifarBatchSize, "942cd6a4bcdd0dd3c604fbe906cb4421", ""},
			{"data_batch_4.bin", cifarBatchSize, "ae636b3ba5c66a11e91e8cb52e771fcb", ""},
			{"data_batch_5.bin", cifarBatchSize, "53f37980c15c3d472c316c40844f3f0d", ""},
			{"test_batch.bin", cifarBatchSize, "803d5f7f4d78ea53de84dbe85f74fb6d", ""},
		},
		subdirs:     []string{"cifar10", "cifar10/cifar-10-batches-bin", "cifar-10-batches-bin", ""},
		archiveURL:  "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
		archiveName: "cifar-10-binary.tar.gz",
		hint: "set NMFLOW_DATA (or Options.Dir) to a folder holding cifar-10-batches-bin/ " +
			"(data_batch_1.bin … test_batch.bin) or cifar-10-binary.tar.gz, or run " +
			"`nmflow data fetch cifar10` on a machine with internet access",
	},
	uciHeartSpec, // uciheart.go
}

// lookup finds a dataset by name or alias, case-insensitively.
func lookup(name string) (*spec, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, sp := range specs {
		if n == sp.name {
			return sp, nil
		}
		for _, a := range sp.aliases {
			if n == a {
				return sp, nil
			}
		}
	}
	return nil, fmt.Errorf("data: unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
}

// file returns the spec of the canonical file called name.
func (sp *spec) file(name string) (fileSpec, bool) {
	for _, f := range sp.files {
		if f.name == name {
			return f, true
		}
	}
	return fileSpec{}, false
}

// variant returns the spec whose files fs holds: sp, or its alt.
func (sp *spec) variant(fs fileSet) *spec {
	if sp.alt != nil {
		if _, ok := fs[sp.alt.files[0].name]; ok {
			return sp.alt
		}
	}
	return sp
}
