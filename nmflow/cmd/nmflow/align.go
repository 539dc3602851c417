package main

import (
	"fmt"
	"io"

	"github.com/nmflow/nmflow/nmflow/align"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
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
	force := fs.Bool("force", false, "replace an existing --out that is not a zoo")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out must name the aligned file to write (the input is never overwritten)")
	}
	if *rounds < 0 {
		return fmt.Errorf("--rounds must be ≥ 0, got %d", *rounds)
	}
	if err := checkOutput("--out", *out, false, outpath.In("--zoo", *zooPath)); err != nil {
		return err
	}
	if err := checkReplace("--out", *out, traj.KindZoo, *force, nil); err != nil {
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
