package data

import (
	"fmt"
	"io"
	"math"
	"slices"
)

// Split is one part (train or test) of a dataset.
type Split struct {
	Images []uint8 // N*C*H*W raw pixels, NCHW (MNIST C=1; CIFAR planes R,G,B)
	Labels []int   // N labels in [0, classes)
	N      int
}

// Dataset is a loaded dataset: both splits, the example shape and the class names.
type Dataset struct {
	Name        string   // "mnist", "fashion-mnist", "cifar10"
	Shape       []int    // [C,H,W] of one example
	Classes     []string // class names, indexed by label
	Train, Test Split
	// Extra holds further named splits of datasets that have them (UCI Heart: "val", "ood_test").
	Extra map[string]Split
	// Source says where the files came from: "folder D", "cache D", "download URL",
	// "Go module M@V (D)" or "Debian package P (D)"; the last three end in ", cached in D"
	// once copied into the cache. Where Origin is set it follows in brackets.
	Source string
	// Origin says what the files are where a dataset has more than one canonical form, since
	// the form decides the split: for uci-heart, Detectron's split (from its CSV files) or
	// nmflow's split of the UCI files. "" for the other datasets.
	Origin string
}

// Options says where Load and Fetch may look. The zero value is the usual choice.
type Options struct {
	Dir        string    // local folder to read first (overrides NMFLOW_DATA; a PATH-like list is accepted)
	Cache      string    // cache folder (default: $NMFLOW_CACHE or os.UserCacheDir()/nmflow)
	NoDownload bool      // never touch the network (no mirrors, no Go module proxy)
	Log        io.Writer // progress/notes (nil = silent)

	// SkipChecksum accepts files from the local folder (Dir / NMFLOW_DATA) that are not the
	// canonical ones, e.g. a user's own subset. Their structure is still checked. It never
	// applies to other sources, and Fetch ignores it: unverified files are never cached.
	SkipChecksum bool
}

// Names lists the datasets Load knows, in a stable order.
func Names() []string {
	out := make([]string, len(specs))
	for i, sp := range specs {
		out[i] = sp.name
	}
	return out
}

// ExampleSize is the number of pixels of one example, C*H*W.
func (d *Dataset) ExampleSize() int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// ChannelStats returns the per-channel mean and (population) standard deviation of the train
// split on the /255 scale, the usual inputs of Split.Standardized.
func (d *Dataset) ChannelStats() (mean, std []float32) {
	c := d.Shape[0]
	s := d.Train
	if s.N == 0 || c <= 0 {
		return make([]float32, c), make([]float32, c)
	}
	plane := len(s.Images) / (s.N * c)
	// A per-channel histogram of the 256 byte values makes the sums exact and the pass cheap.
	hist := make([][256]int64, c)
	for i := range s.N {
		for ch := range c {
			h := &hist[ch]
			off := (i*c + ch) * plane
			for _, v := range s.Images[off : off+plane] {
				h[v]++
			}
		}
	}
	mean, std = make([]float32, c), make([]float32, c)
	for ch := range c {
		var n, sum float64
		for v, k := range hist[ch] {
			n += float64(k)
			sum += float64(k) * float64(v) / 255
		}
		m := sum / n
		var ss float64
		for v, k := range hist[ch] {
			dv := float64(v)/255 - m
			ss += float64(k) * dv * dv
		}
		mean[ch], std[ch] = float32(m), float32(math.Sqrt(ss/n))
	}
	return mean, std
}

// unit maps a byte to its value on the [0,1] scale.
var unit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// Float32 returns the pixels divided by 255, in [0,1], same NCHW layout (N*C*H*W values).
func (s Split) Float32() []float32 {
	out := make([]float32, len(s.Images))
	for i, v := range s.Images {
		out[i] = unit[v]
	}
	return out
}

// Standardized returns (x/255 - mean[c]) / std[c] for every pixel x of channel c, NCHW.
// The number of channels is len(mean); it panics if the lengths do not fit the split.
func (s Split) Standardized(mean, std []float32) []float32 {
	c := len(mean)
	if c == 0 || len(std) != c {
		panic(fmt.Sprintf("data: Standardized needs one mean and one std per channel, got %d and %d", len(mean), len(std)))
	}
	if s.N == 0 {
		return []float32{}
	}
	if len(s.Images)%(s.N*c) != 0 {
		panic(fmt.Sprintf("data: Standardized: %d pixels do not split into %d examples of %d channels", len(s.Images), s.N, c))
	}
	plane := len(s.Images) / (s.N * c)
	// One lookup table per channel: 256 entries instead of a subtract and divide per pixel.
	luts := make([][256]float32, c)
	for ch := range c {
		for v := range 256 {
			luts[ch][v] = float32((float64(v)/255 - float64(mean[ch])) / float64(std[ch]))
		}
	}
	out := make([]float32, len(s.Images))
	for start := 0; start < len(s.Images); start += plane {
		lut := &luts[(start/plane)%c]
		for j, v := range s.Images[start : start+plane] {
			out[start+j] = lut[v]
		}
	}
	return out
}

// exampleSize is C*H*W derived from the split itself.
func (s Split) exampleSize() int {
	if s.N == 0 {
		return 0
	}
	return len(s.Images) / s.N
}

// Head returns the first n examples (all of them if n >= N). The result shares memory with s.
func (s Split) Head(n int) Split {
	n = max(0, min(n, s.N))
	sz := s.exampleSize()
	return Split{Images: s.Images[: n*sz : n*sz], Labels: s.Labels[:n:n], N: n}
}

// Subset returns n examples drawn without replacement, kept in their original order. The
// choice depends only on (N, n, seed), through a generator implemented here so it never
// changes with the Go version. n >= N returns s itself; otherwise the pixels are copied.
// Class balance is not enforced.
func (s Split) Subset(n int, seed uint64) Split {
	if n >= s.N {
		return s
	}
	n = max(n, 0)
	// Partial Fisher-Yates: the first n slots of a random permutation.
	perm := make([]int, s.N)
	for i := range perm {
		perm[i] = i
	}
	rng := splitMix64(seed)
	for i := range n {
		j := i + int(rng.below(uint64(s.N-i)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	idx := perm[:n]
	slices.Sort(idx)
	sz := s.exampleSize()
	out := Split{Images: make([]uint8, n*sz), Labels: make([]int, n), N: n}
	for k, i := range idx {
		copy(out.Images[k*sz:(k+1)*sz], s.Images[i*sz:(i+1)*sz])
		out.Labels[k] = s.Labels[i]
	}
	return out
}

// splitMix64 is Steele et al.'s SplitMix64 generator: tiny, fast, fully specified.
type splitMix64 uint64

func (r *splitMix64) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below returns a uniform value in [0,n) by rejection, so no value is favoured.
func (r *splitMix64) below(n uint64) uint64 {
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		if v := r.next(); v < limit {
			return v % n
		}
	}
}
