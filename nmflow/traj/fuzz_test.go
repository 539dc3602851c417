package traj

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// Fuzz targets for the safetensors codec and the trajectory container on top of it: no input
// may panic or allocate beyond its size (a header may lie about lengths, shapes and offsets), and
// whatever decodes must pass the same checks the writer applies. `make fuzz-short` runs each
// briefly in CI, `make fuzz` longer.

// seedFiles returns the bytes of a zoo file and a generated file written by this package.
func seedFiles(f *testing.F) [][]byte {
	dir := f.TempDir()
	zp, gp := dir+"/zoo.safetensors", dir+"/gen.safetensors"
	if err := WriteZoo(zp, testZoo(2, 3)); err != nil {
		f.Fatal(err)
	}
	if err := WriteGenerated(gp, testGenerated(2)); err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, p := range []string{zp, gp} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// encodeInMemory is WriteSafetensors without the file: the bytes a decoded file re-encodes to.
func encodeInMemory(t *testing.T, tensors map[string]Tensor, meta map[string]string) []byte {
	h, err := encodeHeader(tensors, nil, meta)
	if err != nil {
		t.Fatalf("decoded tensors do not re-encode: %v", err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h.json)))
	out = append(out, h.json...)
	for _, name := range h.order {
		out = append(out, tensors[name].Data...)
	}
	return out
}

// FuzzSafetensors: no input may panic or allocate beyond its size, and whatever decodes must
// re-encode and decode to the same tensors and metadata (a round trip, not just "no panic").
func FuzzSafetensors(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Add([]byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tensors, meta, err := decodeSafetensors(b)
		if err != nil {
			return
		}
		var size int
		for name, tt := range tensors {
			if err := tt.check(); err != nil {
				t.Fatalf("decoded tensor %q fails its own check: %v", name, err)
			}
			size += len(tt.Data)
		}
		if size > len(b) {
			t.Fatalf("decoded %d bytes of tensors from a %d-byte input", size, len(b))
		}
		again, meta2, err := decodeSafetensors(encodeInMemory(t, tensors, meta))
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if !reflect.DeepEqual(tensors, again) || !(len(meta) == 0 && len(meta2) == 0 || reflect.DeepEqual(meta, meta2)) {
			t.Fatalf("round trip changed the file:\n%v %v\n%v %v", tensors, meta, again, meta2)
		}
	})
}

// FuzzTrajectory wraps fuzzed metadata JSON and tensor bytes in a well-formed container (random
// bytes rarely get past a safetensors header, so a raw-file target returns early), so inputs
// reach the metadata parser, the arch/layout cross-check and the tensors' agreement with the
// metadata. Whatever decodes must pass the writer's checks and survive WriteZoo/WriteGenerated
// and a read back bit for bit.
func FuzzTrajectory(f *testing.F) {
	z := testZoo(2, 3)
	g := testGenerated(2)
	if err := fillMeta(&z.Meta, KindZoo); err != nil {
		f.Fatal(err)
	}
	if err := fillMeta(&g.Meta, KindGenerated); err != nil {
		f.Fatal(err)
	}
	zj, _ := json.Marshal(z.Meta)
	gj, _ := json.Marshal(g.Meta)
	f.Add(zj, uint8(2), uint8(3), F32Tensor([]int{len(z.Weights)}, z.Weights).Data)
	f.Add(gj, uint8(2), uint8(1), F32Tensor([]int{len(g.Weights)}, g.Weights).Data)
	f.Fuzz(func(t *testing.T, js []byte, r, k uint8, w []byte) {
		var plain struct {
			Format        string `json:"format"`
			FormatVersion int    `json:"format_version"`
			Kind          string `json:"kind"`
		}
		_ = json.Unmarshal(js, &plain) // the plain keys agree with the JSON, to get past them
		raw := map[string]string{MetaKeyFormat: plain.Format, MetaKeyFormatVersion: strconv.Itoa(plain.FormatVersion),
			MetaKeyKind: plain.Kind, MetaKeyNmflow: string(js)}
		m, err := decodeMeta("fuzz", raw, "")
		if err != nil {
			return
		}
		runs, ck := int(r%6)+1, int(k%6)+1
		if m.Kind == KindGenerated {
			ck = 1
		}
		p := len(w) / 4 / (runs * ck)
		if p == 0 {
			return
		}
		data := w[:runs*ck*p*4]
		path := filepath.Join(t.TempDir(), "f.safetensors")
		if m.Kind == KindZoo {
			steps := make([]int64, ck)
			for i := range steps {
				steps[i] = int64(10 * i)
			}
			tensors := map[string]Tensor{TensorWeights: {DType: "F32", Shape: []int{runs, ck, p}, Data: data}, TensorSteps: I64Tensor([]int{ck}, steps)}
			z, err := decodeZoo("fuzz", tensors, m)
			if err != nil {
				return
			}
			if err := checkZoo(z); err != nil {
				t.Fatalf("decoded zoo fails the writer's checks: %v", err)
			}
			if err := WriteZoo(path, z); err != nil {
				t.Fatalf("the writer refuses a zoo the reader accepted: %v", err)
			}
			got, err := ReadZoo(path)
			if err != nil {
				t.Fatalf("a written zoo does not read back: %v", err)
			}
			if !sameBits(got.Weights, z.Weights) || !reflect.DeepEqual(got.Meta, z.Meta) || !reflect.DeepEqual(got.Steps, z.Steps) {
				t.Fatalf("zoo round trip changed it:\n got %+v\nwant %+v", got.Meta, z.Meta)
			}
			return
		}
		tensors := map[string]Tensor{TensorWeights: {DType: "F32", Shape: []int{runs, p}, Data: data}}
		g, err := decodeGenerated("fuzz", tensors, m)
		if err != nil {
			return
		}
		if err := checkGenerated(g); err != nil {
			t.Fatalf("decoded generated weights fail the writer's checks: %v", err)
		}
		if err := WriteGenerated(path, g); err != nil {
			t.Fatalf("the writer refuses generated weights the reader accepted: %v", err)
		}
		got, err := ReadGenerated(path)
		if err != nil {
			t.Fatalf("written generated weights do not read back: %v", err)
		}
		if !sameBits(got.Weights, g.Weights) || !reflect.DeepEqual(got.Meta, g.Meta) {
			t.Fatalf("generated round trip changed it:\n got %+v\nwant %+v", got.Meta, g.Meta)
		}
	})
}
