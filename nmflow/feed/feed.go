package feed

import (
	"encoding/binary"
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/nmflow/nmflow/nmflow/data"
)

// Images is one split as device tensors: X [N, D/8] uint64 (or [N, D] uint8 when D%8 != 0) and
// Y [N] int32.
type Images struct {
	X, Y *tensors.Tensor
	N, D int
}

// New packs a split whose examples have d values each.
func New(s data.Split, d int) (*Images, error) {
	if d <= 0 || len(s.Images) != s.N*d || len(s.Labels) != s.N {
		return nil, fmt.Errorf("feed: %d pixels and %d labels for %d examples of size %d", len(s.Images), len(s.Labels), s.N, d)
	}
	y := make([]int32, s.N)
	for i, l := range s.Labels {
		y[i] = int32(l)
	}
	im := &Images{Y: tensors.FromFlatDataAndDimensions(y, s.N), N: s.N, D: d}
	if d%8 == 0 {
		words := make([]uint64, s.N*d/8)
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(s.Images[8*i : 8*i+8])
		}
		im.X = tensors.FromFlatDataAndDimensions(words, s.N, d/8)
	} else {
		im.X = tensors.FromFlatDataAndDimensions(append([]uint8(nil), s.Images...), s.N, d)
	}
	return im, nil
}

// Norm maps raw pixels to network inputs: x/255, or per-channel (x/255 − mean)/std when On.
// Scale and Shift are per-feature [D] tensors (always present, so graphs have one signature).
type Norm struct {
	On           bool
	Mean, Std    []float32
	Scale, Shift *tensors.Tensor
}

// NewNorm expands per-channel statistics to per-feature scale/shift for examples of d values.
func NewNorm(mean, std []float32, d int, on bool) (*Norm, error) {
	if len(mean) == 0 || len(mean) != len(std) || d%len(mean) != 0 {
		return nil, fmt.Errorf("feed: %d means and %d stds do not fit examples of %d values", len(mean), len(std), d)
	}
	scale, shift := make([]float32, d), make([]float32, d)
	per := d / len(mean)
	for i := range scale {
		c := i / per
		if !(std[c] > 0) {
			return nil, fmt.Errorf("feed: channel %d has std %v; cannot standardize", c, std[c])
		}
		scale[i] = 1 / (255 * std[c])
		shift[i] = -mean[c] / std[c]
	}
	return &Norm{On: on, Mean: mean, Std: std,
		Scale: tensors.FromFlatDataAndDimensions(scale, d), Shift: tensors.FromFlatDataAndDimensions(shift, d)}, nil
}

// Prepare packs a split whose examples have d values each and returns it with norm, or with the
// plain pixels/255 normalizer when norm is nil: what an evaluator or a reward needs to feed a net.
func Prepare(s data.Split, d int, norm *Norm) (*Images, *Norm, error) {
	im, err := New(s, d)
	if err != nil {
		return nil, nil, err
	}
	if norm == nil {
		if norm, err = NewNorm([]float32{0}, []float32{1}, d, false); err != nil {
			return nil, nil, err
		}
	}
	return im, norm, nil
}

// Raw gathers the rows named by idx (int32 [..., 1]) from x as float32 [..., D] pixel values
// 0…255, unscaled: a linear first layer can take the 1/255 on its (smaller) weights instead.
func Raw(x, idx *Node, d int) *Node {
	rows := Gather(x, idx)
	lead := idx.Shape().Dimensions[:idx.Rank()-1]
	if rows.DType() == dtypes.Uint64 {
		rows = Bitcast(rows, dtypes.Uint8) // [..., D/8, 8], little-endian byte order
	}
	return ConvertDType(Reshape(rows, append(append([]int{}, lead...), d)...), dtypes.Float32)
}

// Pixels gathers the rows named by idx (int32 [..., 1]) from x and returns float32 inputs
// [..., D]; scale/shift ([D]) are applied when standardize is true, else pixels are divided by 255.
func Pixels(x, idx, scale, shift *Node, d int, standardize bool) *Node {
	px := Raw(x, idx, d)
	if !standardize {
		return MulScalar(px, 1.0/255)
	}
	bshape := make([]int, px.Rank())
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[len(bshape)-1] = d
	return Add(Mul(px, Reshape(scale, bshape...)), Reshape(shift, bshape...))
}
