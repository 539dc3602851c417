package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// Two shards trained separately and merged give the single-machine zoo's weights bit for bit
// (all matmuls of this small net stay on one kernel variant) and its metrics to rounding.
func TestZooShardAndMerge(t *testing.T) {
	dir := t.TempDir()
	base := []string{"zoo", "--dataset", "mnist", "--arch", "mlp", "--hidden", "8", "--runs", "3", "--epochs", "1",
		"--train-size", "256", "--test-size", "100", "--batch", "64", "--checkpoints", "2", "--seed", "5"}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	full := filepath.Join(dir, "full.safetensors")
	if code, _, errs := runCLI(t, with("--out", full)...); code != 0 {
		t.Fatalf("zoo: %s", errs)
	}
	var shards []string
	for _, s := range []string{"0/2", "1/2"} {
		out := filepath.Join(dir, "shard-"+s[:1]+".safetensors")
		if code, _, errs := runCLI(t, with("--shard", s, "--out", out)...); code != 0 {
			t.Fatalf("zoo --shard %s: %s", s, errs)
		}
		shards = append(shards, out)
	}
	merged := filepath.Join(dir, "merged.safetensors")
	code, out, errs := runCLI(t, "zoo", "merge", "--out", merged, shards[1], shards[0])
	if code != 0 || !strings.Contains(out, "3 runs") {
		t.Fatalf("zoo merge: exit %d, %q %s", code, out, errs)
	}
	a, err := traj.ReadZoo(full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := traj.ReadZoo(merged)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Weights {
		if a.Weights[i] != b.Weights[i] {
			t.Fatalf("merged weight %d differs: %g vs %g", i, b.Weights[i], a.Weights[i])
		}
	}
	// The metrics agree to rounding only: the evaluator's shared first-layer matmul is
	// [N,784]×[784,R·8], and GoMLX's AVX-512 router picks its small or large kernel by the
	// product of all sizes (R included), which changes the summation order (docs/scale-out.md).
	for name, m := range a.Metrics {
		for i := range m {
			if d := float64(b.Metrics[name][i] - m[i]); d > 1e-5 || d < -1e-5 {
				t.Fatalf("merged metric %s[%d] differs: %g vs %g", name, i, b.Metrics[name][i], m[i])
			}
		}
	}
	if code, _, errs := runCLI(t, "zoo", "merge", "--out", filepath.Join(dir, "x.safetensors"), shards[0]); code == 0 || !strings.Contains(errs, "2-way") {
		t.Fatalf("merge of a missing shard: exit %d, %s", code, errs)
	}
	if code, _, errs := runCLI(t, with("--shard", "2/2", "--out", filepath.Join(dir, "y.safetensors"))...); code == 0 || !strings.Contains(errs, "shard") {
		t.Fatalf("bad --shard accepted: %s", errs)
	}
}
