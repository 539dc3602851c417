package ckptcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute/dtypes"
)

// maxGzipRatio bounds how much gzip (GoMLX's default checkpoint compression) can expand data:
// deflate's limit is about 1032:1.
const maxGzipRatio = 1100

// variable is the part of GoMLX's serialized variable record that sizes an allocation.
type variable struct {
	ParameterName string
	Dimensions    []int
	DType         dtypes.DType
	Pos, Length   int
}

// Dir checks every checkpoint (*.json with its .bin) in dir; a missing dir is not an error
// (there is nothing to load).
func Dir(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, js := range files {
		bin := strings.TrimSuffix(js, ".json") + ".bin"
		st, err := os.Stat(bin)
		if errors.Is(err, os.ErrNotExist) {
			continue // not a checkpoint's metadata
		}
		if err != nil {
			return err
		}
		if err := File(js, st.Size()); err != nil {
			return err
		}
	}
	return nil
}

// File checks one checkpoint .json whose data file holds binSize bytes.
func File(jsonPath string, binSize int64) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var doc struct {
		Variables []variable
		BinFormat string
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoint %s is damaged: "+format+"; move that checkpoint (its .json and .bin) aside, or restore the folder from a copy",
			append([]any{jsonPath}, a...)...)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return bad("%v", err)
	}
	limit := float64(binSize)
	if doc.BinFormat != "uncompressed" {
		limit *= maxGzipRatio
	}
	total := 0.0
	for _, v := range doc.Variables {
		if v.DType == dtypes.InvalidDType || v.DType.Bits() <= 0 {
			return bad("variable %q has an invalid dtype", v.ParameterName)
		}
		n, ok := uint64(1), true
		for _, d := range v.Dimensions {
			if d < 0 {
				return bad("variable %q has a negative dimension in %v", v.ParameterName, v.Dimensions)
			}
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 || lo > math.MaxInt64/64 {
				ok = false
				break
			}
			n = lo
		}
		if !ok {
			return bad("variable %q claims dimensions %v, too large to be real", v.ParameterName, v.Dimensions)
		}
		size := (n*uint64(v.DType.Bits()) + 7) / 8
		if uint64(v.Length) != size || v.Pos < 0 {
			return bad("variable %q claims dimensions %v of %s (%d bytes) but %d bytes at %d", v.ParameterName, v.Dimensions, v.DType, size, v.Length, v.Pos)
		}
		total += float64(size)
	}
	if total > limit {
		return bad("its variables claim %.0f bytes, more than its %d-byte data file can hold", total, binSize)
	}
	return nil
}

// Tree runs Dir on root and every folder below it (a meta-model keeps ckpt/, a latent one also
// vae/ckpt/), except folders named corrupt, where damaged checkpoints are set aside and never
// loaded again; a missing root is not an error.
func Tree(root string) error {
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "corrupt" && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return Dir(path)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
