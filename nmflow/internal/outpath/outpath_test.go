package outpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readOnlyDir returns a folder this process cannot write into (root ignores modes: then /sys).
func readOnlyDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(d, 0o755) })
	if f, err := os.CreateTemp(d, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		return "/sys"
	}
	return d
}

func TestOutputOverInputThroughSymlinkIsRefused(t *testing.T) {
	d := t.TempDir()
	in := filepath.Join(d, "zoo.safetensors")
	os.WriteFile(in, []byte("zoo"), 0o644)
	os.Symlink(d, filepath.Join(d, "link"))
	for _, out := range []string{in, filepath.Join(d, "link", "zoo.safetensors"), filepath.Join(d, "sub", "..", "zoo.safetensors")} {
		err := NotInput("--out", out, In("--state", in))
		if err == nil || !strings.Contains(err.Error(), "same path as the input --state") {
			t.Errorf("out %s over input %s: got %v", out, in, err)
		}
	}
	if err := NotInput("--out", filepath.Join(d, "other.safetensors"), In("--state", in)); err != nil {
		t.Errorf("a distinct output was refused: %v", err)
	}
}

func TestOutputInsideInputFolderIsRefused(t *testing.T) {
	m := filepath.Join(t.TempDir(), "model")
	os.MkdirAll(filepath.Join(m, "ckpt"), 0o755)
	os.WriteFile(filepath.Join(m, "model.json"), []byte("{}"), 0o644)
	for _, out := range []string{filepath.Join(m, "model.json"), filepath.Join(m, "ckpt", "new.safetensors"), m} {
		if err := NotInput("--out", out, In("--model", m)); err == nil {
			t.Errorf("--out %s inside --model %s was accepted", out, m)
		}
	}
	if err := NotInput("--out", m+"-gen.safetensors", In("--model", m)); err != nil {
		t.Errorf("a sibling of the model folder was refused: %v", err)
	}
}

func TestWriteIntoMissingOrReadOnlyFolderFailsUpFront(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	err := File("--out", filepath.Join(missing, "r.json"))
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing folder: %v", err)
	}
	ro := readOnlyDir(t)
	err = File("--out", filepath.Join(ro, "r.json"))
	if err == nil || !strings.Contains(err.Error(), "cannot write into the folder "+ro) {
		t.Errorf("read-only folder: %v", err)
	}
	err = Dir("--out", filepath.Join(ro, "model"))
	if err == nil || !strings.Contains(err.Error(), "cannot write into the folder "+ro) {
		t.Errorf("read-only parent of an output folder: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if err := Dir("--out", f); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("a file as output folder: %v", err)
	}
	if err := File("--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("a folder as output file: %v", err)
	}
	if err := Dir("--out", filepath.Join(t.TempDir(), "new")); err != nil {
		t.Errorf("a new folder in a writable one: %v", err)
	}
}

func TestSecondJobOnLockedOutputIsRefused(t *testing.T) {
	for _, isDir := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		l, err := Acquire(out, isDir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Acquire(out, isDir)
		var le *LockedError
		if !errors.As(err, &le) || le.PID != os.Getpid() || le.Since.IsZero() || !strings.Contains(err.Error(), "locked by pid") {
			t.Fatalf("second lock (dir %v): got %v", isDir, err)
		}
		if err := l.Release(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(LockFile(out, isDir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("lock file left after Release: %v", err)
		}
		l2, err := Acquire(out, isDir)
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		l2.Release()
	}
}

func TestOutputLargerThanTheFreeDiskIsRefused(t *testing.T) {
	d := t.TempDir()
	err := Room("--out", filepath.Join(d, "zoo.safetensors"), 1e18)
	if err == nil || !strings.Contains(err.Error(), "GiB free") || !strings.Contains(err.Error(), d) {
		t.Errorf("an exabyte output: %v", err)
	}
	if err := Room("--out", filepath.Join(d, "zoo.safetensors"), 1024); err != nil {
		t.Errorf("a 1 KiB output: %v", err)
	}
}
