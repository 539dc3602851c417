package interop

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// Tensor is one named array read from a checkpoint: raw little-endian bytes in a safetensors
// dtype (F32, F64, F16, BF16, I64, ...) with a row-major shape, exactly as stored in the file.
type Tensor = traj.Tensor

// StateDict is what a checkpoint file holds: tensors by (dotted) name in file order, plus the
// numeric values found beside them (epoch, accuracy, loss, ...), e.g. from
// torch.save({"state_dict": model.state_dict(), "epoch": 3, "test_acc": 0.91}).
type StateDict struct {
	Names   []string          // tensor names in file order
	Tensors map[string]Tensor // by name, e.g. "state_dict.fc1.weight"
	// Container names the dict of the file that holds each tensor ("state_dict." for
	// "state_dict.fc1.weight"; "" or absent at the top level): the tensor's key in that dict, the
	// rest of its name, is what the saving module's state_dict() called it.
	Container map[string]string
	Scalars   map[string]float64
	Format    string // FormatTorch, FormatSafetensors, FormatNpy, FormatNpz or FormatGoMLX
	Path      string // the file or folder it was read from
}

// Formats Read recognizes.
const (
	FormatTorch       = "pytorch"
	FormatSafetensors = "safetensors"
	FormatNpy         = "npy"
	FormatNpz         = "npz"
	FormatGoMLX       = "gomlx"
)

func newStateDict(format, path string) *StateDict {
	return &StateDict{Tensors: map[string]Tensor{}, Scalars: map[string]float64{}, Format: format, Path: path}
}

// Add appends a tensor; a repeated name is an error (two entries would silently shadow each other).
func (sd *StateDict) Add(name string, t Tensor) error {
	if _, dup := sd.Tensors[name]; dup {
		return fmt.Errorf("tensor %q appears twice", name)
	}
	if sd.Tensors == nil {
		sd.Tensors = map[string]Tensor{}
	}
	sd.Names = append(sd.Names, name)
	sd.Tensors[name] = t
	return nil
}

// ScalarNames returns the scalar keys in sorted order.
func (sd *StateDict) ScalarNames() []string {
	out := make([]string, 0, len(sd.Scalars))
	for k := range sd.Scalars {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Float32s converts a floating-point (or integer) tensor to float32. lossy reports whether some
// value changed on the way (an F64 not representable in F32, an integer beyond 2^24), so callers
// can say so instead of silently rounding.
func Float32s(t Tensor) (v []float32, lossy bool, err error) {
	size, ok := traj.DTypeSize(t.DType)
	if !ok {
		return nil, false, fmt.Errorf("unknown dtype %q", t.DType)
	}
	n := t.NumElements()
	if n*size != len(t.Data) {
		return nil, false, fmt.Errorf("dtype %s shape %v needs %d bytes, has %d", t.DType, t.Shape, n*size, len(t.Data))
	}
	out := make([]float32, n)
	b := t.Data
	for i := range out {
		switch t.DType {
		case traj.DTypeF32:
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		case traj.DTypeF64:
			x := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			out[i] = float32(x)
			lossy = lossy || (float64(out[i]) != x && !math.IsNaN(x))
		case traj.DTypeF16:
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		case traj.DTypeBF16:
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		case traj.DTypeI64:
			x := int64(binary.LittleEndian.Uint64(b[8*i:]))
			out[i] = float32(x)
			lossy = lossy || int64(out[i]) != x
		case traj.DTypeI32:
			x := int32(binary.LittleEndian.Uint32(b[4*i:]))
			out[i] = float32(x)
			lossy = lossy || int32(out[i]) != x
		case traj.DTypeI16:
			out[i] = float32(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case traj.DTypeI8:
			out[i] = float32(int8(b[i]))
		case traj.DTypeU8, traj.DTypeBool:
			out[i] = float32(b[i])
		}
	}
	return out, lossy, nil
}

// halfToFloat32 converts an IEEE 754 binary16 value exactly (every half is a float32).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalize
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
