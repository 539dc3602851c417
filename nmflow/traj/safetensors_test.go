package traj

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	path := tempPath(t, "t.safetensors")
	tensors := map[string]Tensor{
		"w":      F32Tensor([]int{2, 3}, []float32{1, 2, 3, 4, 5, -6}),
		"steps":  I64Tensor([]int{3}, []int64{0, -1, 1 << 62}),
		"f64":    {DType: DTypeF64, Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
		"i32":    {DType: DTypeI32, Shape: []int{2}, Data: []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		"u8":     {DType: DTypeU8, Shape: []int{3}, Data: []byte{7, 8, 9}},
		"scalar": F32Tensor(nil, []float32{42}),
		"empty":  F32Tensor([]int{0, 5}, nil),
	}
	order := []string{"steps", "w", "f64", "i32", "u8", "scalar", "empty"}
	meta := map[string]string{"a": "1", "b": `{"json": "inside"}`}
	if err := WriteSafetensors(path, tensors, order, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("metadata = %v, want %v", gotMeta, meta)
	}
	if len(got) != len(tensors) {
		t.Fatalf("read %d tensors, want %d", len(got), len(tensors))
	}
	for name, want := range tensors {
		g := got[name]
		wantShape := want.Shape
		if wantShape == nil {
			wantShape = []int{}
		}
		if g.DType != want.DType || !reflect.DeepEqual(g.Shape, wantShape) || !bytes.Equal(g.Data, want.Data) {
			t.Errorf("tensor %q = %+v, want %+v", name, g, want)
		}
	}
	w, err := got["w"].Float32s()
	if err != nil || !reflect.DeepEqual(w, []float32{1, 2, 3, 4, 5, -6}) {
		t.Errorf("w.Float32s() = %v, %v", w, err)
	}
	s, err := got["steps"].Int64s()
	if err != nil || !reflect.DeepEqual(s, []int64{0, -1, 1 << 62}) {
		t.Errorf("steps.Int64s() = %v, %v", s, err)
	}
	if _, err := got["steps"].Float32s(); err == nil || !strings.Contains(err.Error(), "dtype I64, want F32") {
		t.Errorf("Float32s on I64: err = %v", err)
	}

	// Header order follows the requested order and data is laid out in it.
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw[:8])
	hdr := string(raw[8 : 8+n])
	last := -1
	for _, name := range order {
		i := strings.Index(hdr, `"`+name+`":{`)
		if i <= last {
			t.Fatalf("tensor %q not in header order: %s", name, hdr)
		}
		last = i
	}
	if !strings.Contains(hdr, `"steps":{"dtype":"I64","shape":[3],"data_offsets":[0,24]}`) ||
		!strings.Contains(hdr, `"w":{"dtype":"F32","shape":[2,3],"data_offsets":[24,48]}`) ||
		!strings.Contains(hdr, `"scalar":{"dtype":"F32","shape":[],"data_offsets":[`) {
		t.Errorf("unexpected header entries: %s", hdr)
	}
}

func TestSafetensorsHeaderAlignment(t *testing.T) {
	dir := t.TempDir()
	for extra := 0; extra < 16; extra++ {
		path := filepath.Join(dir, "a.safetensors")
		meta := map[string]string{"k": strings.Repeat("x", extra)}
		if err := WriteSafetensors(path, map[string]Tensor{"x": F32Tensor([]int{1}, []float32{1})}, nil, meta); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		n := binary.LittleEndian.Uint64(raw[:8])
		if n%8 != 0 {
			t.Fatalf("extra=%d: header length %d is not a multiple of 8", extra, n)
		}
		hdr := raw[8 : 8+n]
		trimmed := bytes.TrimRight(hdr, " ")
		if trimmed[len(trimmed)-1] != '}' || len(hdr)-len(trimmed) >= 8 {
			t.Fatalf("extra=%d: header must be JSON padded with < 8 spaces, got %q", extra, hdr)
		}
		if got := raw[8+n:]; !bytes.Equal(got, []byte{0, 0, 0x80, 0x3f}) {
			t.Fatalf("extra=%d: data buffer = %x, want float32 1", extra, got)
		}
	}
}

// rawFile writes a safetensors file by hand (no padding, no validation) to test the reader.
func rawFile(t *testing.T, header string, buf []byte) string {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(buf)
	path := tempPath(t, "bad.safetensors")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadSafetensorsRejects(t *testing.T) {
	eight := make([]byte, 8)
	valid := func(t *testing.T) []byte {
		path := tempPath(t, "ok.safetensors")
		err := WriteSafetensors(path, map[string]Tensor{"a": F32Tensor([]int{4}, []float32{1, 2, 3, 4})}, nil, map[string]string{"m": "v"})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		return raw
	}
	writeBytes := func(t *testing.T, b []byte) string {
		path := tempPath(t, "bad.safetensors")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := []struct {
		name string
		file func(t *testing.T) string
		want string
	}{
		{"empty file", func(t *testing.T) string { return writeBytes(t, nil) }, "file is 0 bytes, too short"},
		{"truncated in header", func(t *testing.T) string { return writeBytes(t, valid(t)[:20]) }, "exceeds the file size 20 (truncated?)"},
		{"truncated in data", func(t *testing.T) string { r := valid(t); return writeBytes(t, r[:len(r)-3]) }, "data_offsets [0, 16] out of range for a 13-byte data buffer"},
		{"huge header length", func(t *testing.T) string {
			r := valid(t)
			binary.LittleEndian.PutUint64(r, 1<<40)
			return writeBytes(t, r)
		}, "header length 1099511627776 exceeds the 100000000-byte limit"},
		{"corrupt JSON", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]`, eight)
		}, "corrupt header JSON"},
		{"not an object", func(t *testing.T) string { return rawFile(t, `["a"]    `, nil) }, "does not start with '{'"},
		{"junk after object", func(t *testing.T) string { return rawFile(t, `{} x`, nil) }, `unexpected "x" after the object`},
		{"offsets out of range", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, eight)
		}, `tensor "a": data_offsets [4, 12] out of range for a 8-byte data buffer`},
		{"offsets reversed", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}`, eight)
		}, "out of range"},
		{"overlap", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)
		}, `tensors "a" and "b" overlap`},
		{"gap", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)
		}, `gap of 4 bytes before tensor "a"`},
		{"trailing garbage", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight)
		}, "4 bytes of trailing data"},
		{"shape vs offsets", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight)
		}, `tensor "a": dtype F32 shape [3] needs 12 bytes, data_offsets span 8`},
		{"dtype vs offsets", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, eight)
		}, "dtype F64 shape [2] needs 16 bytes"},
		{"unknown dtype", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, eight)
		}, `tensor "a" has unknown dtype "F8_E4M3"`},
		{"negative dim", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"U8","shape":[-2,-4],"data_offsets":[0,8]}}`, eight)
		}, "negative dimension"},
		{"overflowing shape", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight)
		}, "too many elements"},
		{"duplicate tensor", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, eight)
		}, `tensor "a" twice`},
		{"missing offsets", func(t *testing.T) string { return rawFile(t, `{"a":{"dtype":"U8","shape":[8]}}`, eight) }, "data_offsets must be [begin, end]"},
		{"unknown field", func(t *testing.T) string {
			return rawFile(t, `{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8],"x":1}}`, eight)
		}, `unknown field "x"`},
		{"non-string metadata", func(t *testing.T) string {
			return rawFile(t, `{"__metadata__":{"n":1},"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, eight)
		}, "__metadata__ must map strings to strings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.file(t)
			_, _, err := ReadSafetensors(path)
			if err == nil {
				t.Fatalf("ReadSafetensors accepted a bad file, want error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q should name the file and contain %q", err, c.want)
			}
		})
	}
	if _, _, err := ReadSafetensors(tempPath(t, "missing.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestWriteSafetensorsRejects(t *testing.T) {
	ok := F32Tensor([]int{2}, []float32{1, 2})
	cases := []struct {
		name    string
		tensors map[string]Tensor
		order   []string
		want    string
	}{
		{"order misses a tensor", map[string]Tensor{"a": ok, "b": ok}, []string{"a"}, "order lists 1 tensors, map holds 2"},
		{"order names unknown", map[string]Tensor{"a": ok}, []string{"b"}, `"b", which is not in the map`},
		{"order repeats", map[string]Tensor{"a": ok, "b": ok}, []string{"a", "a"}, `"a" twice`},
		{"data vs shape", map[string]Tensor{"a": {DType: DTypeF32, Shape: []int{3}, Data: make([]byte, 8)}}, nil, "needs 12 bytes, data has 8"},
		{"unknown dtype", map[string]Tensor{"a": {DType: "C64", Shape: []int{1}, Data: make([]byte, 8)}}, nil, `unknown dtype "C64"`},
		{"reserved name", map[string]Tensor{"__metadata__": ok}, nil, "invalid tensor name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := tempPath(t, "w.safetensors")
			err := WriteSafetensors(path, c.tensors, c.order, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("a rejected write created %s", path)
			}
		})
	}
}

// failingWriter accepts n bytes, then fails: a full disk in the middle of the data.
type failingWriter struct {
	w io.Writer
	n int
}

var errDiskFull = errors.New("simulated disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n, _ := f.w.Write(p[:f.n])
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "z.safetensors")
	oldTensors := map[string]Tensor{"old": F32Tensor([]int{1}, []float32{1})}
	if err := WriteSafetensors(path, oldTensors, nil, nil); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)
	big := map[string]Tensor{"new": F32Tensor([]int{1 << 18}, make([]float32, 1<<18))}

	assertIntact := func(t *testing.T, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want %v naming %s", err, want, path)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
			t.Fatalf("failed write changed %s", path)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("failed write left files behind: %v", names)
		}
	}

	t.Run("write fails midway", func(t *testing.T) {
		testHookWrap = func(w io.Writer) io.Writer { return &failingWriter{w: w, n: 100_000} }
		defer func() { testHookWrap = nil }()
		assertIntact(t, WriteSafetensors(path, big, nil, nil), errDiskFull)
	})
	t.Run("rename fails", func(t *testing.T) {
		errRename := errors.New("simulated rename failure")
		var tmpSize int64
		testHookBeforeRename = func(tmp string) error {
			st, err := os.Stat(tmp)
			if err != nil {
				return err
			}
			tmpSize = st.Size()
			return errRename
		}
		defer func() { testHookBeforeRename = nil }()
		assertIntact(t, WriteSafetensors(path, big, nil, nil), errRename)
		if tmpSize < 1<<20 { // the temp file was complete before the rename was attempted
			t.Fatalf("temp file had %d bytes before rename, want the whole file", tmpSize)
		}
	})
	t.Run("success replaces and is readable by others", func(t *testing.T) {
		if err := WriteSafetensors(path, big, nil, nil); err != nil {
			t.Fatal(err)
		}
		got, _, err := ReadSafetensors(path)
		if err != nil || len(got["new"].Data) != 4<<18 {
			t.Fatalf("read back: %v", err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
			t.Fatalf("mode = %v, want 0644", st.Mode().Perm())
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		p := filepath.Join(dir, "no", "such", "dir", "z.safetensors")
		err := WriteSafetensors(p, oldTensors, nil, nil)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v, want ErrNotExist naming %s", err, p)
		}
	})
}
