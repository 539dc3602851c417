package zoo

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nmflow/nmflow/nmflow/data"
)

// A second call with the same settings reuses the file without loading data; other settings
// train again.
func TestTrainOrReuse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zoo.safetensors")
	loads := 0
	load := func() (*data.Dataset, error) { loads++; return synthetic(), nil }
	cfg := smallConfig()
	z1, reused, err := TrainOrReuse(context.Background(), path, cfg, load, quiet())
	if err != nil || reused || loads != 1 {
		t.Fatalf("first call: reused %v, %d loads, err %v", reused, loads, err)
	}
	z2, reused, err := TrainOrReuse(context.Background(), path, cfg, load, quiet())
	if err != nil || !reused || loads != 1 || !slices.Equal(z1.Weights, z2.Weights) {
		t.Fatalf("second call: reused %v, %d loads, err %v", reused, loads, err)
	}
	cfg.Seed++
	if _, reused, err = TrainOrReuse(context.Background(), path, cfg, load, quiet()); err != nil || reused || loads != 2 {
		t.Fatalf("new seed: reused %v, %d loads, err %v", reused, loads, err)
	}
}
