package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"math"
)

// matArray is one numeric variable of a MATLAB file: its dimensions and values as float64 in
// MATLAB's column-major order.
type matArray struct {
	Dims []int
	Data []float64
}

// MAT level-5 data types and the array classes readMAT decodes.
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	mxDOUBLE     = 6
	mxUINT64     = 15
)

// readMAT decodes the real numeric arrays of a MATLAB level-5 file (what scipy.io.savemat writes,
// compressed or not), by variable name. Cells, structs, chars, sparse and complex arrays are
// skipped; a malformed file is an ErrFormat.
func readMAT(b []byte) (map[string]matArray, error) {
	if len(b) < 128 {
		return nil, formatErr("MAT file of %d bytes is shorter than its 128-byte header", len(b))
	}
	var bo binary.ByteOrder
	switch string(b[126:128]) {
	case "IM":
		bo = binary.LittleEndian
	case "MI":
		bo = binary.BigEndian
	default:
		return nil, formatErr("not a MATLAB level-5 file (endian indicator %q)", b[126:128])
	}
	out := map[string]matArray{}
	if err := readMATElements(b[128:], bo, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// matElement splits the next data element off b: its type, payload and the rest.
func matElement(b []byte, bo binary.ByteOrder) (typ uint32, data, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, formatErr("truncated MAT element tag")
	}
	typ = bo.Uint32(b)
	if small := typ >> 16; small != 0 { // small element: 2-byte size, data in the tag's last 4 bytes
		if small > 4 {
			return 0, nil, nil, formatErr("bad small MAT element size %d", small)
		}
		return typ & 0xffff, b[4 : 4+small], b[8:], nil
	}
	n := int64(bo.Uint32(b[4:]))
	if n > int64(len(b)-8) {
		return 0, nil, nil, formatErr("MAT element of %d bytes overruns the file", n)
	}
	data = b[8 : 8+n]
	next := 8 + n
	if typ != miCOMPRESSED { // compressed elements are not padded to 8 bytes
		next = min((next+7)/8*8, int64(len(b)))
	}
	return typ, data, b[next:], nil
}

func readMATElements(b []byte, bo binary.ByteOrder, out map[string]matArray, depth int) error {
	for len(b) > 0 {
		typ, data, rest, err := matElement(b, bo)
		if err != nil {
			return err
		}
		b = rest
		switch typ {
		case miCOMPRESSED:
			if depth > 0 {
				return formatErr("nested compressed MAT elements")
			}
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return formatErr("corrupt compressed MAT element: %v", err)
			}
			inner, err := io.ReadAll(io.LimitReader(zr, maxUnverified))
			if err != nil {
				return formatErr("corrupt compressed MAT element: %v", err)
			}
			if err := readMATElements(inner, bo, out, depth+1); err != nil {
				return err
			}
		case miMATRIX:
			if err := readMATMatrix(data, bo, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// readMATMatrix decodes one miMATRIX: flags, dimensions, name, real part.
func readMATMatrix(b []byte, bo binary.ByteOrder, out map[string]matArray) error {
	var parts [4][]byte
	var types [4]uint32
	for i := range parts {
		if len(b) == 0 {
			if i == 0 {
				return nil // empty matrix
			}
			return formatErr("truncated MAT matrix")
		}
		t, d, rest, err := matElement(b, bo)
		if err != nil {
			return err
		}
		parts[i], types[i], b = d, t, rest
		if i == 0 && len(d) >= 4 {
			class := bo.Uint32(d) & 0xff
			complexFlag := bo.Uint32(d)&0x800 != 0
			if class < mxDOUBLE || class > mxUINT64 || complexFlag {
				return nil // cell, struct, object, char, sparse or complex: not ours
			}
		}
	}
	if len(parts[0]) < 8 || types[1] != miINT32 || len(parts[1])%4 != 0 {
		return formatErr("bad MAT matrix header")
	}
	dims := make([]int, len(parts[1])/4)
	n := 1
	for i := range dims {
		dims[i] = int(int32(bo.Uint32(parts[1][4*i:])))
		if dims[i] < 0 {
			return formatErr("negative MAT dimension %d", dims[i])
		}
		n *= dims[i]
	}
	vals, err := matNumbers(types[3], parts[3], bo)
	if err != nil {
		return err
	}
	if len(vals) != n {
		return formatErr("MAT variable %q has %d values for dims %v", parts[2], len(vals), dims)
	}
	out[string(parts[2])] = matArray{Dims: dims, Data: vals}
	return nil
}

// matNumbers converts a numeric payload of MAT type typ to float64.
func matNumbers(typ uint32, b []byte, bo binary.ByteOrder) ([]float64, error) {
	size := map[uint32]int{miINT8: 1, miUINT8: 1, miINT16: 2, miUINT16: 2, miINT32: 4, miUINT32: 4,
		miSINGLE: 4, miDOUBLE: 8, miINT64: 8, miUINT64: 8}[typ]
	if size == 0 || len(b)%size != 0 {
		return nil, formatErr("unsupported MAT data type %d (or %d bytes)", typ, len(b))
	}
	out := make([]float64, len(b)/size)
	for i := range out {
		p := b[i*size:]
		switch typ {
		case miINT8:
			out[i] = float64(int8(p[0]))
		case miUINT8:
			out[i] = float64(p[0])
		case miINT16:
			out[i] = float64(int16(bo.Uint16(p)))
		case miUINT16:
			out[i] = float64(bo.Uint16(p))
		case miINT32:
			out[i] = float64(int32(bo.Uint32(p)))
		case miUINT32:
			out[i] = float64(bo.Uint32(p))
		case miSINGLE:
			out[i] = float64(math.Float32frombits(bo.Uint32(p)))
		case miDOUBLE:
			out[i] = math.Float64frombits(bo.Uint64(p))
		case miINT64:
			out[i] = float64(int64(bo.Uint64(p)))
		case miUINT64:
			out[i] = float64(bo.Uint64(p))
		}
	}
	return out, nil
}
