package traj

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Safetensors dtypes this codec knows (the names the format uses). nmflow's own files hold F32
// and I64; the others let foreign checkpoints (half-precision weights, integer buffers) be read.
const (
	DTypeF32  = "F32"
	DTypeF64  = "F64"
	DTypeF16  = "F16"
	DTypeBF16 = "BF16"
	DTypeI64  = "I64"
	DTypeI32  = "I32"
	DTypeI16  = "I16"
	DTypeI8   = "I8"
	DTypeU8   = "U8"
	DTypeBool = "BOOL"
)

// knownDTypes lists the dtypes for error messages.
const knownDTypes = "F32, F64, F16, BF16, I64, I32, I16, I8, U8 or BOOL"

// MaxHeaderLen bounds the JSON header, as the reference implementation does (100 MB), so a
// corrupt length prefix cannot make a reader allocate gigabytes.
const MaxHeaderLen = 100_000_000

const metadataKey = "__metadata__"

// DTypeSize is the size in bytes of one element of dtype; ok is false for unknown dtypes.
func DTypeSize(dtype string) (size int, ok bool) {
	switch dtype {
	case DTypeF64, DTypeI64:
		return 8, true
	case DTypeF32, DTypeI32:
		return 4, true
	case DTypeF16, DTypeBF16, DTypeI16:
		return 2, true
	case DTypeU8, DTypeI8, DTypeBool:
		return 1, true
	}
	return 0, false
}

// Tensor is one safetensors entry: raw little-endian bytes with a dtype and a row-major shape.
type Tensor struct {
	DType string
	Shape []int
	Data  []byte
}

// NumElements is the product of Shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// F32Tensor encodes v (row-major, len = product of shape) as an F32 tensor.
func F32Tensor(shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{DType: DTypeF32, Shape: append([]int{}, shape...), Data: b}
}

// I64Tensor encodes v (row-major, len = product of shape) as an I64 tensor.
func I64Tensor(shape []int, v []int64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{DType: DTypeI64, Shape: append([]int{}, shape...), Data: b}
}

// Float32s decodes an F32 tensor (a copy); other dtypes are an error, not a silent conversion.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != DTypeF32 {
		return nil, fmt.Errorf("tensor has dtype %s, want %s", t.DType, DTypeF32)
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Int64s decodes an I64 tensor (a copy).
func (t Tensor) Int64s() ([]int64, error) {
	if t.DType != DTypeI64 {
		return nil, fmt.Errorf("tensor has dtype %s, want %s", t.DType, DTypeI64)
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]int64, len(t.Data)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// check verifies dtype, shape and that len(Data) matches them.
func (t Tensor) check() error {
	size, ok := DTypeSize(t.DType)
	if !ok {
		return fmt.Errorf("unknown dtype %q (want %s)", t.DType, knownDTypes)
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return err
	}
	if want := n * int64(size); want != int64(len(t.Data)) {
		return fmt.Errorf("dtype %s shape %v needs %d bytes, data has %d", t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// numElements multiplies shape, rejecting negative dims and products that could overflow once
// multiplied by a dtype size (a corrupt header must not wrap around into a "valid" size).
func numElements(shape []int) (int64, error) {
	const maxElems = math.MaxInt64 / 8
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d == 0 {
			return 0, nil
		}
	}
	n := int64(1)
	for _, d := range shape {
		if n > maxElems/int64(d) {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= int64(d)
	}
	return n, nil
}

// WriteSafetensors writes tensors to path in safetensors format, laid out in the given order
// (nil order: sorted by name), with meta as __metadata__. The write is atomic: data goes to a
// temporary file in the same directory, is fsynced, then renamed over path, so path holds either
// the old content or the complete new file.
func WriteSafetensors(path string, tensors map[string]Tensor, order []string, meta map[string]string) error {
	header, err := encodeHeader(tensors, order, meta)
	if err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error {
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header.json)))
		if _, err := w.Write(lenBuf[:]); err != nil {
			return err
		}
		if _, err := w.Write(header.json); err != nil {
			return err
		}
		for _, name := range header.order {
			if _, err := w.Write(tensors[name].Data); err != nil {
				return err
			}
		}
		return nil
	})
}

type encodedHeader struct {
	json  []byte
	order []string
}

// encodeHeader builds the header JSON by hand: encoding/json would sort the keys, and the
// header order is meant to match the data order so the file reads naturally.
func encodeHeader(tensors map[string]Tensor, order []string, meta map[string]string) (encodedHeader, error) {
	if order == nil {
		order = make([]string, 0, len(tensors))
		for name := range tensors {
			order = append(order, name)
		}
		sort.Strings(order)
	}
	if len(order) != len(tensors) {
		return encodedHeader{}, fmt.Errorf("order lists %d tensors, map holds %d", len(order), len(tensors))
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(meta) > 0 {
		mj, err := json.Marshal(meta) // sorted keys: deterministic output
		if err != nil {
			return encodedHeader{}, err
		}
		buf.WriteString(`"` + metadataKey + `":`)
		buf.Write(mj)
	}
	seen := make(map[string]bool, len(order))
	var off int64
	for _, name := range order {
		t, ok := tensors[name]
		if !ok {
			return encodedHeader{}, fmt.Errorf("order names tensor %q, which is not in the map", name)
		}
		if seen[name] {
			return encodedHeader{}, fmt.Errorf("order names tensor %q twice", name)
		}
		seen[name] = true
		if name == "" || name == metadataKey {
			return encodedHeader{}, fmt.Errorf("invalid tensor name %q", name)
		}
		if err := t.check(); err != nil {
			return encodedHeader{}, fmt.Errorf("tensor %q: %w", name, err)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar is shape [], never null
		}
		entry, err := json.Marshal(struct {
			DType   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}{t.DType, shape, [2]int64{off, off + int64(len(t.Data))}})
		if err != nil {
			return encodedHeader{}, err
		}
		nj, _ := json.Marshal(name)
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(nj)
		buf.WriteByte(':')
		buf.Write(entry)
		off += int64(len(t.Data))
	}
	buf.WriteByte('}')
	// Pad so the data buffer starts 8-byte aligned (8-byte prefix + multiple of 8), which lets
	// readers map F64/I64 tensors in place.
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderLen {
		return encodedHeader{}, fmt.Errorf("header is %d bytes, over the %d limit", buf.Len(), MaxHeaderLen)
	}
	return encodedHeader{json: buf.Bytes(), order: order}, nil
}

// testHookWrap and testHookBeforeRename let tests make an atomic write fail deterministically
// (root ignores permissions, so chmod tricks do not work everywhere).
var (
	testHookWrap         func(io.Writer) io.Writer
	testHookBeforeRename func(tmp string) error
)

// writeAtomic writes via fill into a temp file beside path, fsyncs and renames it over path.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("traj: writing %s: %w", path, err)
		}
	}()
	var w io.Writer = f
	if testHookWrap != nil {
		w = testHookWrap(w)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600; artifacts are meant to be shared
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if testHookBeforeRename != nil {
		if err = testHookBeforeRename(tmp); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Persist the rename itself; best effort, as some filesystems refuse to fsync directories.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadSafetensors reads and validates a whole safetensors file. It rejects anything the reference
// implementation would reject (header too large or past the end of the file, invalid JSON,
// unknown dtype, size that disagrees with shape, offsets out of range, overlapping or leaving
// gaps, trailing bytes) with an error naming the file and the problem.
func ReadSafetensors(path string) (map[string]Tensor, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("traj: reading %s: %w", path, err)
	}
	tensors, meta, err := decodeSafetensors(data)
	if err != nil {
		return nil, nil, fmt.Errorf("traj: %s is not a valid safetensors file: %w", path, err)
	}
	return tensors, meta, nil
}

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

func decodeSafetensors(data []byte) (map[string]Tensor, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > MaxHeaderLen {
		return nil, nil, fmt.Errorf("header length %d exceeds the %d-byte limit (corrupt or not safetensors)", n, MaxHeaderLen)
	}
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("header length %d exceeds the file size %d (truncated?)", n, len(data))
	}
	hdr := data[8 : 8+n]
	buffer := data[8+n:]
	if len(bytes.TrimLeft(hdr, " ")) == 0 || hdr[0] != '{' {
		return nil, nil, fmt.Errorf("header does not start with '{' (not safetensors)")
	}

	// Decode token by token to keep the order and to catch duplicate names, which a map would hide.
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("corrupt header JSON: %w", err)
	}
	var meta map[string]string
	entries := map[string]headerEntry{}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("corrupt header JSON: %w", err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("corrupt header JSON at %q: %w", name, err)
		}
		if name == metadataKey {
			if meta != nil {
				return nil, nil, fmt.Errorf("header has %s twice", metadataKey)
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("header %s must map strings to strings: %w", metadataKey, err)
			}
			if meta == nil {
				meta = map[string]string{}
			}
			continue
		}
		if _, dup := entries[name]; dup {
			return nil, nil, fmt.Errorf("header has tensor %q twice", name)
		}
		if name == "" {
			return nil, nil, fmt.Errorf("header has a tensor with an empty name")
		}
		var e headerEntry
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
		}
		entries[name] = e
		names = append(names, name)
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, nil, fmt.Errorf("corrupt header JSON: %w", err)
	}
	if rest := bytes.TrimSpace(hdr[dec.InputOffset():]); len(rest) > 0 {
		return nil, nil, fmt.Errorf("corrupt header JSON: unexpected %q after the object", truncate(string(rest), 20))
	}

	type span struct {
		name       string
		begin, end int64
	}
	spans := make([]span, 0, len(names))
	tensors := make(map[string]Tensor, len(names))
	for _, name := range names {
		e := entries[name]
		size, ok := DTypeSize(e.DType)
		if !ok {
			return nil, nil, fmt.Errorf("tensor %q has unknown dtype %q (want %s)", name, e.DType, knownDTypes)
		}
		if e.Shape == nil {
			return nil, nil, fmt.Errorf("tensor %q has no shape", name)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %v", name, e.DataOffsets)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > int64(len(buffer)) {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range for a %d-byte data buffer", name, begin, end, len(buffer))
		}
		ne, err := numElements(e.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if ne*int64(size) != end-begin {
			return nil, nil, fmt.Errorf("tensor %q: dtype %s shape %v needs %d bytes, data_offsets span %d", name, e.DType, e.Shape, ne*int64(size), end-begin)
		}
		spans = append(spans, span{name, begin, end})
		tensors[name] = Tensor{DType: e.DType, Shape: e.Shape, Data: buffer[begin:end:end]}
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var pos int64
	prev := ""
	for _, s := range spans {
		switch {
		case s.begin < pos:
			return nil, nil, fmt.Errorf("tensors %q and %q overlap (offset %d < %d)", prev, s.name, s.begin, pos)
		case s.begin > pos:
			return nil, nil, fmt.Errorf("gap of %d bytes before tensor %q at offset %d", s.begin-pos, s.name, pos)
		}
		pos, prev = s.end, s.name
	}
	if pos != int64(len(buffer)) {
		return nil, nil, fmt.Errorf("%d bytes of trailing data after the last tensor", int64(len(buffer))-pos)
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return tensors, meta, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

var errNotRegular = errors.New("not a regular file")

// headerOnly reads just the metadata of a safetensors file (no tensor data).
func headerOnly(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("traj: reading %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("traj: reading %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("traj: reading %s: %w", path, errNotRegular)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("traj: %s is not a valid safetensors file: file is %d bytes, too short for the 8-byte header length", path, st.Size())
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderLen || n > uint64(st.Size()-8) {
		return nil, fmt.Errorf("traj: %s is not a valid safetensors file: header length %d exceeds the file size %d or the %d-byte limit", path, n, st.Size(), MaxHeaderLen)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, fmt.Errorf("traj: reading %s: %w", path, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &top); err != nil {
		return nil, fmt.Errorf("traj: %s is not a valid safetensors file: corrupt header JSON: %w", path, err)
	}
	meta := map[string]string{}
	if raw, ok := top[metadataKey]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("traj: %s is not a valid safetensors file: header %s must map strings to strings: %w", path, metadataKey, err)
		}
	}
	return meta, nil
}
