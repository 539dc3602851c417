package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/internal/membudget"
	"github.com/nmflow/nmflow/nmflow/internal/outpath"
	"github.com/nmflow/nmflow/nmflow/traj"
	"github.com/nmflow/nmflow/nmflow/zoo"
)

// checkZooFlags refuses zoo settings that zoo.Config would otherwise replace by defaults (batch 0
// becomes 128) or that make no sense; shared by zoo and tasks.
func checkZooFlags(fs *flag.FlagSet) error {
	if err := positive(fs, "runs", "epochs", "checkpoints", "batch", "hidden"); err != nil {
		return err
	}
	get := func(name string) float64 {
		if f := fs.Lookup(name); f != nil {
			switch v := f.Value.(flag.Getter).Get().(type) {
			case float64:
				return v
			case int:
				return float64(v)
			}
		}
		return 0
	}
	switch {
	case get("lr") < 0:
		return fmt.Errorf("--lr must be > 0 (0: the optimizer's default), got %g", get("lr"))
	case get("momentum") < 0 || get("momentum") >= 1:
		return fmt.Errorf("--momentum must be in [0,1), got %g", get("momentum"))
	case get("weight-decay") < 0:
		return fmt.Errorf("--weight-decay must be ≥ 0, got %g", get("weight-decay"))
	case get("train-size") < 0 || get("test-size") < 0:
		return fmt.Errorf("--train-size and --test-size must be ≥ 0 (0: all), got %g and %g", get("train-size"), get("test-size"))
	}
	return nil
}

// zooConfigDiffers says how an existing zoo differs from the one cfg trains (nil for a shard,
// whose recorded config is the whole zoo's).
func zooConfigDiffers(cfg zoo.Config, shard string) func(traj.Meta) string {
	if shard != "" {
		return nil
	}
	return func(m traj.Meta) string {
		full, err := cfg.Defaults()
		if err != nil {
			return ""
		}
		want, _ := json.Marshal(full)
		got := m.Extra["zoo_config"]
		if got == string(want) {
			return ""
		}
		if got == "" {
			return "imported, or trained from given weights"
		}
		return configDiff(got, string(want))
	}
}

// configDiff lists the top-level JSON fields in which two configs differ: "runs 2, now 3; ...".
func configDiff(there, now string) string {
	var a, b map[string]any
	if json.Unmarshal([]byte(there), &a) != nil || json.Unmarshal([]byte(now), &b) != nil {
		return "recorded config " + there
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		x, _ := json.Marshal(a[k])
		y, _ := json.Marshal(b[k])
		if string(x) != string(y) {
			diffs = append(diffs, fmt.Sprintf("%s %s there, %s now", k, x, y))
		}
	}
	return strings.Join(diffs, "; ")
}

// checkZooSize refuses a zoo that cannot fit in memory or on disk. Memory: per run the live
// parameters, optimizer buffers, gradients and step temporaries (≈ 8 copies of P) and the K+1
// checkpoints kept, plus a minibatch's activations through every layer. Disk: the trajectory file
// and the resume state beside it (each ≈ R·(K+1)·P floats). out "" skips the disk check.
func checkZooSize(cfg zoo.Config, exampleSize int, outFlag, out string) error {
	net, err := arch.New(cfg.Arch)
	if err != nil {
		return err
	}
	p := net.Layout().Size()
	width := exampleSize + cfg.Arch.Classes
	for _, h := range cfg.Arch.Hidden {
		width += h
	}
	batch := max(cfg.BatchSize, 1)
	need := membudget.Floats(cfg.Runs, p, cfg.Checkpoints+1+8) + membudget.Floats(cfg.Runs, batch, width, 3)
	if err := membudget.Check(fmt.Sprintf("a zoo of %d runs of %s (P=%d)", cfg.Runs, cfg.Arch, p), need, "--runs or the widths"); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	return outpath.Room(outFlag, out, membudget.Floats(cfg.Runs, cfg.Checkpoints+4, p, 2))
}

// checkSampleSize: the solver keeps the state, up to 7 stages (dopri5) and the output, each N×P;
// the file holds N×P floats.
func checkSampleSize(n, p int, out string) error {
	if err := membudget.Check(fmt.Sprintf("sampling %d nets of P=%d", n, p), membudget.Floats(n, p, 10), "--n"); err != nil {
		return err
	}
	return outpath.Room("--out", out, membudget.Floats(n, p))
}

// checkFitMemory: the velocity net (input and output layers P×W, residual blocks 2·W² each)
// with its gradients, AdamW moments, EMA and a copy (6 copies), the zoo, and a minibatch's
// activations.
func checkFitMemory(z *traj.Zoo, width, depth, batch int) error {
	p := z.Params
	netParams := 2*float64(p)*float64(width) + 2*float64(depth)*float64(width)*float64(width)
	need := 4*6*netParams + membudget.Floats(z.Runs, z.Checkpoints, p) + membudget.Floats(batch, 6*p+4*(depth+1)*width)
	return membudget.Check(fmt.Sprintf("a velocity net of width %d on P=%d", width, p), need, "--width (or --depth, --batch)")
}
