package ckptcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"

	"github.com/nmflow/nmflow/nmflow/internal/membudget"
)

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
		if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
			continue // not a checkpoint's metadata
		}
		if err := File(js); err != nil {
			return err
		}
	}
	return nil
}

// File checks one checkpoint .json. Only claims that are impossible in themselves are refused
// (a shape disagreeing with its byte length, sizes that overflow or exceed the memory budget):
// a checkpoint merely cut short by a kill during its save is left to the loader, which sets it
// aside and resumes from the previous one.
func File(jsonPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var doc struct {
		Variables []variable
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("checkpoint %s is damaged: "+format+"; move that checkpoint (its .json and .bin) aside, or restore the folder from a copy",
			append([]any{jsonPath}, a...)...)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil // unreadable, not hostile: the loader sets such a checkpoint aside and resumes from the one before
	}
	limit, src, err := membudget.Total()
	if err != nil {
		return err
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
		return fmt.Errorf("checkpoint %s needs %.1f GiB to load, more than this machine's %.3g GiB (%s); load it on a larger machine (or raise %s if that figure is wrong)",
			jsonPath, total/(1<<30), limit/(1<<30), src, membudget.EnvOverride)
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

// Checkpoint is one GoMLX checkpoint of a folder: its base name and the training step that
// GoMLX writes into it ("…-step-00000020"; -1 when the name has none).
type Checkpoint struct {
	Name string
	Step int64
}

// List returns the checkpoints (checkpoint-*.json) of the folder ck, in name order (oldest
// first); a missing folder has none.
func List(ck string) []Checkpoint {
	files, _ := filepath.Glob(filepath.Join(ck, "checkpoint-*.json"))
	out := make([]Checkpoint, 0, len(files))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		step := int64(-1)
		if i := strings.LastIndex(name, "-step-"); i >= 0 {
			if n, err := strconv.ParseInt(name[i+len("-step-"):], 10, 64); err == nil {
				step = n
			}
		}
		out = append(out, Checkpoint{name, step})
	}
	return out
}

// SetAside compares the checkpoints of ck listed before a resume with those now in its corrupt/
// folder: it returns the ones the resume moved aside (unreadable) and the step of the newest one
// that remained, which is where the resume started (-1 if none remained).
func SetAside(ck string, before []Checkpoint) (moved []Checkpoint, resumedAt int64) {
	aside := map[string]bool{}
	for _, c := range List(filepath.Join(ck, "corrupt")) {
		aside[c.Name] = true
	}
	resumedAt = -1
	for _, c := range before {
		if aside[c.Name] {
			moved = append(moved, c)
		} else {
			resumedAt = max(resumedAt, c.Step)
		}
	}
	return moved, resumedAt
}
