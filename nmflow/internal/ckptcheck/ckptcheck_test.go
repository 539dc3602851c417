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
	// Consistent with its length, but far more than the data file can hold.
	writeCheckpoint(t, dir, 100, "uncompressed", variable{ParameterName: "w", Dimensions: []int{1 << 20, 64}, DType: dtypes.Float32, Length: 1 << 28})
	if err := Dir(dir); err == nil || !strings.Contains(err.Error(), "more than its 100-byte data file") {
		t.Errorf("claims beyond the data file: %v", err)
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
