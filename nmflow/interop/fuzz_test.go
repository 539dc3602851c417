package interop

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Fuzz targets for every parser of this package: no input may panic, allocate beyond a small
// multiple of its own size, or yield tensors whose bytes disagree with their dtype and shape.
// `make fuzz-short` runs each briefly in CI, `make fuzz` longer.

// fixtures returns the committed files matching glob as seeds.
func fixtures(f *testing.F, glob string) {
	paths, _ := filepath.Glob(fixture(glob))
	if len(paths) == 0 {
		f.Fatalf("no seed fixtures match %s", glob)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func checkParsed(t *testing.T, sd *StateDict) {
	for _, n := range sd.Names {
		if err := checkTensor(sd.Tensors[n]); err != nil {
			t.Fatalf("parsed tensor %q is inconsistent: %v", n, err)
		}
	}
	if len(sd.Names) != len(sd.Tensors) {
		t.Fatalf("%d names for %d tensors", len(sd.Names), len(sd.Tensors))
	}
}

func FuzzPickle(f *testing.F) {
	f.Add([]byte("\x80\x02(K\x01J\xff\xff\xff\xffM\x00\x01\x8a\x02\x00\x80I42\nL-7L\n\x88\x89Nt."))
	f.Add([]byte("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a]\x94(K\x01K\x02e\x8c\x01bh\x01u."))
	f.Add([]byte("\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb."))
	f.Add([]byte("\x80\x02]q\x00h\x00a."))
	f.Add(tensorPickle(6, 0, []int64{2, 3}, []int64{3, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Bounded allocation: a pickle may claim huge lengths (BINBYTES8, LONG4, frames), but the
		// unpickler may only allocate in proportion to its input.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v, err := (&unpickler{data: b, persistentLoad: func(pid any) (any, error) { return pid, nil }}).load()
		if err == nil {
			sd := newStateDict("", "")
			if flatten(sd, v, 2*len(b)+64) == nil {
				checkParsed(t, sd)
			}
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(256*len(b))+8<<20 {
			t.Fatalf("a %d-byte pickle allocated %d bytes", len(b), grew)
		}
	})
}

func FuzzTorch(f *testing.F) {
	fixtures(f, "torch/*.pt")
	f.Add(torchZip(f, tensorPickle(6, 0, []int64{3, 2}, []int64{1, 3}), map[string][]byte{"0": make([]byte, 24)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sd, err := parseTorch(b); err == nil {
			checkParsed(t, sd)
		}
	})
}

func FuzzNpy(f *testing.F) {
	fixtures(f, "numpy/*.npy")
	fixtures(f, "torch/*.npy")
	f.Fuzz(func(t *testing.T, b []byte) {
		if tt, err := parseNpy(b); err == nil {
			if err := checkTensor(tt); err != nil {
				t.Fatalf("parsed array is inconsistent: %v", err)
			}
		}
	})
}

func FuzzNpz(f *testing.F) {
	fixtures(f, "numpy/*.npz")
	f.Fuzz(func(t *testing.T, b []byte) {
		if sd, err := parseNpz(b); err == nil {
			checkParsed(t, sd)
		}
	})
}
