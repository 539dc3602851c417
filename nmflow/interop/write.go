package interop

import (
	"fmt"
	"strings"

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
