package traj

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nmflow/nmflow/nmflow/internal/crashtest"
)

const envKillChild = "NMFLOW_TRAJ_KILL_CHILD"

func TestMain(m *testing.M) {
	if target, ok := crashtest.Child(envKillChild); ok {
		// Overwrite target with 16 MiB; the first 1 MiB the buffer flushes reaches the temporary
		// file, then the write blocks until the parent kills the process.
		testHookWrap = func(w io.Writer) io.Writer { return crashtest.BlockAt(1, target+".writing", w) }
		big := F32Tensor([]int{4 << 20}, make([]float32, 4<<20))
		crashtest.Exit("the write", WriteSafetensors(target, map[string]Tensor{"weights": big}, nil, nil))
	}
	os.Exit(m.Run())
}

// TestKilledWriteKeepsPreviousFile: a process killed while overwriting a trajectory file leaves
// the previous file intact and readable; only a hidden temporary file remains.
func TestKilledWriteKeepsPreviousFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zoo.safetensors")
	if err := WriteZoo(path, testZoo(2, 3)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	crashtest.Kill(t, envKillChild, path, path+".writing", 30*time.Second)
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the file changed under a killed write (err %v, %d → %d bytes)", err, len(before), len(after))
	}
	if _, err := ReadZoo(path); err != nil {
		t.Fatalf("the previous file no longer reads: %v", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".zoo.safetensors.tmp-*"))
	if len(tmps) != 1 {
		t.Fatalf("want the killed write's hidden temporary file, found %v", tmps)
	}
	if st, _ := os.Stat(tmps[0]); st.Size() < 1<<20 {
		t.Fatalf("the temporary file has %d bytes: the child was not killed mid-write", st.Size())
	}
	// The next write succeeds over it.
	if err := WriteZoo(path, testZoo(3, 2)); err != nil {
		t.Fatal(err)
	}
	if z, err := ReadZoo(path); err != nil || z.Runs != 3 {
		t.Fatalf("rewrite after the kill: %v", err)
	}
}
