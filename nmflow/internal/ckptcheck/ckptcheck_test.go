package ckptcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
)

// writeCheckpoint writes a checkpoint's .json claiming vars and a .bin of binSize bytes.
func writeCheckpoint(t *testing.T, dir string, binSize int, format string, vars ...variable) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Variables": vars, "BinFormat": format})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "checkpoint-n0000001.json"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "checkpoint-n0000001.bin"), make([]byte, binSize), 0o644)
}

func TestHugeClaimedDimensionsAreRefusedNotAllocated(t *testing.T) {
	dir := t.TempDir()
	writeCheckpoint(t, dir, 100, "gzip", variable{ParameterName: "var:/vel/w", Dimensions: []int{1 << 31, 1 << 31}, DType: dtypes.Float32, Length: 16})
	if err := Dir(dir); err == nil || !strings.Contains(err.Error(), "too large to be real") {
		t.Errorf("dims 2^31 x 2^31: %v", err)
	}
	// Consistent with its length, but more than the machine's memory.
	t.Setenv("NMFLOW_MEMORY_GIB", "1")
	writeCheckpoint(t, dir, 100, "uncompressed", variable{ParameterName: "w", Dimensions: []int{1 << 20, 512}, DType: dtypes.Float32, Length: 1 << 31})
	if err := Dir(dir); err == nil || !strings.Contains(err.Error(), "needs 2.0 GiB to load, more than this machine's 1 GiB") {
		t.Errorf("claims beyond memory: %v", err)
	}
	// A .json cut short by a kill is left to the loader, which sets it aside.
	os.WriteFile(filepath.Join(dir, "checkpoint-n0000001.json"), []byte(`{"Variables": [{"Param`), 0o644)
	if err := Dir(dir); err != nil {
		t.Errorf("a truncated checkpoint: %v", err)
	}
	writeCheckpoint(t, dir, 100, "gzip", variable{ParameterName: "w", Dimensions: []int{3, 4}, DType: dtypes.Float32, Length: 40})
	if err := Dir(dir); err == nil || !strings.Contains(err.Error(), "48 bytes) but 40 bytes") {
		t.Errorf("length disagreeing with shape: %v", err)
	}
	writeCheckpoint(t, dir, 100, "gzip", variable{ParameterName: "w", Dimensions: []int{-1, 4}, DType: dtypes.Float32, Length: 16})
	if err := Dir(dir); err == nil || !strings.Contains(err.Error(), "negative dimension") {
		t.Errorf("negative dimension: %v", err)
	}
}

func TestSoundCheckpointPasses(t *testing.T) {
	dir := t.TempDir()
	writeCheckpoint(t, dir, 60, "uncompressed",
		variable{ParameterName: "w", Dimensions: []int{3, 4}, DType: dtypes.Float32, Length: 48},
		variable{ParameterName: "step", DType: dtypes.Int64, Pos: 48, Length: 8})
	if err := Dir(dir); err != nil {
		t.Error(err)
	}
	if err := Dir(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("a missing folder: %v", err)
	}
}

func TestTreeFindsNestedDamageButSkipsSetAside(t *testing.T) {
	root := t.TempDir()
	vae := filepath.Join(root, "vae", "ckpt")
	aside := filepath.Join(root, "ckpt", "corrupt")
	os.MkdirAll(vae, 0o755)
	os.MkdirAll(aside, 0o755)
	huge := variable{ParameterName: "w", Dimensions: []int{1 << 31, 1 << 31}, DType: dtypes.Float32, Length: 16}
	writeCheckpoint(t, aside, 16, "gzip", huge)
	if err := Tree(root); err != nil {
		t.Errorf("a checkpoint set aside in corrupt/ was checked: %v", err)
	}
	writeCheckpoint(t, vae, 16, "gzip", huge)
	if err := Tree(root); err == nil || !strings.Contains(err.Error(), vae) {
		t.Errorf("damage in vae/ckpt: %v", err)
	}
}

func TestSetAsideNamesTheStepAResumeReallyStartedFrom(t *testing.T) {
	ck := t.TempDir()
	for _, n := range []string{"checkpoint-n0000001-20261207-131512-step-00000020", "checkpoint-n0000002-20261207-131512-step-00000030"} {
		os.WriteFile(filepath.Join(ck, n+".json"), []byte("{}"), 0o644)
	}
	before := List(ck)
	if len(before) != 2 || before[0].Step != 20 || before[1].Step != 30 {
		t.Fatalf("List: %+v", before)
	}
	if moved, at := SetAside(ck, before); len(moved) != 0 || at != 30 {
		t.Errorf("nothing moved: %v, %d", moved, at)
	}
	os.Mkdir(filepath.Join(ck, "corrupt"), 0o755)
	os.Rename(filepath.Join(ck, before[1].Name+".json"), filepath.Join(ck, "corrupt", before[1].Name+".json"))
	if moved, at := SetAside(ck, before); len(moved) != 1 || moved[0].Step != 30 || at != 20 {
		t.Errorf("newest moved aside: %v, %d", moved, at)
	}
}
