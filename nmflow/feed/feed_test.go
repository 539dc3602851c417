package feed_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/backend"
	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/feed"
)

func split(n, d int) data.Split {
	s := data.Split{Images: make([]uint8, n*d), Labels: make([]int, n), N: n}
	for i := range s.Images {
		s.Images[i] = uint8((i*37 + i/d) % 256)
	}
	for i := range s.Labels {
		s.Labels[i] = i % 3
	}
	return s
}

// Gathered pixels equal the raw bytes in both the packed (D%8 == 0) and the byte layouts,
// and standardization applies per channel.
func TestPixelsMatchRawBytes(t *testing.T) {
	be := backend.MustDefault()
	for _, d := range []int{16, 12} {
		s := split(5, d)
		im, err := feed.New(s, d)
		if err != nil {
			t.Fatal(err)
		}
		if packed := im.X.DType() == dtypes.Uint64; packed != (d%8 == 0) {
			t.Fatalf("d=%d: packed=%v", d, packed)
		}
		norm, err := feed.NewNorm([]float32{0.5, 0.25}, []float32{0.2, 0.4}, d, true)
		if err != nil {
			t.Fatal(err)
		}
		idx := []int32{4, 0, 2}
		for _, std := range []bool{false, true} {
			g := MustNewExec(be, func(x, i, sc, sh *Node) *Node {
				return feed.Pixels(x, InsertAxes(i, -1), sc, sh, d, std)
			})
			got := tensors.MustCopyFlatData[float32](g.MustExec1(im.X, idx, norm.Scale, norm.Shift))
			for j, row := range idx {
				for k := 0; k < d; k++ {
					v := float64(s.Images[int(row)*d+k]) / 255
					if std {
						c := k / (d / 2)
						v = (v - float64(norm.Mean[c])) / float64(norm.Std[c])
					}
					if g := float64(got[j*d+k]); math.Abs(g-v) > 1e-5 {
						t.Fatalf("d=%d std=%v row %d px %d: got %g want %g", d, std, row, k, g, v)
					}
				}
			}
		}
	}
	if _, err := feed.New(split(2, 8), 9); err == nil {
		t.Fatal("bad size accepted")
	}
	if _, err := feed.NewNorm([]float32{0.5}, []float32{0}, 8, true); err == nil {
		t.Fatal("zero std accepted")
	}
}

// Pack a split and gather two rows as float32 inputs in [0,1].
func Example() {
	s := data.Split{Images: []uint8{0, 255, 51, 102, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255}, Labels: []int{0, 1}, N: 2}
	im, _ := feed.New(s, 8)
	g := MustNewExec(backend.MustDefault(), func(x, i *Node) *Node { return feed.Pixels(x, InsertAxes(i, -1), nil, nil, 8, false) })
	fmt.Printf("%.2f\n", tensors.MustCopyFlatData[float32](g.MustExec1(im.X, []int32{0}))[:4])
	// Output: [0.00 1.00 0.20 0.40]
}

// Prepare keeps a given normalizer and otherwise gives the plain pixels/255 one.
func TestPrepare(t *testing.T) {
	own, err := feed.NewNorm([]float32{0.5}, []float32{0.25}, 16, true)
	if err != nil {
		t.Fatal(err)
	}
	im, norm, err := feed.Prepare(split(3, 16), 16, own)
	if err != nil || norm != own || im.N != 3 || im.D != 16 {
		t.Fatalf("with a normalizer: %v, %+v, %v", err, im, norm == own)
	}
	_, norm, err = feed.Prepare(split(3, 16), 16, nil)
	if err != nil || norm.On || norm.Scale.Value().([]float32)[5] != 1.0/255 || norm.Shift.Value().([]float32)[5] != 0 {
		t.Fatalf("default normalizer: %v, %+v", err, norm)
	}
	if _, _, err := feed.Prepare(split(3, 16), 15, nil); err == nil {
		t.Error("examples of the wrong size were accepted")
	}
}
