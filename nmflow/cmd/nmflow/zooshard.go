package main

import (
	"context"
	"fmt"
	"io"

	"github.com/nmflow/nmflow/nmflow/data"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// trainZoo trains the whole zoo, or only shard "i/N" of its runs when shard is set.
func trainZoo(ctx context.Context, cfg zoo.Config, shard string, ds *data.Dataset, opt zoo.Options) (*traj.Zoo, error) {
	if shard == "" {
		return zoo.Train(ctx, cfg, ds, opt)
	}
	sh, err := zoo.ParseShard(shard)
	if err != nil {
		return nil, err
	}
	return zoo.TrainShard(ctx, cfg, sh, ds, opt)
}

// runZooMerge: nmflow zoo merge --out zoo.safetensors shard0.safetensors shard1.safetensors ...
func runZooMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("zoo merge", "zoo merge [--out zoo.safetensors] [--json] SHARD.safetensors...", stderr)
	out := fs.String("out", "zoo.safetensors", "merged trajectory file")
	asJSON := fs.Bool("json", false, "print a JSON summary on stdout")
	if err := parse(fs, args, 1<<30); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("no shard files given (nmflow zoo merge --out zoo.safetensors shard-*.safetensors)")
	}
	in := make([]outpath.Input, fs.NArg())
	for i, p := range fs.Args() {
		in[i] = outpath.In("shard", p)
	}
	if err := checkOutput("--out", *out, false, in...); err != nil {
		return err
	}
	if err := checkReplace("--out", *out, traj.KindZoo, false, nil); err != nil {
		return err
	}
	var shards []*traj.Zoo
	for _, path := range fs.Args() {
		z, err := traj.ReadZoo(path)
		if err != nil {
			return err
		}
		shards = append(shards, z)
	}
	z, err := zoo.Merge(shards)
	if err != nil {
		return err
	}
	if err := traj.WriteZoo(*out, z); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"out": *out, "runs": z.Runs, "checkpoints": z.Checkpoints, "params": z.Params, "shards": len(shards)})
	}
	fmt.Fprintf(stdout, "wrote %s: %d runs × %d checkpoints × %d params from %d shards\n", *out, z.Runs, z.Checkpoints, z.Params, len(shards))
	return nil
}
