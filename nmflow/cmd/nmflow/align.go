package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/traj"
)

func runAlign(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("align", "align --zoo zoo.safetensors --out aligned.safetensors [--checkpoint -1] [--rounds 3] [--json]", stderr)
	zooPath := fs.String("zoo", "zoo.safetensors", "trajectory file written by 'nmflow zoo'")
	out := fs.String("out", "", "aligned trajectory file to write (never the input)")
	ckpt := fs.Int("checkpoint", -1, "checkpoint the permutations are chosen on (negative counts from the end)")
	rounds := fs.Int("rounds", 3, "rounds of re-matching towards the mean of the aligned runs (0: align to run --reference only)")
	ref := fs.Int("reference", 0, "run matched to in the first pass")
	seed := fs.Uint64("seed", 0, "seed of the order in which layers are visited")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out must name the aligned file to write (the input is never overwritten)")
	}
	if same, _ := samePath(*zooPath, *out); same {
		return fmt.Errorf("--out %s is the input zoo: choose another file, the input is never overwritten", *out)
	}
	if *rounds < 0 {
		return fmt.Errorf("--rounds must be ≥ 0, got %d", *rounds)
	}
	if err := checkWritable(*out); err != nil {
		return err
	}
	z, err := traj.ReadZoo(*zooPath)
	if err != nil {
		return err
	}
	r := *rounds
	if r == 0 {
		r = align.NoRounds
	}
	az, rep, err := align.Zoo(z, align.Options{Reference: *ref, Checkpoint: *ckpt, Rounds: r, Seed: *seed})
	if err != nil {
		return err
	}
	if err := traj.WriteZoo(*out, az); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"out": *out, "zoo": *zooPath, "aligned": az.Meta.Aligned,
			"moved": rep.Moved, "rounds": rep.Rounds, "dist_to_mean_before": rep.DistBefore, "dist_to_mean_after": rep.DistAfter})
	}
	fmt.Fprintf(stdout, "wrote %s: %d runs aligned (weight matching, %.0f%% of hidden units moved); mean distance to the mean net %.3f → %.3f\n",
		*out, az.Runs, 100*rep.Moved, rep.DistBefore, rep.DistAfter)
	return nil
}

// samePath reports whether a and b name the same file (after resolving links), or would.
func samePath(a, b string) (bool, error) {
	ra, err := resolve(a)
	if err != nil {
		return false, err
	}
	rb, err := resolve(b)
	if err != nil {
		return false, err
	}
	return ra == rb, nil
}

func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return abs, nil
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}
