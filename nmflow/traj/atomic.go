package traj

import "io"

// WriteAtomic writes a file through fill the way every nmflow artifact is written: into a
// temporary file beside path, fsynced, then renamed over path, so a crash or kill at any moment
// leaves either the previous file or the complete new one, never a truncated mix. Other
// packages (interop's .pt and .npz writers, ...) use it instead of a copy of their own.
func WriteAtomic(path string, fill func(io.Writer) error) error {
	return writeAtomic(path, fill)
}
