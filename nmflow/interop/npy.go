package interop

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// NumPy .npy: magic "\x93NUMPY", version (1|2|3).0, header length (uint16 for 1.0, uint32
// after), a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and '\n', then the raw array. .npz is a zip of NAME.npy members.
// (A hand-written reader: sbinet/npyio v0.14.0 panics on a 26-byte file whose header lacks a
// newline and sizes its buffers from the header before checking the file.)

var npyMagic = []byte("\x93NUMPY")

// maxNpyHeader bounds the header dict; NumPy itself refuses headers over 10 kB by default.
const maxNpyHeader = 1 << 16

// npy descr (without byte order) → safetensors dtype.
var npyDTypes = map[string]string{
	"f4": traj.DTypeF32, "f8": traj.DTypeF64, "f2": traj.DTypeF16, "i8": traj.DTypeI64,
	"i4": traj.DTypeI32, "i2": traj.DTypeI16, "i1": traj.DTypeI8, "u1": traj.DTypeU8, "b1": traj.DTypeBool,
}

// ReadNpy reads one .npy array as a state dict with a single tensor named after the file
// (weights.npy → "weights").
func ReadNpy(path string) (*StateDict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	t, err := parseNpy(b)
	if err != nil {
		return nil, fmt.Errorf("interop: %s is not a readable .npy file: %w", path, err)
	}
	sd := newStateDict(FormatNpy, path)
	_ = sd.Add(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), t)
	return sd, nil
}

// ReadNpz reads every array of an .npz archive (np.savez / np.savez_compressed), named by member
// (fc1.weight.npy → "fc1.weight").
func ReadNpz(path string) (*StateDict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	sd, err := parseNpz(b)
	if err != nil {
		return nil, fmt.Errorf("interop: %s is not a readable .npz file: %w", path, err)
	}
	sd.Path = path
	return sd, nil
}

func parseNpz(b []byte) (*StateDict, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("not a zip archive (%v)", err)
	}
	sd := newStateDict(FormatNpz, "")
	var total int64
	for _, f := range zr.File {
		name, ok := strings.CutSuffix(f.Name, ".npy")
		if !ok {
			return nil, fmt.Errorf("member %q is not an .npy array", f.Name)
		}
		// Deflated members may expand; cap the total at 64 times the archive (deflate's own bound
		// is about 1000) plus 1 MiB, so a zip bomb fails instead of filling memory.
		limit := int64(len(b))*64 + 1<<20 - total
		raw, err := readRecord(f, limit)
		if err != nil {
			return nil, err
		}
		total += int64(len(raw))
		t, err := parseNpy(raw)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f.Name, err)
		}
		if err := sd.Add(name, t); err != nil {
			return nil, err
		}
	}
	if len(sd.Names) == 0 {
		return nil, fmt.Errorf("archive holds no arrays")
	}
	return sd, nil
}

func parseNpy(b []byte) (Tensor, error) {
	if !bytes.HasPrefix(b, npyMagic) || len(b) < 10 {
		return Tensor{}, fmt.Errorf("no \\x93NUMPY magic")
	}
	major := b[6]
	var hlen, start int
	switch major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return Tensor{}, fmt.Errorf("truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return Tensor{}, fmt.Errorf("format version %d.%d (want 1.0, 2.0 or 3.0)", major, b[7])
	}
	if hlen > maxNpyHeader || hlen > len(b)-start {
		return Tensor{}, fmt.Errorf("header of %d bytes is longer than the file or the %d-byte limit", hlen, maxNpyHeader)
	}
	h, err := parseNpyHeader(string(b[start : start+hlen]))
	if err != nil {
		return Tensor{}, err
	}
	order := h.descr[0]
	code := h.descr[1:]
	dtype, ok := npyDTypes[code]
	if !ok || !strings.ContainsRune("<>|=", rune(order)) {
		return Tensor{}, fmt.Errorf("dtype %q is not supported (want float16/32/64, int8–64, uint8 or bool)", h.descr)
	}
	size, _ := traj.DTypeSize(dtype)
	data := b[start+hlen:]
	n := int64(1)
	for _, d := range h.shape {
		if d > 0 && n > int64(len(data))/int64(d) {
			return Tensor{}, fmt.Errorf("shape %v needs more bytes than the file's %d", h.shape, len(data))
		}
		n *= int64(d)
	}
	if n*int64(size) != int64(len(data)) {
		return Tensor{}, fmt.Errorf("%s shape %v needs %d data bytes, the file has %d", h.descr, h.shape, n*int64(size), len(data))
	}
	out := append([]byte(nil), data...)
	if order == '>' && size > 1 {
		for i := 0; i < len(out); i += size {
			for a, z := i, i+size-1; a < z; a, z = a+1, z-1 {
				out[a], out[z] = out[z], out[a]
			}
		}
	}
	t := Tensor{DType: dtype, Shape: h.shape, Data: out}
	if h.fortran && len(h.shape) > 1 {
		t.Data = fortranToC(out, h.shape, size)
	}
	return t, nil
}

// fortranToC reorders column-major data to row-major.
func fortranToC(src []byte, shape []int, size int) []byte {
	out := make([]byte, len(src))
	n := len(src) / size
	idx := make([]int, len(shape))
	for c := 0; c < n; c++ { // c walks the C order; compute its Fortran offset
		f, stride := 0, 1
		for d := 0; d < len(shape); d++ {
			f += idx[d] * stride
			stride *= shape[d]
		}
		copy(out[c*size:(c+1)*size], src[f*size:(f+1)*size])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNpyHeader reads the dict literal NumPy writes (np.lib.format.write_array_header_*).
func parseNpyHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &lit{s: strings.TrimRight(s, " \n\x00")}
	if !p.eat('{') {
		return h, fmt.Errorf("header %q is not a dict", truncate(s, 60))
	}
	seen := map[string]bool{}
	for !p.eat('}') {
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if !p.eat(':') {
			return h, fmt.Errorf("header: want ':' after %q", key)
		}
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
			if len(h.descr) < 2 {
				return h, fmt.Errorf("header: bad descr %q", h.descr)
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
			default:
				return h, fmt.Errorf("header: fortran_order must be True or False")
			}
		case "shape":
			if h.shape, err = p.ints(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("header: unexpected key %q", key)
		}
		seen[key] = true
		if !p.eat(',') {
			if !p.eat('}') {
				return h, fmt.Errorf("header: want ',' or '}' after %q", key)
			}
			break
		}
	}
	if p.skip(); p.i != len(p.s) {
		return h, fmt.Errorf("header: trailing %q", truncate(p.s[p.i:], 20))
	}
	if !seen["descr"] || !seen["fortran_order"] || !seen["shape"] {
		return h, fmt.Errorf("header lacks descr, fortran_order or shape")
	}
	if h.shape == nil {
		h.shape = []int{}
	}
	return h, nil
}

// lit is a cursor over a Python literal.
type lit struct {
	s string
	i int
}

func (p *lit) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *lit) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *lit) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *lit) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("header: want a quoted string at byte %d", p.i)
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("header: unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *lit) ints() ([]int, error) {
	if !p.eat('(') {
		return nil, fmt.Errorf("header: shape must be a tuple")
	}
	var out []int
	for !p.eat(')') {
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(p.s[p.i:j])
		if err != nil || n < 0 || n > 1<<40 {
			return nil, fmt.Errorf("header: bad dimension %q in shape", truncate(p.s[p.i:], 12))
		}
		if len(out) == 64 {
			return nil, fmt.Errorf("header: more than 64 dimensions")
		}
		out = append(out, n)
		p.i = j
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, fmt.Errorf("header: want ',' or ')' in shape")
			}
			break
		}
	}
	return out, nil
}

// npyDescr is the inverse of npyDTypes, little-endian.
func npyDescr(dtype string) (string, bool) {
	for k, v := range npyDTypes {
		if v == dtype {
			if k == "i1" || k == "u1" || k == "b1" {
				return "|" + k, true
			}
			return "<" + k, true
		}
	}
	return "", false
}

// encodeNpy writes t as a version 1.0 .npy with its data 64-byte aligned (as NumPy ≥ 1.? does).
func encodeNpy(w io.Writer, t Tensor) error {
	descr, ok := npyDescr(t.DType)
	if !ok {
		return fmt.Errorf("dtype %q has no NumPy equivalent", t.DType)
	}
	if err := checkTensor(t); err != nil {
		return err
	}
	var shape strings.Builder
	shape.WriteByte('(')
	for i, d := range t.Shape {
		if i > 0 {
			shape.WriteString(", ")
		}
		shape.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		shape.WriteByte(',')
	}
	shape.WriteByte(')')
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape.String())
	total := 10 + len(h) + 1
	pad := (64 - total%64) % 64
	h += strings.Repeat(" ", pad) + "\n"
	if len(h) > 0xffff {
		return fmt.Errorf("shape %v makes a header too long for .npy version 1.0", t.Shape)
	}
	var pre [10]byte
	copy(pre[:], npyMagic)
	pre[6], pre[7] = 1, 0
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(h)))
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, h); err != nil {
		return err
	}
	_, err := w.Write(t.Data)
	return err
}

// WriteNpy writes one tensor as an .npy file, atomically.
func WriteNpy(path string, t Tensor) error {
	if err := traj.WriteAtomic(path, func(w io.Writer) error { return encodeNpy(w, t) }); err != nil {
		return fmt.Errorf("interop: %w", err)
	}
	return nil
}

// WriteNpz writes the tensors of sd (in sd.Names order) as an .npz archive, one NAME.npy member
// each (np.load(path)["fc1.weight"]), uncompressed like np.savez, atomically.
func WriteNpz(path string, sd *StateDict) error {
	if len(sd.Names) == 0 {
		return fmt.Errorf("interop: writing %s: no tensors to write", path)
	}
	err := traj.WriteAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, name := range sd.Names {
			t, ok := sd.Tensors[name]
			if !ok {
				return fmt.Errorf("tensor %q is listed but missing", name)
			}
			var buf bytes.Buffer
			if err := encodeNpy(&buf, t); err != nil {
				return fmt.Errorf("tensor %q: %w", name, err)
			}
			f, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if _, err := f.Write(buf.Bytes()); err != nil {
				return err
			}
		}
		return zw.Close()
	})
	if err != nil {
		return fmt.Errorf("interop: writing %s: %w", path, err)
	}
	return nil
}
