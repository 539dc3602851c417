package data

import (
	"math"
	"slices"
	"testing"
)

// tiny is 4 examples of 3 channels of 2 pixels; pixel j of channel c of example k is 10k+3c+j,
// label k.
func tiny() Split {
	s := Split{Images: make([]uint8, 4*3*2), Labels: []int{0, 1, 2, 3}, N: 4}
	for k := range 4 {
		for c := range 3 {
			for j := range 2 {
				s.Images[(k*3+c)*2+j] = uint8(10*k + 3*c + j)
			}
		}
	}
	return s
}

func TestFloat32(t *testing.T) {
	s := Split{Images: []uint8{0, 1, 128, 255}, Labels: []int{0}, N: 1}
	got := s.Float32()
	want := []float32{0, 1.0 / 255, 128.0 / 255, 1}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("Float32 = %v, want %v", got, want)
		}
	}
}

func TestStandardized(t *testing.T) {
	s := tiny()
	mean, std := []float32{0.1, 0.2, 0.3}, []float32{0.5, 0.25, 2}
	got := s.Standardized(mean, std)
	if len(got) != len(s.Images) {
		t.Fatalf("len %d", len(got))
	}
	for i, v := range s.Images {
		c := (i / 2) % 3
		want := (float64(v)/255 - float64(mean[c])) / float64(std[c])
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Fatalf("pixel %d (channel %d): %v, want %v", i, c, got[i], want)
		}
	}
	// With a single channel it matches Float32 for mean 0, std 1.
	one := s.Standardized([]float32{0}, []float32{1})
	if !slices.Equal(one, s.Float32()) {
		t.Fatal("Standardized(0,1) != Float32")
	}
	for name, f := range map[string]func(){
		"std length":    func() { s.Standardized(mean, std[:2]) },
		"no channels":   func() { s.Standardized(nil, nil) },
		"not divisible": func() { s.Standardized(make([]float32, 5), make([]float32, 5)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestChannelStats(t *testing.T) {
	d := &Dataset{Shape: []int{3, 1, 2}, Train: tiny()}
	mean, std := d.ChannelStats()
	for c := range 3 {
		var vals []float64
		for k := range 4 {
			for j := range 2 {
				vals = append(vals, float64(10*k+3*c+j)/255)
			}
		}
		var m, v float64
		for _, x := range vals {
			m += x
		}
		m /= float64(len(vals))
		for _, x := range vals {
			v += (x - m) * (x - m)
		}
		sd := math.Sqrt(v / float64(len(vals)))
		if math.Abs(float64(mean[c])-m) > 1e-7 || math.Abs(float64(std[c])-sd) > 1e-7 {
			t.Errorf("channel %d: %v %v, want %v %v", c, mean[c], std[c], m, sd)
		}
	}
}

// bigSplit has n examples of 2 pixels, each pixel = index mod 256, label = index, so a
// subset shows which examples it took.
func bigSplit(n int) Split {
	s := Split{Images: make([]uint8, 2*n), Labels: make([]int, n), N: n}
	for i := range n {
		s.Images[2*i], s.Images[2*i+1] = uint8(i), uint8(i)
		s.Labels[i] = i
	}
	return s
}

func TestSubset(t *testing.T) {
	s := bigSplit(1000)
	a, b := s.Subset(100, 42), s.Subset(100, 42)
	if a.N != 100 || len(a.Images) != 200 || len(a.Labels) != 100 {
		t.Fatalf("N=%d", a.N)
	}
	if !slices.Equal(a.Images, b.Images) || !slices.Equal(a.Labels, b.Labels) {
		t.Fatal("same (n, seed) gave different subsets")
	}
	if c := s.Subset(100, 43); slices.Equal(a.Labels, c.Labels) {
		t.Fatal("different seeds gave the same subset")
	}
	// Distinct examples, in original order, pixels travelling with their label.
	for k, i := range a.Labels {
		if k > 0 && i <= a.Labels[k-1] {
			t.Fatalf("indices not strictly increasing: %v", a.Labels)
		}
		if a.Images[2*k] != uint8(i) || a.Images[2*k+1] != uint8(i) {
			t.Fatalf("example %d: pixels %v do not belong to example %d", k, a.Images[2*k:2*k+2], i)
		}
	}
	// Pinned, so the draw never changes silently between versions (it defines zoo subsets).
	pinned := s.Subset(5, 7)
	if got := pinned.Labels; !slices.Equal(got, []int{212, 487, 720, 727, 842}) { // checked against an independent SplitMix64
		t.Errorf("Subset(5, 7) labels %v changed", got)
	}
	if all := s.Subset(1000, 1); all.N != 1000 || &all.Images[0] != &s.Images[0] {
		t.Error("n >= N must return the split itself")
	}
	if all := s.Subset(5000, 1); all.N != 1000 {
		t.Error("n > N")
	}
	if none := s.Subset(0, 1); none.N != 0 || len(none.Images) != 0 {
		t.Error("n = 0")
	}
	// Uniformity, roughly: over many seeds each example is drawn about n/N of the time.
	hits := make([]int, 10)
	small := bigSplit(10)
	for seed := range uint64(2000) {
		for _, l := range small.Subset(3, seed).Labels {
			hits[l]++
		}
	}
	for i, h := range hits {
		if h < 500 || h > 700 { // expectation 600
			t.Errorf("example %d drawn %d times of 6000, want about 600", i, h)
		}
	}
}

func TestHead(t *testing.T) {
	s := bigSplit(10)
	h := s.Head(3)
	if h.N != 3 || !slices.Equal(h.Labels, []int{0, 1, 2}) || !slices.Equal(h.Images, []uint8{0, 0, 1, 1, 2, 2}) {
		t.Fatalf("Head(3) = %+v", h)
	}
	// Appending to the head must not overwrite the rest of the split.
	_ = append(h.Images, 99)
	if s.Images[6] != 3 {
		t.Fatal("Head's slice has spare capacity over the parent")
	}
	if s.Head(20).N != 10 || s.Head(-1).N != 0 {
		t.Fatal("Head bounds")
	}
}

// Noise is reproducible from its seed, fills every byte and label range, and NoiseMNIST's splits
// differ.
func TestNoise(t *testing.T) {
	a, b := Noise(200, 784, 10, 3), Noise(200, 784, 10, 3)
	if len(a.Images) != 200*784 || a.N != 200 || !slices.Equal(a.Images, b.Images) || !slices.Equal(a.Labels, b.Labels) {
		t.Fatalf("same seed, different data (or wrong size %d)", len(a.Images))
	}
	seen := map[int]bool{}
	for _, l := range a.Labels {
		seen[l] = true
		if l < 0 || l >= 10 {
			t.Fatalf("label %d outside [0,10)", l)
		}
	}
	if len(seen) != 10 || slices.Max(a.Images) < 250 || slices.Min(a.Images) > 5 {
		t.Errorf("labels %v, bytes %d..%d: not spread", seen, slices.Min(a.Images), slices.Max(a.Images))
	}
	ds := NoiseMNIST(50, 20, 3)
	if ds.ExampleSize() != 784 || ds.Train.N != 50 || ds.Test.N != 20 || slices.Equal(ds.Train.Images[:784], ds.Test.Images[:784]) {
		t.Errorf("NoiseMNIST: size %d, %d/%d examples", ds.ExampleSize(), ds.Train.N, ds.Test.N)
	}
}
