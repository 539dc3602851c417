package interop

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// Export formats (the --format values of nmflow export).
const (
	ExportPT          = "pt"
	ExportSafetensors = "safetensors"
	ExportNpz         = "npz"
)

// ExportFormats lists the formats Write takes.
func ExportFormats() []string { return []string{ExportPT, ExportSafetensors, ExportNpz} }

// Write writes the tensors of sd in one of ExportFormats, atomically: a PyTorch state_dict file
// (torch.load), a safetensors file (meta as its __metadata__) or an .npz archive (np.load).
func Write(path, format string, sd *StateDict, meta map[string]string) error {
	switch strings.ToLower(format) {
	case ExportPT:
		return WriteTorch(path, sd)
	case ExportNpz:
		return WriteNpz(path, sd)
	case ExportSafetensors:
		ts := make(map[string]Tensor, len(sd.Names))
		for _, n := range sd.Names {
			ts[n] = sd.Tensors[n]
		}
		if err := traj.WriteSafetensors(path, ts, sd.Names, meta); err != nil {
			return fmt.Errorf("interop: %w", err)
		}
		return nil
	}
	return fmt.Errorf("interop: unknown export format %q (want %s)", format, strings.Join(ExportFormats(), ", "))
}

// WriteGoMLX writes the tensors of sd as a GoMLX checkpoint in dir, one variable per tensor named
// by its scope path ("hidden.dense.weights" → /hidden/dense/weights), in sd.Names order; ReadGoMLX
// reads it back. dir must not hold a checkpoint already (it is never written over).
func WriteGoMLX(dir string, sd *StateDict) error {
	if IsGoMLXCheckpoint(dir) {
		return fmt.Errorf("interop: %s already holds a GoMLX checkpoint; pick a new folder", dir)
	}
	store := model.NewStore()
	for _, name := range sd.Names {
		t := sd.Tensors[name]
		dt, ok := gomlxDTypeOf(t.DType)
		if !ok {
			return fmt.Errorf("interop: writing %s: tensor %q has dtype %q, which GoMLX checkpoints do not hold", dir, name, t.DType)
		}
		if err := checkTensor(t); err != nil {
			return fmt.Errorf("interop: writing %s: tensor %q: %w", dir, name, err)
		}
		v := tensors.FromShape(shapes.Make(dt, t.Shape...))
		if err := v.MutableBytes(func(b []byte) { copy(b, t.Data) }); err != nil {
			return fmt.Errorf("interop: writing %s: tensor %q: %w", dir, name, err)
		}
		if _, err := store.CreateVariable("/"+strings.ReplaceAll(name, ".", "/"), v); err != nil {
			return fmt.Errorf("interop: writing %s: tensor %q: %w", dir, name, err)
		}
	}
	h, err := checkpoint.Build(store).Dir(dir).Done()
	if err == nil {
		err = h.Save()
	}
	if err != nil {
		return fmt.Errorf("interop: writing GoMLX checkpoint %s: %w", dir, err)
	}
	return nil
}

func gomlxDTypeOf(dtype string) (dtypes.DType, bool) {
	for k, v := range gomlxDTypes {
		if v == dtype {
			return k, true
		}
	}
	return 0, false
}
