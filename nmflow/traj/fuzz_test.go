package traj

import (
	"os"
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

func FuzzSafetensors(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Add([]byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\x7f{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tensors, _, err := decodeSafetensors(b)
		if err != nil {
			return
		}
		for name, tt := range tensors {
			if err := tt.check(); err != nil {
				t.Fatalf("decoded tensor %q fails its own check: %v", name, err)
			}
		}
	})
}

// FuzzTrajectory feeds whole files through the trajectory reader: header, __metadata__ JSON
// (format, version, kind, layout, ...) and the tensors' agreement with it.
func FuzzTrajectory(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tensors, raw, err := decodeSafetensors(b)
		if err != nil {
			return
		}
		m, err := decodeMeta("fuzz", raw, "")
		if err != nil {
			return
		}
		if m.Kind == KindZoo {
			if z, err := decodeZoo("fuzz", tensors, m); err == nil {
				if err := checkZoo(z); err != nil {
					t.Fatalf("decoded zoo fails the writer's checks: %v", err)
				}
			}
			return
		}
		if g, err := decodeGenerated("fuzz", tensors, m); err == nil {
			if err := checkGenerated(g); err != nil {
				t.Fatalf("decoded generated weights fail the writer's checks: %v", err)
			}
		}
	})
}
