package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/nmflow/nmflow/nmflow/internal/ckptcheck"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// checkOutput is every writer's rule, applied before any work: the output is not one of the
// inputs (nor inside an input folder) and its folder exists and is writable.
func checkOutput(flagName, out string, dir bool, inputs ...outpath.Input) error {
	if err := outpath.NotInput(flagName, out, inputs...); err != nil {
		return err
	}
	if dir {
		return outpath.Dir(flagName, out)
	}
	return outpath.File(flagName, out)
}

// checkReplace refuses, without --force, to replace an existing file of another kind: kind is the
// nmflow trajectory kind the command writes (traj.KindZoo, traj.KindGenerated) or "" for a
// non-trajectory output (JSON, exports), which must never replace a trajectory file. differs, when
// given, says how an existing file of the right kind was made with other settings ("" if not).
func checkReplace(flagName, out, kind string, force bool, differs func(traj.Meta) string) error {
	st, err := os.Stat(out)
	if errors.Is(err, os.ErrNotExist) || force {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flagName, out, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file; name a file to write", flagName, out)
	}
	refuse := func(what string) error {
		return fmt.Errorf("%s %s already holds %s; pass --force to replace it, or choose another %s", flagName, out, what, flagName)
	}
	meta, err := traj.ReadMeta(out)
	switch {
	case err != nil && kind != "":
		return refuse("a file that is not " + kindName(kind) + " from nmflow")
	case err != nil:
		return nil
	case meta.Kind != kind:
		return refuse(kindName(meta.Kind) + " (" + meta.Arch.String() + ")")
	case differs != nil:
		if d := differs(meta); d != "" {
			return refuse(kindName(kind) + " made with other settings (" + d + ")")
		}
	}
	return nil
}

func kindName(kind string) string {
	if kind == traj.KindGenerated {
		return "a file of generated weights"
	}
	return "a " + kind
}

// lockOutput takes the output's lock for the job's lifetime (see outpath.Acquire).
func lockOutput(out string, dir bool) (*outpath.Lock, error) {
	return outpath.Acquire(out, dir)
}

// lockResumable locks the folder of a resumable run (fit, finetune), so that a second job cannot
// resume, or set aside, the checkpoints of a live one, and vets the checkpoints it will load.
func lockResumable(out string) (*outpath.Lock, error) {
	lock, err := outpath.Acquire(out, true)
	if err != nil {
		return nil, err
	}
	if err := ckptcheck.Tree(out); err != nil {
		lock.Release()
		return nil, err
	}
	return lock, nil
}

// checkFiniteFlags refuses NaN and ±Inf in every float flag: no setting means them, and they
// otherwise surface only after the work (a NaN clip trains, then fails to save its config).
func checkFiniteFlags(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil {
			return
		}
		if v, isFloat := g.Get().(float64); isFloat && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = fmt.Errorf("--%s must be a finite number, got %v", f.Name, f.Value)
		}
	})
	return err
}

// positive refuses values < 1 of int flags that count something (runs, batch, width, ...).
func positive(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil {
			continue
		}
		switch v := f.Value.(flag.Getter).Get().(type) {
		case int:
			if v < 1 {
				return fmt.Errorf("--%s must be ≥ 1, got %d", n, v)
			}
		case float64:
			if !(v > 0) {
				return fmt.Errorf("--%s must be > 0, got %g", n, v)
			}
		}
	}
	return nil
}

// noteSetAside tells the user when a resume found the newest checkpoint(s) of ck unreadable (a
// save cut short) and moved them aside, which the library does without a word: it returns the
// step (or iteration) the run really resumed from, or said when nothing was moved.
func noteSetAside(stderr io.Writer, cmd, ck string, before []ckptcheck.Checkpoint, said int) int {
	moved, at := ckptcheck.SetAside(ck, before)
	if len(moved) == 0 {
		return said
	}
	names := make([]string, len(moved))
	for i, c := range moved {
		names[i] = c.Name
	}
	resumed := max(int(at), 0)
	fmt.Fprintf(stderr, "nmflow %s: note: checkpoint %s in %s could not be read (its save was cut short?) and was moved aside into %s; the run resumed from step %d, not %d\n",
		cmd, strings.Join(names, ", "), ck, filepath.Join(ck, "corrupt"), resumed, said)
	return resumed
}
