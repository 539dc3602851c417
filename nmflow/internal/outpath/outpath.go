package outpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Input names a path a job reads, with the flag that named it (for messages).
type Input struct {
	Flag, Path string
}

// In is a short constructor for Input.
func In(flag, path string) Input { return Input{flag, path} }

// Resolve returns the absolute, symlink-free form of p. A p that does not exist yet is resolved
// through its nearest existing ancestor, so an output and an input compare equal however they
// are spelled (relative, through a symlink, with "..").
func Resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for cur := abs; ; cur = filepath.Dir(cur) {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, os.ErrNotExist) || filepath.Dir(cur) == cur {
			return "", err
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
	}
}

// within reports whether p is dir or lies inside it (both resolved).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// NotInput refuses an output (named by outFlag) that is one of the inputs or lies inside an input
// folder: writing it would destroy what the job reads. Inputs with an empty path are skipped.
func NotInput(outFlag, out string, inputs ...Input) error {
	ro, err := Resolve(out)
	if err != nil {
		return fmt.Errorf("%s %s: %w", outFlag, out, err)
	}
	for _, in := range inputs {
		if in.Path == "" {
			continue
		}
		ri, err := Resolve(in.Path)
		if err != nil {
			continue // an unreadable input fails later with its own message
		}
		if ro == ri {
			return fmt.Errorf("%s %s is the same path as the input %s %s: writing it would destroy the input; choose another %s",
				outFlag, out, in.Flag, in.Path, outFlag)
		}
		if st, err := os.Stat(ri); err == nil && st.IsDir() && within(ro, ri) {
			return fmt.Errorf("%s %s lies inside the input folder %s %s: writing there could destroy the input; choose a path outside it",
				outFlag, out, in.Flag, in.Path)
		}
	}
	return nil
}

// File checks, before any work, that the file out can be written: it is not a folder and its
// folder exists and is writable. The error names the folder and what to do.
func File(outFlag, out string) error {
	if out == "" {
		return fmt.Errorf("%s must name the output file", outFlag)
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s is a folder; name a file", outFlag, out)
	}
	return writable(outFlag, out, filepath.Dir(out))
}

// Dir checks, before any work, that the folder out can be written into: it is a folder (or does
// not exist yet) and the folder that holds it, or it itself, exists and is writable.
func Dir(outFlag, out string) error {
	if out == "" {
		return fmt.Errorf("%s must name the output folder", outFlag)
	}
	st, err := os.Stat(out)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("%s %s is a file; name a folder", outFlag, out)
	case err == nil:
		return writable(outFlag, out, out)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s %s: %w", outFlag, out, err)
	}
	return writable(outFlag, out, filepath.Dir(filepath.Clean(out)))
}

// writable creates and removes a probe file in dir: the only test that sees read-only mounts,
// ACLs and quotas alike.
func writable(outFlag, out, dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s %s: the folder %s does not exist; create it first (mkdir -p %s)", outFlag, out, dir, dir)
	}
	if err == nil && !st.IsDir() {
		return fmt.Errorf("%s %s: %s is not a folder", outFlag, out, dir)
	}
	f, err := os.CreateTemp(dir, ".nmflow-write-check-*")
	if err != nil {
		return fmt.Errorf("%s %s: cannot write into the folder %s (%v); pick a writable folder or fix its permissions", outFlag, out, dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// Room refuses, before any work, an output of about need bytes that the filesystem holding out
// has no room for (an estimate: the check guards against hours of work lost to a full disk).
func Room(outFlag, out string, need float64) error {
	dir := out
	if st, err := os.Stat(out); err != nil || !st.IsDir() {
		dir = filepath.Dir(out)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return nil // unknown: the write itself will say
	}
	free := float64(fs.Bavail) * float64(fs.Bsize)
	if need > free {
		return fmt.Errorf("%s %s needs ~%.2f GiB of disk, the folder %s has %.2f GiB free; free some space or choose another folder",
			outFlag, out, need/(1<<30), dir, free/(1<<30))
	}
	return nil
}
